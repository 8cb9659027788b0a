// Session: the inbound SMTP conversation (RFC 5321, with PIPELINING, SIZE, 8BITMIME,
// SMTPUTF8, STARTTLS and XCLIENT): one handler per command, each the same shape —
// check the state, run the stage's filters and policy checks, ask the MX, reply.
// What it stands on (reply queue, closing, stage bookkeeping, the transaction log)
// is session_support.cpp; the message from DATA's end to the final reply is
// session_message.cpp.
#include "proxy/session.hpp"

#include <boost/asio/ssl/context.hpp>
#include <spdlog/spdlog.h>

#include "base/text.hpp"
#include "filters/dns/reverse.hpp"
#include "proxy/data_reader.hpp"
#include "proxy/downstream.hpp"
#include "proxy/replies.hpp"
#include "proxy/stream.hpp"
#include "proxy/xclient.hpp"

namespace mxgate {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
// The recipient argument of stages that have none: a named object, never a temporary
// bound to a coroutine's reference parameter (g++ 12).
const std::shared_ptr<const Mailbox> kNoRcpt;
}  // namespace

Task<bool> Session::run_connect_stage() {
  if (!cfg_->policy->delay_reject) {
    if (auto d = check_client(*cfg_->policy, env_.client)) {
      ctx_->counters.policy_denials++;
      // RFC 5321 3.1: a refusal instead of the greeting is 554.
      const SmtpReply greeting_refusal = d->reply.with_code(554);
      spdlog::info("{} refused at connect from {}: {} ({})", env_.session_id, env_.client.ip,
                   greeting_refusal.str(), d->rule);
      co_await close_with(greeting_refusal);
      co_return false;
    }
  }
  // A new session (or XCLIENT's restart of it): nothing said before counts.
  connect_evidence_ = {};
  helo_evidence_ = {};
  if (auto r = co_await run_stage(Stage::Connect, connect_evidence_, kNoRcpt)) {
    // RFC 5321 3.1/4.3.2: the only refusals allowed instead of the greeting are 554
    // and 421; keep the filter's enhanced code and text.
    const SmtpReply greeting_refusal = r->with_code(r->permanent() ? 554 : 421);
    spdlog::info("{} refused at connect from {}: {}", env_.session_id, env_.client.ip,
                 greeting_refusal.str());
    co_await close_with(greeting_refusal);
    co_return false;
  }
  co_return true;
}

Task<void> Session::serve() {
  ctx_->counters.connections++;
  // Like Postfix's smtpd: the client's name is known before the greeting, so that
  // connect filters, logs and XFORWARD/XCLIENT see it; only a forward-confirmed
  // name counts, anything else is "unknown".
  if (cfg_->peername_lookup && env_.state->dns) {
    auto dns = env_.state->dns;
    ClientName n = co_await lookup_client_name(*dns, env_.client.ip);
    if (!n.verified.empty()) env_.client.name = n.verified;
    else if (n.temporary) ctx_->counters.peername_temporary_failures++;
  }
  spdlog::info("{} connect from {}[{}]:{}", env_.session_id, env_.client.name, env_.client.ip, env_.client.port);
  if (ctx_->draining) {
    const SmtpReply bye = shutting_down();
    co_await close_with(bye);
    co_return;
  }
  if (!co_await run_connect_stage()) co_return;
  const SmtpReply greeting{220, "", cfg_->hostname + " " + cfg_->banner};
  reply(greeting);
  while (!closing_) {
    const Input in = co_await read_command();
    if (in.kind == Input::Closed) break;
    if (in.kind == Input::Command) {
      if (++commands_ > cfg_->limits.max_commands) {
        ctx_->counters.too_many_commands++;
        const SmtpReply r{421, "4.7.0", cfg_->hostname + " Error: too many commands"};
        co_await close_with(r);
        break;
      }
      const Command cmd = parse_command(in.line);
      co_await handle(cmd);
    }
    // smtp.max_errors: the one place it is enforced, after every command and every
    // line refused unread; the 421 follows the error that reached it at once.
    if (!closing_ && errors_ >= max_errors()) co_await close_too_many_errors();
  }
  if (!outbuf_.empty() && stream_->is_open()) co_await flush();
}

