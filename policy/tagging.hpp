// tagging: the SpamAssassin-compatible headers a forwarded message carries, and the
// edits to its header section (forged copies of those headers removed, Subject
// prefixed), so Sieve and procmail rules written for SpamAssassin keep working.
//
//   X-Spam-Flag: YES                                              (tagged mail only)
//   X-Spam-Status: Yes, score=7.3 required=5.0 tests=RULE_A,RULE_B   (No, ... otherwise)
//   X-Spam-Level: *******                                         (one star per point, up to 50)
//   X-Spam-Score: 7.3
// Names come from policy.tagging; `headers: spam` adds them to tagged mail only, `off`
// never. Headers of these names that arrive from outside are always removed: a
// sender must not be able to pre-tag its own mail as clean.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/message.hpp"
#include "filters/verdict.hpp"
#include "policy/policy_config.hpp"

namespace mxgate {

// The headers to add (possibly none), in the order above.
std::vector<HeaderField> spam_headers(const TaggingConfig& t, bool spam, double score, std::optional<double> required,
                                      const std::vector<Symbol>& symbols);

struct HeaderEdit {
  std::vector<std::string> remove;              // field names to drop (case-insensitive)
  std::string remove_ar_of;                     // drop Authentication-Results claiming this authserv-id
  std::string subject_prefix;                   // put before Subject ("" = no change); not doubled
  std::size_t removed = 0;                      // out: how many fields were dropped
  std::size_t removed_ar = 0;                   // out: of which Authentication-Results
};

// The message data with the edit applied, byte for byte elsewhere (other fields may
// be DKIM-signed); nullopt when nothing changes. A header section that is not well
// formed (a line that is neither a field nor a continuation, e.g. one starting with
// white space right at the top, which would fold into the headers we prepend) gets
// the empty line inserted where our parse ended it, so the downstream sees the same
// header section we checked — what comes after is body, for it as for us.
std::optional<std::string> edit_headers(const Message& msg, HeaderEdit& edit);

}  // namespace mxgate
