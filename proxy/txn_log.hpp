// The transaction log: one JSON line per transaction (docs/logging.md), with enough
// of the message and the decision to answer "why?" on its own. TxnLog is what a
// session gathers while the transaction runs; transaction_json() writes the line.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "filters/envelope.hpp"
#include "policy/policy.hpp"

namespace mxgate {

struct TxnLog {
  using Clock = std::chrono::steady_clock;
  Clock::time_point start;
  std::vector<Symbol> symbols;            // every stage of the transaction, for the log
  Evidence evidence;                      // MAIL and RCPT stages, for the decision
  std::vector<std::pair<std::string, std::string>> refused_rcpts;  // rcpt, reply
  std::size_t rcpt_attempts = 0;
  std::size_t size = 0;
  std::size_t long_lines = 0;             // text lines over smtp.max_line_length, kept
  std::string decided_by;
  std::optional<Refusal> denied;          // policy deny held for RCPT (policy.delay_reject)
  std::string quarantine_id;
  std::string header_from, subject, message_id;  // of the message, once it is in
  std::string auth_results;                       // our Authentication-Results value
  std::optional<double> required;                 // the deciding policy's tag threshold
  double score = 0;
  std::string downstream_reply;
  long long mail_ms = 0, rcpt_ms = 0, data_ms = 0, filter_ms = 0, downstream_ms = 0;
  bool logged = false;
};

// A session id like a Postfix queue id ("64Y1W75S9N"); a transaction's id is it plus ".N".
std::string make_session_id();

// Milliseconds since `t`.
long long ms_since(TxnLog::Clock::time_point t);

// The log line. `session_symbols`: what the connect and HELO stages said, logged
// before the transaction's own.
std::string transaction_json(const Envelope& env, const TxnLog& t, const std::vector<Symbol>& session_symbols,
                             std::string_view verdict, std::string_view reply);

}  // namespace mxgate