// The next command line without its line end; or a line refused unread (too long,
// control bytes: the error is queued); or Closed when the session is over (client
// gone, timeout or shutdown: the last reply has been sent).
Task<Session::Input> Session::read_command() {
  while (true) {
    CommandLineReader::Next next = lines_.next(inbuf_);
    switch (next.kind) {
      case CommandLineReader::Kind::Line:
        new_wait_ = true;
        co_return Input{Input::Command, std::move(next.line)};
      case CommandLineReader::Kind::TooLong:
        new_wait_ = true;
        ctx_->counters.command_line_too_long++;
        error(replies::kCommandTooLong);
        co_return Input{Input::Refused, {}};
      case CommandLineReader::Kind::Control:
        new_wait_ = true;
        error(replies::kBadCharacters);
        co_return Input{Input::Refused, {}};
      case CommandLineReader::Kind::NeedMore:
        break;
    }
    // Nothing complete to act on: send what we have queued (RFC 2920 3.1), then wait.
    if (!co_await flush()) co_return Input{Input::Closed, {}};
    if ((ctx_->draining && !in_transaction()) || aborting_) {
      const SmtpReply bye = shutting_down();
      co_await close_with(bye);
      co_return Input{Input::Closed, {}};
    }
    constexpr std::size_t kChunk = 4096;
    std::size_t old = inbuf_.size();
    // One deadline for the whole command line, however it trickles in (Postfix's
    // smtpd_per_request_deadline): set when the wait for the next line starts.
    const auto now = std::chrono::steady_clock::now();
    if (new_wait_) command_deadline_ = now + command_timeout();
    new_wait_ = false;
    inbuf_.resize(old + kChunk);
    boost::system::error_code ec;
    idle_ = !in_transaction();
    if (idle_) idle_since_ = now.time_since_epoch().count();
    stream_->arm(std::max(std::chrono::milliseconds(0),
                          std::chrono::duration_cast<std::chrono::milliseconds>(command_deadline_ - now)));
    std::size_t n = co_await stream_->read_some(inbuf_.data() + old, kChunk, ec);
    stream_->disarm();
    idle_ = false;
    idle_since_ = 0;
    inbuf_.resize(old + (ec ? 0 : n));
    if (ec) {
      if (evicted_) {
        ctx_->counters.idle_evictions++;
        spdlog::info("{} closed idle session of {}: connection limit reached", env_.session_id, env_.client.ip);
        const SmtpReply r{421, "4.7.0", cfg_->hostname + " Error: too many connections, closing idle session"};
        co_await close_with(r);
      } else if (stream_->timed_out()) {
        ctx_->counters.command_timeouts++;
        spdlog::info("{} timeout after {} from {}", env_.session_id,
                     in_transaction() ? "a command in a transaction" : "a command", env_.client.ip);
        const SmtpReply r = timed_out_reply();
        co_await close_with(r);
      } else if (ec == asio::error::operation_aborted && (ctx_->draining || aborting_)) {
        const SmtpReply bye = shutting_down();
        co_await close_with(bye);
      } else {
        closing_ = true;  // the client went away
      }
      co_return Input{Input::Closed, {}};
    }
  }
}

Task<void> Session::handle(const Command& cmd) {
  switch (cmd.verb) {
    case Verb::Helo: co_await handle_helo(cmd, false); break;
    case Verb::Ehlo: co_await handle_helo(cmd, true); break;
    case Verb::Mail: co_await handle_mail(cmd); break;
    case Verb::Rcpt: co_await handle_rcpt(cmd); break;
    case Verb::Data: co_await handle_data(cmd); break;
    case Verb::Starttls: co_await handle_starttls(cmd); break;
    case Verb::Xclient: co_await handle_xclient(cmd); break;
    case Verb::Rset:
      if (!cmd.arg.empty()) {
        error(replies::kRsetSyntax);
        break;
      }
      if (in_transaction()) end_transaction("aborted", "RSET");
      reply(replies::kOk);
      break;
    case Verb::Noop: reply(replies::kOk); break;
    case Verb::Quit:
      co_await close_with(replies::kBye);
      break;
    case Verb::Vrfy:
      if (cmd.arg.empty()) error(replies::kVrfySyntax);
      else reply(replies::kVrfy);
      break;
    case Verb::Help: reply(replies::kHelp); break;
    case Verb::Expn:
    case Verb::Bdat:
    case Verb::Auth:
    case Verb::Turn:
      error(replies::kNotImplemented);
      break;
    case Verb::Empty: error(replies::kEmptyCommand); break;
    case Verb::Unknown:
      spdlog::debug("{} unknown command {}", env_.session_id, cmd.verb_text.substr(0, 32));
      error(replies::kUnknownCommand);
      break;
  }
}

