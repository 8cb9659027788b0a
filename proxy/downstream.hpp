// Downstream: our SMTP client leg to the protected MX (config `downstream.*`).
//
// One Downstream per inbound transaction, as Postfix's before-queue proxy does: it
// connects at MAIL FROM, sends EHLO, STARTTLS when offered and configured (RFC 3207),
// XFORWARD or XCLIENT when offered so the MX logs the real client (Postfix's
// XFORWARD_README / XCLIENT_README), then relays MAIL, each RCPT and the message.
//
// Every failure on this leg (refused, timed out, dropped, garbled) becomes a 4xx
// reply for the client and marks the connection broken; nothing here ever makes up
// a 2xx. The downstream's own 4xx/5xx replies are returned unchanged, except 421,
// which becomes 451 with the same text: *our* client session is not closing.
#pragma once
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "filters/envelope.hpp"
#include "filters/smtp_reply.hpp"
#include "base/task.hpp"
#include "proxy/config.hpp"

// Coroutine parameters: g++ 12 mishandles both a temporary bound to a `const&`
// parameter and a by-value std::string parameter initialised from std::move (both
// crashed here). Callers pass named objects that outlive the call, by const&.

namespace mxgate {

class Stream;

struct DownstreamCaps {
  bool esmtp = false;
  bool pipelining = false;
  bool size = false;
  std::uint64_t max_size = 0;  // SIZE n; 0 = no limit given
  bool eightbitmime = false;
  bool smtputf8 = false;
  bool starttls = false;
  std::vector<std::string> xforward;  // attribute names offered, empty if not offered
  std::vector<std::string> xclient;
};

extern const SmtpReply kDownstreamUnavailable;  // 451 4.3.0, connect/greeting failures
extern const SmtpReply kDownstreamFailed;       // 451 4.3.0, dropped/timed out/garbled mid-way
extern const SmtpReply kDownstreamNoTls;        // 451 4.7.4, tls: required and not offered
extern const SmtpReply kDownstreamTlsFailed;    // 451 4.7.5, handshake failed

class Downstream {
 public:
  // `open_count`, if given, counts this connection while it exists (downstream.max_connections).
  // Shared, because a retired connection may outlive the session and even the server.
  Downstream(Executor ex, ConfigPtr cfg, std::string log_id,
             std::shared_ptr<std::atomic<std::size_t>> open_count = {});
  ~Downstream();

  // Connects and prepares the session. nullopt on success, else the reply for the
  // client (always 4xx or a relayed refusal).
  Task<std::optional<SmtpReply>> open(const Envelope& env);
  // Connects and greets only (no client forwarding): learns the downstream's SIZE.
  Task<std::optional<SmtpReply>> probe();
  // Sends one command line and returns the reply to give the client.
  Task<SmtpReply> command(const std::string& line);
  // DATA, then `prefix` + `content` dot-stuffed after 354; returns the final reply.
  // One deadline (downstream.data_timeout) covers all of it.
  Task<SmtpReply> send_data(const std::string& prefix, const std::string& content);
  // Sends QUIT in the background and lets go of the connection.
  static void retire(std::shared_ptr<Downstream> d);

  // Makes the operation in flight fail now (shutdown deadline): the client gets 4xx.
  void cancel();
  bool broken() const { return broken_; }
  bool tls() const;
  const DownstreamCaps& caps() const { return caps_; }
  // The downstream's raw reply behind the last result, for logs.
  const std::string& last_reply() const { return last_reply_; }

 private:
  struct Read {
    bool ok = false;
    int code = 0;
    std::vector<std::string> lines;
  };
  Task<Read> read_reply(std::chrono::milliseconds timeout);
  Task<bool> send_message(const std::string& prefix, const std::string& content,
                          std::chrono::steady_clock::time_point deadline, bool then_quit);
  Task<bool> send(const std::string& data, std::chrono::milliseconds timeout,
                  const std::string* then = nullptr);
  Task<Read> exchange(const std::string& line, std::chrono::milliseconds timeout);
  Task<std::optional<SmtpReply>> connect_once(const Envelope& env, bool allow_tls);
  Task<bool> ehlo();
  Task<std::optional<SmtpReply>> forward_client(const Envelope& env);
  SmtpReply relay(const Read& r);
  void fail(const char* what);

  Executor ex_;
  ConfigPtr cfg_;
  std::string log_id_;
  std::unique_ptr<Stream> stream_;
  std::string inbuf_;
  DownstreamCaps caps_;
  bool broken_ = false;
  bool skip_forward_ = false;
  bool quit_sent_ = false;
  std::shared_ptr<std::atomic<std::size_t>> open_count_;  // QUIT went out pipelined behind the message
  std::string last_reply_;
};

// Shared between sessions: what the downstream said in its last EHLO, so our own
// EHLO advertises the smaller SIZE of the two, and 8BITMIME/SMTPUTF8 only if the MX
// takes them too (RFC 6152 3, RFC 6531 3.4: a relay may not accept what the next
// hop refuses). Until the MX has been seen, we advertise our own.
struct DownstreamHints {
  std::atomic<bool> known{false};
  std::atomic<std::uint64_t> size{0};  // 0: no limit announced
  std::atomic<bool> eightbitmime{true};
  std::atomic<bool> smtputf8{true};
};
DownstreamHints& downstream_hints();

}  // namespace mxgate
