// Verdict: what one filter hook says about the current SMTP stage.
//
// A filter never touches a socket and never writes SMTP: it returns a Verdict, and
// proxy/session.cpp turns the chain's combined verdict into a reply.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "filters/message.hpp"
#include "filters/smtp_reply.hpp"

namespace mxgate {

enum class Action { Continue, Accept, Reject, Tempfail, Quarantine };
const char* action_name(Action a);

// Evidence for policy/: operators write policies against the name, so never rename one.
struct Symbol {
  Symbol() = default;
  Symbol(std::string n, double s, std::string d = {}, std::string w = {})
      : name(std::move(n)), score(s), detail(std::move(d)), where(std::move(w)) {}
  std::string name;    // UPPER_SNAKE, e.g. "SPF_FAIL"
  double score = 0.0;
  std::string detail;  // short, for logs: "ip=192.0.2.7" (content rules: their `describe`)
  std::string where;   // content rules: where in the message it matched
};

struct Verdict {
  Action action = Action::Continue;
  std::optional<SmtpReply> reply;        // required for Reject (5xx) and Tempfail (4xx)
  std::vector<Symbol> symbols;
  std::vector<HeaderField> add_headers;  // added only if the message is delivered or stored

  static Verdict next() { return {}; }
  static Verdict accept();
  // Throw std::invalid_argument if the reply is not 5xx (reject) / 4xx (tempfail).
  static Verdict reject(SmtpReply r);
  static Verdict tempfail(SmtpReply r);
  static Verdict quarantine(std::string why);
  Verdict& with(Symbol s) {
    symbols.push_back(std::move(s));
    return *this;
  }
};

}  // namespace mxgate