std::string Session::ehlo_keywords() const {
  const auto& hints = downstream_hints();
  std::uint64_t size = cfg_->limits.max_message_bytes;
  std::uint64_t down = hints.size.load();
  if (down > 0 && down < size) size = down;
  std::string k = cfg_->hostname;
  k += "\nPIPELINING\nSIZE " + std::to_string(size);
  if (cfg_->server_tls && !stream_->tls()) k += "\nSTARTTLS";
  k += "\nENHANCEDSTATUSCODES";
  if (hints.eightbitmime.load()) k += "\n8BITMIME";
  if (hints.smtputf8.load()) k += "\nSMTPUTF8";
  bool trusted = false;
  for (const auto& net : cfg_->xclient_trusted) trusted |= net.contains(env_.client.peer_ip);
  if (trusted) k += "\nXCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT";
  return k;
}

Task<void> Session::handle_helo(const Command& cmd, bool ehlo) {
  if (!valid_helo(cmd.arg)) {
    error(replies::kHeloSyntax);
    co_return;
  }
  // RFC 5321 4.1.4: EHLO in a transaction resets it.
  if (in_transaction()) end_transaction("aborted", "HELO/EHLO in transaction");
  if (!xclient_helo_) env_.client.helo = cmd.arg;
  env_.client.esmtp = ehlo;
  if (!cfg_->policy->delay_reject) {
    if (auto d = check_helo(*cfg_->policy, env_.client)) {
      ctx_->counters.policy_denials++;
      spdlog::info("{} HELO {} from {} refused: {}", env_.session_id, printable(env_.client.helo, 255),
                   env_.client.ip, d->rule);
      error(d->reply);
      co_return;
    }
  }
  // Each greeting replaces the last one's evidence: a HELO-stage symbol must not
  // count twice because the client greeted twice (e.g. again after STARTTLS).
  helo_evidence_ = {};
  if (auto r = co_await run_stage(Stage::Helo, helo_evidence_, kNoRcpt)) {
    error(*r);
    co_return;
  }
  state_ = State::Greeted;
  if (ehlo) {
    const SmtpReply r{250, "", ehlo_keywords()};
    reply(r);
  } else {
    const SmtpReply r{250, "", cfg_->hostname};
    reply(r);
  }
}

Task<void> Session::handle_mail(const Command& cmd) {
  if (state_ == State::Connected) {
    error(replies::kNeedHelo);
    co_return;
  }
  if (in_transaction()) {
    error(replies::kNestedMail);
    co_return;
  }
  PathError perr;
  auto args = parse_mail(cmd.arg, perr);
  if (!args) {
    const SmtpReply r = perr.reply();
    error(r);
    co_return;
  }
  // Only what our EHLO offered: BODY=8BITMIME and SMTPUTF8 are withheld when the MX
  // does not take them.
  const auto& hints = downstream_hints();
  if (const char* refused = unsupported_mail_option(*args, hints.eightbitmime.load(), hints.smtputf8.load())) {
    const SmtpReply r{555, "5.5.4", std::string("Unsupported option: ") + refused};
    error(r);
    co_return;
  }
  if (args->size > cfg_->limits.max_message_bytes) {
    ctx_->counters.message_too_big++;
    error(replies::kSizeTooBig);
    co_return;
  }
  txn_ = TxnLog{};
  txn_.start = Clock::now();
  env_.txn_id = env_.session_id + "." + std::to_string(++txn_count_);
  env_.mail_from = args->mailbox;
  env_.declared_size = args->size;
  env_.smtputf8 = args->smtputf8;
  env_.body_type = args->body;
  env_.rcpts.clear();

  {
    // Policy deny lists: the sender now, or (delay_reject) client, HELO and sender
    // at each RCPT TO. A transaction held for refusal never opens the downstream.
    const PolicyConfig& pol = *cfg_->policy;
    if (!pol.delay_reject) {
      if (auto d = check_sender(pol, args->mailbox)) {
        ctx_->counters.policy_denials++;
        txn_.decided_by = d->rule;
        error(d->reply);
        end_transaction("reject", d->reply.str());
        co_return;
      }
    } else {
      std::optional<Refusal> d = check_client(pol, env_.client);
      if (!d) d = check_helo(pol, env_.client);
      if (!d) d = check_sender(pol, args->mailbox);
      if (d) {
        txn_.denied = std::move(d);
        txn_.decided_by = txn_.denied->rule;
        state_ = State::InMail;
        reply(replies::kSenderOk);
        co_return;
      }
    }
  }

  if (auto r = co_await run_stage(Stage::MailFrom, txn_.evidence, kNoRcpt)) {
    error(*r);
    end_transaction(r->transient() ? "tempfail" : "reject", r->str());
    co_return;
  }
  if (!co_await open_downstream()) co_return;
  const std::string line = downstream_mail_line(args->mailbox, down_->caps().size);
  SmtpReply up = co_await down_->command(line);
  txn_.mail_ms = ms_since(txn_.start);
  txn_.downstream_reply = down_->last_reply();
  if (up.positive()) {
    state_ = State::InMail;
    reply(up);
  } else {
    if (down_->broken()) ctx_->counters.downstream_failures++;
    error(up);
    end_transaction(up.transient() ? "tempfail" : "reject", up.str());
  }
}

