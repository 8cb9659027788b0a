#include "policy/policy.hpp"

namespace mxgate {

const SmtpReply kQuarantineUnavailable{451, "4.3.0",
                                       "Message held for review but no quarantine is configured; try again later"};

double total_score(const std::vector<Symbol>& symbols) {
  double s = 0.0;
  for (const auto& sym : symbols) s += sym.score;
  return s;
}

Decision decide(const ChainResult& result, bool quarantine_available) {
  Decision d;
  d.score = total_score(result.symbols);
  d.add_headers = result.add_headers;
  d.reason = result.decided_by;
  switch (result.action) {
    case Action::Continue:
    case Action::Accept:
      d.action = Action::Accept;
      break;
    case Action::Reject:
    case Action::Tempfail:
      d.action = result.action;
      d.reply = result.reply;
      break;
    case Action::Quarantine:
      if (quarantine_available) {
        d.action = Action::Quarantine;
      } else {
        d.action = Action::Tempfail;
        d.reply = kQuarantineUnavailable;
        d.reason = result.decided_by + " asked for quarantine; none configured";
      }
      break;
  }
  return d;
}

}  // namespace mxgate
