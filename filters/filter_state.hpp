// FilterState: what the session lends its filters and what filters hand to each
// other, for one session (Envoy's per-stream filter state).
//
// Filters are shared by all sessions and keep no per-session members. What one
// filter learns for a later stage or a later filter (SPF's result, read by DMARC at
// end of data) is written here. The session owns it, reaches it to every hook
// through Envelope::state, and clears the transaction part at each new MAIL FROM.
// All hooks of a session run on its worker thread, so no locking is needed.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "filters/auth/auth_results.hpp"
#include "filters/auth/from_authors.hpp"
#include "filters/dns/lookup.hpp"
#include "filters/mime/mime.hpp"
#include "filters/mime/mime_view.hpp"

namespace mxgate {

// The learning classifier's answer for transaction `txn`'s message (filters/bayes),
// read by the content filter: its check_bayes tests (BAYES_00 ... BAYES_999) and
// its choice of score set (SpamAssassin scores with set 2 or 3 once Bayes can
// answer, whether or not it could for this message).
struct BayesAnswer {
  std::string txn;                    // the transaction it belongs to
  bool available = false;             // learned at least min_spam and min_ham messages
  std::optional<double> probability;  // spam probability; none: no usable token, or unavailable
  std::string detail;                 // for logs and check: "p=0.9981 tokens=57/312 ..."
  // With FilterState::explain: the tokens that counted most, each with its
  // probability, the spammiest and the hammiest first (mxgate check).
  std::vector<std::pair<std::string, double>> evidence;
};

struct FilterState {
  std::shared_ptr<DnsLookup> dns;  // this worker's resolver; null: no DNS (auth results temperror)
  std::string hostname;             // ours (config `hostname`): SPF's %{r}, Received-SPF's receiver
  AuthResults auth;
  // How messages are parsed (the chain's: the mime filter's limits, or defaults),
  // and the MIME view of transaction `mime_txn`'s message, parsed once by whichever
  // filter asks first (filters/mime/mime_view.hpp).
  std::shared_ptr<const MimeSettings> mime_settings;
  // The authors (From) of transaction `authors_txn`'s message, parsed once
  // (filters/auth/from_authors.hpp) for DMARC, policy and the log.
  std::string authors_txn;
  std::shared_ptr<const FromAuthors> authors;
  std::string mime_txn;
  std::shared_ptr<const MimeView> mime;
  BayesAnswer bayes;
  // Set by mxgate check: filters keep what explains their verdict beyond the
  // symbols (the classifier's telling tokens); off in the server.
  bool explain = false;
};

}  // namespace mxgate