// The MX leg of a transaction, opened once our own checks of MAIL FROM agree; false
// (answered, transaction ended) when it cannot be.
Task<bool> Session::open_downstream() {
  if (cfg_->limits.max_downstream_connections &&
      ctx_->downstream_connections.load() >= cfg_->limits.max_downstream_connections) {
    // Each open transaction holds an MX connection; do not exhaust the MX's own limit.
    ctx_->counters.downstream_busy++;
    error(replies::kDownstreamBusy);
    end_transaction("tempfail", replies::kDownstreamBusy.str());
    co_return false;
  }
  // Aliasing pointer: the counter keeps the ServerContext alive as long as it is used.
  std::shared_ptr<std::atomic<std::size_t>> count(ctx_, &ctx_->downstream_connections);
  down_ = std::make_shared<Downstream>(stream_->socket().get_executor(), cfg_, env_.session_id, count);
  if (auto fail = co_await down_->open(env_)) {
    ctx_->counters.downstream_failures++;
    txn_.downstream_reply = down_->last_reply();
    error(*fail);
    end_transaction("tempfail", fail->str());
    co_return false;
  }
  co_return true;
}

Task<void> Session::handle_rcpt(const Command& cmd) {
  if (!in_transaction()) {
    error(state_ == State::Connected ? replies::kNeedHelo : replies::kNeedMail);
    co_return;
  }
  txn_.rcpt_attempts++;  // a refused RCPT still makes a later DATA "no valid recipients"
  PathError perr;
  auto rcpt = parse_rcpt(cmd.arg, env_.smtputf8, perr);
  if (!rcpt) {
    const SmtpReply r = perr.reply();
    error(r);
    co_return;
  }
  if (env_.rcpts.size() >= cfg_->limits.max_recipients) {
    ctx_->counters.too_many_recipients++;
    error(replies::kTooManyRcpts);
    co_return;
  }
  auto t0 = Clock::now();
  {
    std::optional<Refusal> d = txn_.denied;
    if (!d) d = check_rcpt(*cfg_->policy, env_.client, *env_.mail_from, *rcpt);
    if (d) {
      ctx_->counters.policy_denials++;
      txn_.decided_by = d->rule;
      txn_.refused_rcpts.emplace_back(rcpt->address, d->reply.str());
      spdlog::info("{} RCPT <{}> from {} refused by {}", env_.session_id, printable(rcpt->address, 255),
                   env_.client.ip, d->rule);
      error(d->reply);
      co_return;
    }
  }
  const auto mb = std::make_shared<const Mailbox>(*rcpt);
  if (auto r = co_await run_stage(Stage::RcptTo, txn_.evidence, mb)) {
    txn_.refused_rcpts.emplace_back(rcpt->address, r->str());
    error(*r);
    co_return;
  }
  // Ask the downstream only after our filters agree, so a recipient we refuse never
  // reaches it; its answer (e.g. 550 5.1.1 no such user) goes back unchanged.
  std::string rcpt_line = "RCPT TO:<" + rcpt->address + ">";
  SmtpReply up = co_await down_->command(rcpt_line);
  txn_.rcpt_ms += ms_since(t0);
  if (up.positive()) {
    env_.rcpts.push_back(*rcpt);
    state_ = State::HaveRcpt;
    reply(up);
  } else {
    if (down_->broken()) ctx_->counters.downstream_failures++;
    txn_.refused_rcpts.emplace_back(rcpt->address, up.str());
    error(up);
  }
}

