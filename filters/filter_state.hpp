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
#include <string>

#include "filters/auth/auth_results.hpp"
#include "filters/auth/from_authors.hpp"
#include "filters/dns/lookup.hpp"
#include "filters/mime/mime.hpp"
#include "filters/mime/mime_view.hpp"

namespace mxgate {

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
};

}  // namespace mxgate
