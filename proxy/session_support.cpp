// Session, what the conversation stands on: construction, the reply queue and its
// flushing, closing, the filter stages' bookkeeping, the one catch-all (run), and the
// end of a transaction with its log line. The conversation itself is session.cpp;
// the message path session_message.cpp.
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "base/address.hpp"
#include "proxy/downstream.hpp"
#include "proxy/replies.hpp"
#include "proxy/session.hpp"
#include "proxy/stream.hpp"

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

void Session::evict() {
  idle_since_ = 0;  // not picked twice while the post is on its way
  auto self = shared_from_this();
  asio::post(stream_->socket().get_executor(), [self] {
    if (!self->idle_ || self->closing_) return;  // busy again: it keeps its slot
    self->evicted_ = true;
    self->stream_->cancel();
  });
}

std::chrono::milliseconds Session::command_timeout() const {
  const Limits& l = cfg_->limits;
  return ctx_->stressed ? std::min(l.command_timeout, l.stress_command_timeout) : l.command_timeout;
}

std::size_t Session::max_errors() const {
  const Limits& l = cfg_->limits;
  return ctx_->stressed ? std::min(l.max_errors, l.stress_max_errors) : l.max_errors;
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
  stream_->arm(command_timeout());
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

Task<std::optional<SmtpReply>> Session::run_stage(Stage stage, Evidence& into,
                                                  const std::shared_ptr<const Mailbox>& rcpt) {
  if (cfg_->chain->empty()) co_return std::nullopt;
  ChainResult cr = co_await cfg_->chain->run(stage, snapshot(), rcpt);
  // Transaction stages are logged with the transaction; session stages (connect,
  // HELO) with every transaction of the session (session_evidence).
  if (&into == &txn_.evidence) note_symbols(cr);
  into.add(cr);
  co_return refusal(cr);
}

void Session::note_symbols(const ChainResult& r) {
  for (const auto& s : r.symbols) txn_.symbols.push_back(s);
  if (!r.decided_by.empty()) txn_.decided_by = r.decided_by;
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
