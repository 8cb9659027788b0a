// Limits: every bound a client can run into, as named config with a default.
// Each is enforced in exactly one place in session.cpp or server.cpp, and a counter
// goes up each time it fires. Numbers fixed by an RFC are constants, not limits.
#pragma once
#include <chrono>
#include <cstddef>
#include <string>

namespace mxgate {

using namespace std::chrono_literals;

struct Limits {                                          // key                          reply when hit
  std::chrono::milliseconds command_timeout{300s};       // smtp.command_timeout         421 4.4.2
  std::chrono::milliseconds data_timeout{300s};          // smtp.data_timeout            421 4.4.2
  std::chrono::milliseconds filter_timeout{20s};         // smtp.filter_timeout          451 4.3.0
  std::size_t max_command_line = 2048;                   // smtp.max_command_line        500 5.5.2
  std::size_t max_line_length = 1000;                    // smtp.max_line_length         550 5.6.0 (after DATA, with smtp.long_lines: reject)
  std::size_t max_message_bytes = 25 * 1024 * 1024;      // smtp.max_message_bytes       552 5.3.4
  std::size_t max_header_bytes = 256 * 1024;             // smtp.max_header_bytes        552 5.3.4
  std::size_t max_recipients = 1000;                     // smtp.max_recipients          452 4.5.3
  std::size_t max_commands = 10000;                      // smtp.max_commands            421 4.7.0
  std::size_t max_errors = 20;                           // smtp.max_errors              421 4.7.0
  std::size_t max_connections = 10000;                   // smtp.max_connections         421 4.7.0 (oldest idle session first)
  std::size_t max_connections_per_ip = 50;               // smtp.max_connections_per_ip  421 4.7.0
  std::size_t max_buffered_bytes = 1024ull * 1024 * 1024; // smtp.max_buffered_bytes   452/451 4.3.1
  // DATA must average this many bytes a second: each read earns bytes/rate seconds
  // of further budget, capped at data_timeout (Postfix's smtpd_min_data_rate).
  std::size_t min_data_rate = 500;                       // smtp.min_data_rate           421 4.4.2
  // Stress (Postfix's ${stress?...}): with at least stress_threshold percent of
  // max_connections open, new waits use the shorter timeout and error limit.
  std::size_t stress_threshold = 80;                     // smtp.stress_threshold (percent)
  std::chrono::milliseconds stress_command_timeout{10s}; // smtp.stress_command_timeout  421 4.4.2
  std::size_t stress_max_errors = 1;                     // smtp.stress_max_errors       421 4.7.0
  std::size_t max_downstream_connections = 0;            // downstream.max_connections   451 4.3.2 (0: no limit)
};

// RFC 5321 4.5.3.1.1: 64 octets of local part, 4.5.3.1.2: 255 of domain,
// 4.5.3.1.3: 256 of path including the angle brackets.
constexpr std::size_t kMaxLocalPart = 64;
constexpr std::size_t kMaxDomain = 255;
constexpr std::size_t kMaxPath = 256;
// RFC 5321 4.5.3.1.5: a reply line is at most 512 octets; longer downstream lines are cut.
constexpr std::size_t kMaxReplyLine = 512;
// A downstream reply longer than this many lines is treated as garbled.
constexpr std::size_t kMaxReplyLines = 100;

// Fixed times, not limits a client can run into:
// the last reply before we close (421, 221) gets this long to be written, so a
// client that does not read cannot keep the session; the downstream's QUIT likewise.
constexpr std::chrono::milliseconds kLastReplyTimeout{5000};
// After the shutdown deadline, sessions still open get this long to answer 421 and
// close before the server stops anyway.
constexpr std::chrono::milliseconds kAbortGrace{2000};
// How often shutdown looks at the sessions still open.
constexpr std::chrono::milliseconds kShutdownPoll{50};
// At max_connections a new client closes the session that has waited longest for a
// command outside a transaction, if it has waited at least this long: under load an
// idle slot is worth less than a client with mail to send. A client that just
// greeted is not thrown out by the next connection.
constexpr std::chrono::milliseconds kMinIdleToEvict{1000};
// File descriptors kept free of sessions (listeners, DNS, logs, stores), and each
// session may hold two (its client and its downstream).
constexpr std::size_t kReservedFds = 64;
// After a failed accept() (EMFILE and friends), before the next one: no busy loop.
constexpr std::chrono::milliseconds kAcceptBackoff{100};
// How often quarantine.retention is applied (and once at start).
constexpr std::chrono::hours kRetentionInterval{1};

// The shutdown reply, the one place it is built (a session's, a refused connection's).
inline std::string shutting_down_text(const std::string& hostname) {
  return hostname + " Service shutting down, try again later";
}

}  // namespace mxgate
