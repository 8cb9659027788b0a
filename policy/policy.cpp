#include "policy/policy.hpp"

namespace mxgate {

const SmtpReply kQuarantineUnavailable{451, "4.3.0",
                                       "Message held for review but no quarantine is configured; try again later"};

double total_score(const std::vector<Symbol>& symbols) {
  double s = 0.0;
  for (const auto& sym : symbols) s += sym.score;
  return s;
}

void Evidence::add(const ChainResult& r) {
  symbols.insert(symbols.end(), r.symbols.begin(), r.symbols.end());
  add_headers.insert(add_headers.end(), r.add_headers.begin(), r.add_headers.end());
  if (r.action == Action::Quarantine) quarantine_requested = true;
}

Decision decide(const ChainResult& end_of_data, const Evidence& earlier, bool quarantine_available) {
  ChainResult all = end_of_data;
  all.symbols = earlier.symbols;
  all.symbols.insert(all.symbols.end(), end_of_data.symbols.begin(), end_of_data.symbols.end());
  all.add_headers = earlier.add_headers;
  all.add_headers.insert(all.add_headers.end(), end_of_data.add_headers.begin(), end_of_data.add_headers.end());
  if (earlier.quarantine_requested && all.action == Action::Continue) all.action = Action::Quarantine;
  return decide(all, quarantine_available);
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
