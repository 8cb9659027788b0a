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
#include "filters/dns/lookup.hpp"
#include "filters/mime/mime.hpp"

namespace mxgate {

struct FilterState {
  std::shared_ptr<DnsLookup> dns;  // this worker's resolver; null: no DNS (auth results temperror)
  std::string hostname;             // ours (config `hostname`): SPF's %{r}, Received-SPF's receiver
  AuthResults auth;
  // The MIME view of transaction `mime_txn`'s message, parsed once by whichever of
  // the mime and content filters runs first at end of data.
  std::string mime_txn;
  std::shared_ptr<const MimeView> mime;
};

}  // namespace mxgate
