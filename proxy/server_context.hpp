// ServerContext: what all sessions of one server share: counters, the shutdown flag,
// the transaction log. Everything here is safe to use from any worker thread.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace spdlog { class logger; }

namespace mxgate {

// One counter per limit and outcome; logged at shutdown (and on SIGUSR1? no: at exit).
struct Counters {
#define MXGATE_COUNTERS(X)                                                                  \
  X(connections) X(refused_max_connections) X(refused_max_connections_per_ip)              \
  X(command_timeouts) X(data_timeouts) X(command_line_too_long) X(too_many_commands)       \
  X(too_many_errors) X(too_many_recipients) X(message_too_big) X(header_too_big)           \
  X(line_too_long) X(long_lines) X(bare_line_endings) X(starttls_injection) X(downstream_failures)       \
  X(messages_delivered) X(messages_rejected) X(messages_tempfailed) X(filter_timeouts)     \
  X(buffer_budget_exhausted) X(downstream_busy) X(session_exceptions) X(filter_errors)                     \
  X(peername_temporary_failures) X(policy_denials) X(messages_tagged)       \
  X(messages_quarantined) X(quarantine_failures) X(idle_evictions) X(stress_periods)
#define MXGATE_DECLARE(name) std::atomic<std::uint64_t> name{0};
  MXGATE_COUNTERS(MXGATE_DECLARE)
#undef MXGATE_DECLARE
  std::string summary() const;
};

struct ServerContext {
  Counters counters;
  std::atomic<bool> draining{false};
  // At least smtp.stress_threshold percent of max_connections open (server.cpp):
  // sessions then wait for commands with the stress timeout and error limit.
  std::atomic<bool> stressed{false};
  std::atomic<std::size_t> buffered_bytes{0};        // message bytes held by all sessions
  std::atomic<std::size_t> downstream_connections{0};
  std::shared_ptr<spdlog::logger> txn_log;  // one JSON line per transaction; null = off
};

}  // namespace mxgate
