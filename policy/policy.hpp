// policy: turns the end-of-data chain result into what happens to the message.
//
// Today this is the minimal, safe core: the chain's action stands; a Quarantine
// request becomes a 451 tempfail while no quarantine store is configured, because a
// client may hear 250 only after the downstream said 250 or the quarantine copy is
// on disk. Score thresholds, tagging and the quarantine store build on this.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "filters/chain.hpp"

namespace mxgate {

struct Decision {
  Action action = Action::Accept;        // Accept (forward), Reject, Tempfail, Quarantine
  std::optional<SmtpReply> reply;        // our own reply for Reject/Tempfail
  std::vector<HeaderField> add_headers;  // to prepend when forwarding
  double score = 0.0;                    // sum of symbol scores
  std::string reason;                    // for the log: which filter or rule decided
};

extern const SmtpReply kQuarantineUnavailable;  // 451 4.3.0

// What the filters said before end of data: at connect and HELO (for the whole
// session) and at MAIL and each RCPT (for this transaction). It all counts for the
// message: a header added at MAIL FROM (say, Received-SPF) goes on the message too.
struct Evidence {
  std::vector<Symbol> symbols;
  std::vector<HeaderField> add_headers;
  bool quarantine_requested = false;  // a filter asked for quarantine before the data
  void add(const ChainResult& r);
};

double total_score(const std::vector<Symbol>& symbols);
// `end_of_data` is the last stage's chain result; `earlier` everything before it.
// Symbols and headers come out in the order the filters gave them.
Decision decide(const ChainResult& end_of_data, const Evidence& earlier, bool quarantine_available);
Decision decide(const ChainResult& result, bool quarantine_available);

}  // namespace mxgate
