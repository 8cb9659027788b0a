// Session: one inbound SMTP connection, from greeting to QUIT (RFC 5321), as one
// coroutine on one worker thread's io_context. It reads a command, checks the state, runs the filter
// stage, asks the downstream, and replies; see docs/architecture.md for the path of
// a message. It never answers 250 to a message the downstream did not accept.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "filters/chain.hpp"
#include "filters/filter_state.hpp"
#include "policy/policy.hpp"
#include "proxy/txn_log.hpp"
#include "base/task.hpp"
#include "proxy/config.hpp"
#include "proxy/server_context.hpp"
#include "proxy/smtp_command.hpp"

namespace mxgate {

class BufferCharge;
struct Outcome;
class Downstream;
class Stream;

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `remote` is the client's address as the listener saw it.
  // `dns` is the resolver of the worker this session runs on (null: filters get no DNS).
  Session(boost::asio::ip::tcp::socket sock, const boost::asio::ip::tcp::endpoint& remote, ConfigPtr cfg,
          std::shared_ptr<ServerContext> ctx, std::shared_ptr<DnsLookup> dns = nullptr);
  ~Session();

  // Runs the whole session. Never throws.
  Task<void> run();
  // From any thread: at the next idle point, answer 421 4.3.2 and close.
  void shutdown();
  // From any thread: close now (shutdown deadline passed).
  void abort();
  // From any thread: if it still waits for a command outside a transaction, answer
  // 421 4.7.0 and close (the connection limit is reached: Server::admit).
  void evict();
  // Since when (steady clock ticks) it has waited for a command outside a
  // transaction; 0 when it is not waiting so. Read from any thread.
  std::int64_t idle_since() const { return idle_since_.load(std::memory_order_relaxed); }
  const std::string& id() const { return env_.session_id; }

 private:
  enum class State { Connected, Greeted, InMail, HaveRcpt };
  using Clock = TxnLog::Clock;

  Task<void> serve();
  struct Input {
    enum Kind { Command, Refused, Closed } kind;
    std::string line;  // for Command
  };
  Task<Input> read_command();
  Task<void> handle(const Command& cmd);
  Task<void> handle_helo(const Command& cmd, bool ehlo);
  Task<void> handle_mail(const Command& cmd);
  Task<void> handle_rcpt(const Command& cmd);
  Task<void> handle_data(const Command& cmd);
  Task<std::shared_ptr<const Message>> receive_message(BufferCharge& charge);
  Task<void> finish_message(const std::shared_ptr<const Message>& msg);  // msg: the caller's, alive until done
  Task<void> handle_starttls(const Command& cmd);
  // Stores a message the policy quarantined (quarantine.dir), then answers 250.
  Task<void> quarantine_message(const Outcome& out, const std::shared_ptr<const Message>& msg);
  void tell_outcome(const Decision& d, Action final_action, const std::shared_ptr<const Message>& msg);
  Task<void> handle_xclient(const Command& cmd);
  Task<bool> run_connect_stage();

  void reply(const SmtpReply& r);   // queues; flushed before we wait for input
  SmtpReply shutting_down() const;  // 421 4.3.2: the server is stopping
  SmtpReply timed_out_reply() const;  // 421 4.4.2: smtp.command_timeout / data_timeout
  void error(const SmtpReply& r);   // queues and counts an error (smtp.max_errors)
  // The limits in force now: the stress values while the server is under stress.
  std::chrono::milliseconds command_timeout() const;
  std::size_t max_errors() const;
  Task<bool> flush();
  Task<void> close_with(const SmtpReply& r);  // last reply, then close
  Task<void> close_too_many_errors();         // 421 4.7.0, then close
  // Our own refusal from a chain result, if the stage did not continue.
  std::optional<SmtpReply> refusal(const ChainResult& r);
  void end_transaction(const char* outcome, const std::string& reply_text);
  void reset_transaction();
  std::shared_ptr<const Envelope> snapshot() const;
  bool in_transaction() const { return state_ == State::InMail || state_ == State::HaveRcpt; }
  std::string ehlo_keywords() const;
  void log_transaction(const char* verdict, const std::string& reply_text);
  Evidence session_evidence() const;
  void note_symbols(const ChainResult& r);
  // Runs one stage's filters, keeps what they said in `into` (a session stage's
  // evidence, or txn_.evidence, which is also logged); our refusal if it did not continue.
  Task<std::optional<SmtpReply>> run_stage(Stage stage, Evidence& into,
                                           const std::shared_ptr<const Mailbox>& rcpt);
  Task<bool> open_downstream();
  void count_filter_trouble(const ChainResult& r);  // filter_timeouts and filter_errors

  ConfigPtr cfg_;
  std::shared_ptr<ServerContext> ctx_;
  std::unique_ptr<Stream> stream_;
  Envelope env_;
  State state_ = State::Connected;
  std::string inbuf_;
  CommandLineReader lines_{cfg_->limits.max_command_line};
  std::string outbuf_;
  bool closing_ = false;
  bool idle_ = false;  // waiting for a command outside a transaction
  std::atomic<std::int64_t> idle_since_{0};  // see idle_since()
  bool evicted_ = false;
  std::chrono::steady_clock::time_point command_deadline_{};  // for the command line being read
  bool new_wait_ = true;  // the next wait is for a new command line: a fresh deadline
  bool xclient_helo_ = false;
  bool aborting_ = false;  // the shutdown deadline passed: finish with 421 4.3.2 now  // HELO came from XCLIENT: later EHLOs do not replace it
  std::size_t commands_ = 0;
  std::size_t errors_ = 0;
  std::size_t txn_count_ = 0;
  std::shared_ptr<Downstream> down_;

  TxnLog txn_;  // per transaction, for the decision and the JSON log line
  // What the connect and HELO stages said, for every message of the session; each
  // greeting replaces helo_evidence_, a new session (XCLIENT) both.
  Evidence connect_evidence_;
  Evidence helo_evidence_;
};

}  // namespace mxgate
