// `mxgate check FILE.eml`: runs the configured filter chain offline on one message,
// stage by stage as a live session would (connect, HELO, MAIL, each RCPT, end of
// data), and prints the verdict with every symbol and score, each authentication
// result with its reason, and the Authentication-Results header a live session would
// add. DNS goes to `--dns HOST:PORT` if given, else to the config's dns.nameservers.
#pragma once
#include <string>
#include <vector>

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
};

// Returns the process exit status: 0 checked (whatever the verdict), 1 unreadable input.
int run_check(const ConfigPtr& cfg, const CheckOptions& opt);

}  // namespace mxgate
