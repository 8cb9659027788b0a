// `mxgate check FILE.eml`: runs the configured filter chain offline on one message,
// stage by stage as a live session would (connect, HELO, MAIL, each RCPT, end of
// data), and prints the verdict with every symbol and score, each authentication
// result with its reason, and the Authentication-Results header a live session would
// add. DNS goes to `--dns HOST:PORT` if given, else to the config's dns.nameservers.
#pragma once
#include <string>
#include <vector>

#include "filters/chain.hpp"
#include "policy/outcome.hpp"
#include "proxy/config.hpp"

namespace mxgate {

struct CheckOptions {
  std::string file;            // "-" for standard input
  std::string ip = "127.0.0.1";
  std::string helo = "localhost";
  std::string from;            // envelope sender; default: the From header's address
  std::vector<std::string> rcpts;
  bool json = false;
  std::vector<std::string> dns;  // --dns host:port, overrides dns.nameservers
  bool no_dns = false;           // no resolver at all (mxgate corpus without --dns)
};

// The filter chain stage by stage, as a session runs it: what each stage before the
// data said is evidence for the message (as in the session), the last stage's result
// is `chain`.
struct ChainRun {
  Stage stage = Stage::EndOfData;
  ChainResult chain;
  Evidence earlier;             // every stage before the last one that ran
  std::vector<Symbol> symbols;  // every stage's, in order
  bool refused_early = false;
};

// One message through the chain and the server's outcome, as `check` prints it.
struct CheckRun {
  std::shared_ptr<Envelope> env;  // env->state->auth holds the SPF/DKIM/DMARC results
  ChainRun run;
  Outcome out;                    // out.decision: verdict, score, reply, reason
  std::vector<Symbol> symbols;    // every symbol that counted
  std::vector<std::pair<std::string, Refusal>> refused_rcpts;
};
// A message file as the server would have received it: a leading mbox "From " line
// skipped, every line ending in CRLF.
std::shared_ptr<const Message> message_from_file(std::string_view raw);

// `raw` is the file as read (LF or CRLF; a leading mbox "From " line is skipped).
// Thread-safe: each call has its own event loop; the config is shared read-only.
CheckRun check_run(const ConfigPtr& cfg, const std::string& raw, const CheckOptions& opt);

// Returns the process exit status: 0 checked (whatever the verdict), 1 unreadable input.
int run_check(const ConfigPtr& cfg, const CheckOptions& opt);

}  // namespace mxgate
