#include "proxy/session.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <random>
#include <spdlog/logger.h>
#include <spdlog/spdlog.h>

#include "filters/dns/reverse.hpp"
#include "policy/outcome.hpp"
#include "base/work_pool_await.hpp"
#include "proxy/data_reader.hpp"
#include "proxy/downstream.hpp"
#include "proxy/json.hpp"
#include "proxy/replies.hpp"
#include "proxy/stream.hpp"
#include "proxy/xclient.hpp"
#include "base/text.hpp"
#include "base/address.hpp"

namespace mxgate {
namespace asio = boost::asio;
using asio::ip::tcp;


Session::Session(tcp::socket sock, const tcp::endpoint& remote, ConfigPtr cfg,
                 std::shared_ptr<ServerContext> ctx, std::shared_ptr<DnsLookup> dns)
    : cfg_(std::move(cfg)), ctx_(std::move(ctx)) {
  env_.state = std::make_shared<FilterState>();
  env_.state->dns = std::move(dns);
  env_.state->hostname = cfg_->hostname;
  env_.state->mime_settings = cfg_->chain->mime_settings();
  boost::system::error_code ec;
  env_.client.ip = unmapped(remote.address()).to_string();
  env_.client.port = remote.port();
  env_.client.peer_ip = env_.client.ip;
  auto local = sock.local_endpoint(ec);
  if (!ec) {
    env_.local_ip = local.address().to_string();
    env_.local_port = local.port();
  }
  env_.session_id = make_session_id();
  stream_ = std::make_unique<Stream>(std::move(sock));
}

Session::~Session() = default;

void Session::shutdown() {
  auto self = shared_from_this();
  asio::post(stream_->socket().get_executor(), [self] {
    if (self->idle_) self->stream_->cancel();
  });
}

void Session::abort() {
  auto self = shared_from_this();
  // Wake whatever the session waits on; it answers 421 4.3.2 and closes (the server
  // closes for good two seconds later if it does not).
  asio::post(stream_->socket().get_executor(), [self] {
    self->aborting_ = true;
    self->stream_->cancel();
    if (self->down_) self->down_->cancel();
  });
}

std::shared_ptr<const Envelope> Session::snapshot() const {
  return std::make_shared<const Envelope>(env_);
}

void Session::reply(const SmtpReply& r) { r.append_wire(outbuf_); }

SmtpReply Session::shutting_down() const { return SmtpReply{421, "4.3.2", shutting_down_text(cfg_->hostname)}; }

SmtpReply Session::timed_out_reply() const { return SmtpReply{421, "4.4.2", cfg_->hostname + " Error: timeout exceeded"}; }

void Session::error(const SmtpReply& r) {
  ++errors_;
  reply(r);
}

Task<bool> Session::flush() {
  if (outbuf_.empty()) co_return !closing_;
  boost::system::error_code ec;
  std::string out;
  out.swap(outbuf_);
  stream_->arm(cfg_->limits.command_timeout);
  co_await stream_->write(out, ec);
  stream_->disarm();
  if (ec) {
    closing_ = true;
    co_return false;
  }
  co_return true;
}

Task<void> Session::close_with(const SmtpReply& r) {
  reply(r);
  if (stream_->is_open()) {
    boost::system::error_code ec;
    std::string out;
    out.swap(outbuf_);
    // A short deadline of its own: a client that does not read must not keep us.
    stream_->arm(kLastReplyTimeout);
    co_await stream_->write(out, ec);
    stream_->disarm();
  }
  outbuf_.clear();
  closing_ = true;
}

// smtp.max_errors: the one place it fires.
Task<void> Session::close_too_many_errors() {
  ctx_->counters.too_many_errors++;
  const SmtpReply r{421, "4.7.0", cfg_->hostname + " Error: too many errors"};
  co_await close_with(r);
}

std::optional<SmtpReply> Session::refusal(const ChainResult& r) {
  count_filter_trouble(r);
  switch (r.action) {
    case Action::Reject:
      return r.reply ? *r.reply : replies::kPolicyReject;
    case Action::Tempfail:
      return r.reply ? *r.reply : replies::kPolicyTempfail;
    case Action::Quarantine:
      // Before end of data, Quarantine is a note for later (as milter's
      // smfi_quarantine): the message is held once it has arrived (Evidence).
    case Action::Continue:
    case Action::Accept:
      return std::nullopt;
  }
  return std::nullopt;
}

void Session::note_session(Evidence& stage, const ChainResult& r) { stage.add(r); }

void Session::count_filter_trouble(const ChainResult& r) {
  ctx_->counters.filter_timeouts += r.timed_out.size();
  ctx_->counters.filter_errors += r.failed.size();
}

// Connect and HELO evidence, for every message of the session.
Evidence Session::session_evidence() const {
  Evidence e = connect_evidence_;
  e.add(helo_evidence_);
  return e;
}

void Session::note_symbols(const ChainResult& r) {
  for (const auto& s : r.symbols) txn_.symbols.push_back(s);
  if (!r.decided_by.empty()) txn_.decided_by = r.decided_by;
}

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
  if (cfg_->chain->empty()) co_return true;
  ChainResult cr = co_await cfg_->chain->run(Stage::Connect, snapshot());
  note_session(connect_evidence_, cr);
  if (auto r = refusal(cr)) {
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

Task<void> Session::run() {
  bool failed = false;
  try {
    co_await serve();
  } catch (const std::exception& e) {
    // The one catch-all. If this fires, it is a bug to fix.
    spdlog::error("{} session failed: {}", env_.session_id, e.what());
    failed = true;
  }
  if (failed) {
    ctx_->counters.session_exceptions++;
    try {
      if (!closing_) co_await close_with(replies::kInternalError);
    } catch (...) {
    }
  }
  if (in_transaction() || env_.mail_from) end_transaction("aborted", "connection closed");
  Downstream::retire(std::move(down_));
  stream_->close();
  spdlog::info("{} disconnect from {} commands={} errors={}", env_.session_id, env_.client.peer_ip,
               commands_, errors_);
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
    if (!closing_ && errors_ >= cfg_->limits.max_errors) co_await close_too_many_errors();
  }
  if (!outbuf_.empty() && stream_->is_open()) co_await flush();
}

// The next command line without its line end; or a line refused unread (too long,
// control bytes: the error is queued); or Closed when the session is over (client
// gone, timeout or shutdown: the last reply has been sent).
Task<Session::Input> Session::read_command() {
  bool discarding = false;
  std::size_t scanned = 0;
  while (true) {
    auto nl = inbuf_.find('\n', scanned);
    if (nl != std::string::npos) {
      std::string line = inbuf_.substr(0, nl);
      inbuf_.erase(0, nl + 1);
      if (discarding || nl + 1 > cfg_->limits.max_command_line) {
        ctx_->counters.command_line_too_long++;
        error(replies::kCommandTooLong);
        co_return Input{Input::Refused, {}};
      }
      if (!line.empty() && line.back() == '\r') line.pop_back();
      // RFC 5321 commands are text: a NUL, bare CR or other control byte inside a
      // command line is refused whole, never parsed (or echoed).
      bool control = false;
      for (unsigned char c : line) control |= (c < 0x20 && c != '\t') || c == 0x7f;
      if (control) {
        error(replies::kBadCharacters);
        co_return Input{Input::Refused, {}};
      }
      co_return Input{Input::Command, std::move(line)};
    }
    scanned = inbuf_.size();
    if (inbuf_.size() > cfg_->limits.max_command_line) {
      // Keep reading to the end of the line, keeping none of it.
      discarding = true;
      inbuf_.clear();
      scanned = 0;
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
    inbuf_.resize(old + kChunk);
    boost::system::error_code ec;
    idle_ = !in_transaction();
    stream_->arm(cfg_->limits.command_timeout);
    std::size_t n = co_await stream_->read_some(inbuf_.data() + old, kChunk, ec);
    stream_->disarm();
    idle_ = false;
    inbuf_.resize(old + (ec ? 0 : n));
    if (ec) {
      if (stream_->timed_out()) {
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
  if (!cfg_->chain->empty()) {
    ChainResult cr = co_await cfg_->chain->run(Stage::Helo, snapshot());
    note_session(helo_evidence_, cr);
    if (auto r = refusal(cr)) {
      error(*r);
      co_return;
    }
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
  {
    // Only what our EHLO offered (RFC 5321 4.1.1.11): BODY=8BITMIME and SMTPUTF8 are
    // withheld when the MX does not take them.
    const auto& hints = downstream_hints();
    const char* refused = nullptr;
    if (args->body == "8BITMIME" && !hints.eightbitmime.load()) refused = "BODY=8BITMIME";
    if (args->smtputf8 && !hints.smtputf8.load()) refused = "SMTPUTF8";
    if (refused) {
      const SmtpReply r{555, "5.5.4", std::string("Unsupported option: ") + refused};
      error(r);
      co_return;
    }
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

  if (!cfg_->chain->empty()) {
    ChainResult cr = co_await cfg_->chain->run(Stage::MailFrom, snapshot());
    note_symbols(cr);
    txn_.evidence.add(cr);
    if (auto r = refusal(cr)) {
      error(*r);
      end_transaction(r->transient() ? "tempfail" : "reject", r->str());
      co_return;
    }
  }
  if (cfg_->limits.max_downstream_connections &&
      ctx_->downstream_connections.load() >= cfg_->limits.max_downstream_connections) {
    // Each open transaction holds an MX connection; do not exhaust the MX's own limit.
    ctx_->counters.downstream_busy++;
    error(replies::kDownstreamBusy);
    end_transaction("tempfail", replies::kDownstreamBusy.str());
    co_return;
  }
  // Aliasing pointer: the counter keeps the ServerContext alive as long as it is used.
  std::shared_ptr<std::atomic<std::size_t>> count(ctx_, &ctx_->downstream_connections);
  down_ = std::make_shared<Downstream>(stream_->socket().get_executor(), cfg_, env_.session_id, count);
  if (auto fail = co_await down_->open(env_)) {
    ctx_->counters.downstream_failures++;
    txn_.downstream_reply = down_->last_reply();
    error(*fail);
    end_transaction("tempfail", fail->str());
    co_return;
  }
  std::string line = "MAIL FROM:<" + args->mailbox.address + ">";
  for (const auto& p : args->mailbox.params) {
    // Pass SIZE only to a server that announced it (RFC 1870 6).
    if (!down_->caps().size && upper(p.substr(0, 5)) == "SIZE=") continue;
    line += " " + p;
  }
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
  if (!cfg_->chain->empty()) {
    auto mb = std::make_shared<const Mailbox>(*rcpt);
    ChainResult cr = co_await cfg_->chain->run(Stage::RcptTo, snapshot(), mb);
    note_symbols(cr);
    txn_.evidence.add(cr);
    if (auto r = refusal(cr)) {
      txn_.refused_rcpts.emplace_back(rcpt->address, r->str());
      error(*r);
      co_return;
    }
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

void Session::reset_transaction() {
  env_.state->auth.reset_transaction();
  Downstream::retire(std::move(down_));
  down_.reset();
  env_.mail_from.reset();
  env_.rcpts.clear();
  env_.declared_size = 0;
  env_.smtputf8 = false;
  env_.body_type.clear();
  env_.txn_id.clear();
  if (state_ == State::InMail || state_ == State::HaveRcpt) state_ = State::Greeted;
}

void Session::end_transaction(const char* outcome, const std::string& reply_text) {
  // A transaction held for a policy denial (delay_reject) ends at RSET/QUIT, but what
  // happened to it is that every recipient was refused: log it as a reject.
  if (txn_.denied && std::string_view(outcome) == "aborted") {
    if (!txn_.logged && env_.mail_from) log_transaction("reject", txn_.denied->reply.str());
    txn_.logged = true;
  }
  if (!txn_.logged && env_.mail_from) log_transaction(outcome, reply_text);
  txn_.logged = true;
  reset_transaction();
}

void Session::log_transaction(const char* verdict, const std::string& reply_text) {
  if (ctx_->txn_log) ctx_->txn_log->info(transaction_json(env_, txn_, session_evidence().symbols, verdict, reply_text));
}

}  // namespace mxgate