Task<void> Session::handle_data(const Command& cmd) {
  if (!cmd.arg.empty()) {
    error(replies::kDataSyntax);
    co_return;
  }
  if (state_ == State::Connected) {
    error(replies::kNeedHelo);
    co_return;
  }
  if (state_ == State::Greeted) {
    error(replies::kNeedMail);
    co_return;
  }
  if (state_ != State::HaveRcpt) {
    error(txn_.rcpt_attempts ? replies::kNoValidRcpts : replies::kNeedRcpt);
    co_return;
  }
  if (down_->broken()) {
    ctx_->counters.downstream_failures++;
    error(kDownstreamFailed);
    end_transaction("tempfail", kDownstreamFailed.str());
    co_return;
  }
  const Limits& lim = cfg_->limits;
  if (ctx_->buffered_bytes.load() >= lim.max_buffered_bytes) {
    ctx_->counters.buffer_budget_exhausted++;
    error(replies::kNoStorageNow);
    end_transaction("tempfail", replies::kNoStorageNow.str());
    co_return;
  }
  reply(replies::kStartData);
  if (!co_await flush()) co_return;
  // Messages are held in memory until the MX has them; all sessions together may
  // hold smtp.max_buffered_bytes. The charge is given back when this returns.
  BufferCharge charge(ctx_->buffered_bytes, lim.max_message_bytes, lim.max_buffered_bytes);
  const std::shared_ptr<const Message> msg = co_await receive_message(charge);
  if (!msg) co_return;  // refused, or the session ended: answered and logged
  co_await finish_message(msg);
}

Task<void> Session::handle_starttls(const Command& cmd) {
  if (!cfg_->server_tls) {
    error(replies::kNotImplemented);
    co_return;
  }
  if (!cmd.arg.empty()) {
    error(replies::kStarttlsSyntax);
    co_return;
  }
  if (stream_->tls()) {
    error(replies::kTlsActive);
    co_return;
  }
  if (in_transaction()) {
    error(replies::kTxnInProgress);
    co_return;
  }
  reply(replies::kTlsReady);
  if (!co_await flush()) co_return;
  if (!inbuf_.empty()) {
    // Commands sent before the handshake must not be run as if they came over TLS
    // (CVE-2011-0411, "STARTTLS command injection").
    ctx_->counters.starttls_injection++;
    spdlog::warn("{} discarded {} bytes sent after STARTTLS by {}", env_.session_id, inbuf_.size(),
                 env_.client.ip);
    inbuf_.clear();
  }
  auto cfg = cfg_;  // keeps the context alive across a reload
  boost::system::error_code ec;
  stream_->arm(cfg_->limits.command_timeout);
  co_await stream_->handshake_server(*cfg->server_tls, ec);
  stream_->disarm();
  if (ec) {
    spdlog::info("{} TLS handshake with {} failed: {}", env_.session_id, env_.client.ip, ec.message());
    closing_ = true;
    co_return;
  }
  env_.client.tls = true;
  env_.client.tls_version = stream_->tls_version();
  env_.client.tls_cipher = stream_->tls_cipher();
  // RFC 3207 4.2: forget everything learned before the handshake.
  if (!xclient_helo_) env_.client.helo.clear();
  env_.client.esmtp = false;
  helo_evidence_ = {};  // what the HELO stage said was about the greeting we forget
  state_ = State::Connected;
  spdlog::info("{} TLS {} {}", env_.session_id, env_.client.tls_version, env_.client.tls_cipher);
}

Task<void> Session::handle_xclient(const Command& cmd) {
  bool trusted = false;
  for (const auto& net : cfg_->xclient_trusted) trusted |= net.contains(env_.client.peer_ip);
  if (!trusted) {
    spdlog::info("{} XCLIENT refused from untrusted {}", env_.session_id, env_.client.peer_ip);
    error(replies::kXclientDenied);
    co_return;
  }
  if (in_transaction()) {
    error(replies::kTxnInProgress);
    co_return;
  }
  XclientParse p = parse_xclient(cmd.arg, env_.client, env_.local_ip, env_.local_port);
  if (!p.attributes) {
    error(*p.error);
    co_return;
  }
  env_.client = p.attributes->client;
  env_.local_ip = p.attributes->local_ip;
  env_.local_port = p.attributes->local_port;
  xclient_helo_ = p.attributes->helo_given;
  state_ = State::Connected;  // XCLIENT_README: the session starts over; the client greets again
  spdlog::info("{} XCLIENT from {}: client {} [{}] helo={}", env_.session_id, env_.client.peer_ip,
               printable(env_.client.name, 255), env_.client.ip, printable(env_.client.helo, 255));
  if (!co_await run_connect_stage()) co_return;
  const SmtpReply greeting{220, "", cfg_->hostname + " " + cfg_->banner};
  reply(greeting);
}

}  // namespace mxgate
