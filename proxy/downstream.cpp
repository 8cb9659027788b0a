#include "proxy/downstream.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "proxy/data_reader.hpp"
#include "proxy/smtp_command.hpp"
#include "proxy/stream.hpp"
#include "base/text.hpp"

namespace mxgate {
namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

const SmtpReply kDownstreamUnavailable{451, "4.3.0", "Downstream server unavailable, try again later"};
const SmtpReply kDownstreamFailed{451, "4.3.0", "Downstream server failed, try again later"};
const SmtpReply kDownstreamNoTls{451, "4.7.4", "TLS required but not offered by the downstream server"};
const SmtpReply kDownstreamTlsFailed{451, "4.7.5", "TLS handshake with the downstream server failed"};

DownstreamHints& downstream_hints() {
  static DownstreamHints hints;
  return hints;
}

namespace {
std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool offers(const std::vector<std::string>& attrs, const char* name) {
  for (const auto& a : attrs)
    if (a == name) return true;
  return false;
}

// XFORWARD/XCLIENT want "IPV6:" before IPv6 addresses (Postfix's *_README).
std::string addr_attr(const std::string& ip) {
  return ip.find(':') != std::string::npos ? "IPV6:" + ip : ip;
}
}  // namespace

Downstream::Downstream(Executor ex, ConfigPtr cfg, std::string log_id,
                       std::shared_ptr<std::atomic<std::size_t>> open_count)
    : ex_(std::move(ex)), cfg_(std::move(cfg)), log_id_(std::move(log_id)),
      open_count_(std::move(open_count)) {
  if (open_count_) ++*open_count_;
}

Downstream::~Downstream() {
  if (open_count_) --*open_count_;
}

void Downstream::cancel() {
  if (stream_) {
    broken_ = true;
    stream_->close();
  }
}

bool Downstream::tls() const { return stream_ && stream_->tls(); }

void Downstream::fail(const char* what) {
  if (!broken_)
    spdlog::warn("{} downstream {}: {}", log_id_, cfg_->downstream.address.str(), what);
  broken_ = true;
  if (stream_) stream_->close();
}

Task<bool> Downstream::send(const std::string& data, std::chrono::milliseconds timeout,
                            const std::string* then) {
  if (broken_ || !stream_) co_return false;
  boost::system::error_code ec;
  stream_->arm(timeout);
  if (then) co_await stream_->write(data, *then, ec);
  else co_await stream_->write(data, ec);
  stream_->disarm();
  if (ec) {
    fail(stream_->timed_out() ? "write timed out" : "write failed (connection lost)");
    co_return false;
  }
  co_return true;
}

Task<Downstream::Read> Downstream::read_reply(std::chrono::milliseconds timeout) {
  Read r;
  if (broken_ || !stream_) co_return r;
  char buf[4096];
  stream_->arm(timeout);
  while (true) {
    auto nl = inbuf_.find('\n');
    if (nl == std::string::npos) {
      if (inbuf_.size() > 64 * 1024) {
        stream_->disarm();
        fail("reply line too long");
        co_return Read{};
      }
      boost::system::error_code ec;
      std::size_t n = co_await stream_->read_some(buf, sizeof buf, ec);
      if (ec) {
        stream_->disarm();
        fail(stream_->timed_out() ? "timed out waiting for a reply" : "connection lost");
        co_return Read{};
      }
      inbuf_.append(buf, n);
      continue;
    }
    std::string line = inbuf_.substr(0, nl);
    inbuf_.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // "250-text", "250 text" or a bare "250" (RFC 5321 4.2).
    bool good = line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0])) &&
                std::isdigit(static_cast<unsigned char>(line[1])) &&
                std::isdigit(static_cast<unsigned char>(line[2])) &&
                (line.size() == 3 || line[3] == ' ' || line[3] == '-');
    int code = good ? std::stoi(line.substr(0, 3)) : 0;
    if (!good || code < 200 || code > 599 || (r.code && code != r.code) ||
        r.lines.size() >= kMaxReplyLines) {
      stream_->disarm();
      fail("garbled reply");
      co_return Read{};
    }
    r.code = code;
    std::string text = line.size() > 4 ? line.substr(4) : "";
    if (text.size() > kMaxReplyLine) text.resize(kMaxReplyLine);
    r.lines.push_back(std::move(text));
    if (line.size() == 3 || line[3] == ' ') break;
  }
  stream_->disarm();
  r.ok = true;
  last_reply_ = std::to_string(r.code) + " " + (r.lines.empty() ? "" : r.lines.back());
  co_return r;
}

Task<Downstream::Read> Downstream::exchange(const std::string& line,
                                            std::chrono::milliseconds timeout) {
  const std::string out = line + "\r\n";
  if (!co_await send(out, timeout)) co_return Read{};
  co_return co_await read_reply(timeout);
}

SmtpReply Downstream::relay(const Read& r) {
  if (!r.ok) return kDownstreamFailed;
  if (r.code == 421) {
    // The downstream is closing its connection, not ours with the client.
    broken_ = true;
    return SmtpReply::relayed(421, r.lines).with_code(451);
  }
  return SmtpReply::relayed(r.code, r.lines);
}

Task<bool> Downstream::ehlo() {
  const auto& d = cfg_->downstream;
  std::string ehlo_line = "EHLO " + d.helo_name;
  Read r = co_await exchange(ehlo_line, d.command_timeout);
  if (!r.ok) co_return false;
  caps_ = DownstreamCaps{};
  if (r.code == 250) {
    caps_.esmtp = true;
    for (std::size_t i = 1; i < r.lines.size(); ++i) {
      auto w = words(r.lines[i]);
      if (w.empty()) continue;
      std::string kw = upper(w[0]);
      if (kw == "PIPELINING") caps_.pipelining = true;
      else if (kw == "SIZE") {
        caps_.size = true;
        if (w.size() > 1) caps_.max_size = std::strtoull(w[1].c_str(), nullptr, 10);
      } else if (kw == "8BITMIME") caps_.eightbitmime = true;
      else if (kw == "SMTPUTF8") caps_.smtputf8 = true;
      else if (kw == "STARTTLS") caps_.starttls = true;
      else if (kw == "XFORWARD" || kw == "XCLIENT") {
        auto& list = kw == "XFORWARD" ? caps_.xforward : caps_.xclient;
        for (std::size_t k = 1; k < w.size(); ++k) list.push_back(upper(w[k]));
        if (list.empty()) list.push_back("");  // offered, no attributes listed
      }
    }
    auto& h = downstream_hints();
    h.size.store(caps_.size ? caps_.max_size : 0);
    h.eightbitmime.store(caps_.eightbitmime);
    h.smtputf8.store(caps_.smtputf8);
    h.known.store(true);
    co_return true;
  }
  // Some servers answer EHLO with 5xx; fall back to HELO (RFC 5321 3.2).
  std::string helo_line = "HELO " + d.helo_name;
  r = co_await exchange(helo_line, d.command_timeout);
  if (!r.ok || r.code != 250) {
    fail("HELO/EHLO refused");
    co_return false;
  }
  co_return true;
}

Task<std::optional<SmtpReply>> Downstream::forward_client(const Envelope& env) {
  const auto& d = cfg_->downstream;
  const ForwardClient how = d.forward_client;
  bool use_xforward = !caps_.xforward.empty() && (how == ForwardClient::Auto || how == ForwardClient::Xforward);
  bool use_xclient = !use_xforward && !caps_.xclient.empty() && (how == ForwardClient::Auto || how == ForwardClient::Xclient);
  const ClientInfo& c = env.client;
  std::string name = c.name.empty() || c.name == "unknown" ? "[UNAVAILABLE]" : c.name;
  std::string helo = c.helo.empty() ? "[UNAVAILABLE]" : c.helo;
  if (use_xforward) {
    const auto& a = caps_.xforward;
    std::vector<std::string> attrs;
    if (offers(a, "NAME")) attrs.push_back("NAME=" + xtext_encode(name));
    if (offers(a, "ADDR")) attrs.push_back("ADDR=" + xtext_encode(addr_attr(c.ip)));
    if (offers(a, "PORT")) attrs.push_back("PORT=" + std::to_string(c.port));
    if (offers(a, "PROTO")) attrs.push_back(std::string("PROTO=") + (c.esmtp ? "ESMTP" : "SMTP"));
    if (offers(a, "HELO")) attrs.push_back("HELO=" + xtext_encode(helo));
    if (offers(a, "SOURCE")) attrs.push_back("SOURCE=REMOTE");
    // Several commands if needed, each under RFC 5321's 512-octet command line.
    std::string line = "XFORWARD";
    for (std::size_t i = 0; i <= attrs.size(); ++i) {
      bool last = i == attrs.size();
      if (last || line.size() + 1 + attrs[i].size() > 500) {
        if (line != "XFORWARD") {
          std::string cmd = line;
          Read r = co_await exchange(cmd, d.command_timeout);
          if (!r.ok) co_return kDownstreamFailed;
          if (r.code != 250)
            spdlog::warn("{} downstream refused XFORWARD: {}", log_id_, last_reply_);
        }
        line = "XFORWARD";
      }
      if (!last) line += " " + attrs[i];
    }
  } else if (use_xclient) {
    const auto& a = caps_.xclient;
    std::string line = "XCLIENT";
    if (offers(a, "NAME")) line += " NAME=" + xtext_encode(name);
    if (offers(a, "ADDR")) line += " ADDR=" + xtext_encode(addr_attr(c.ip));
    if (offers(a, "PORT")) line += " PORT=" + std::to_string(c.port);
    if (offers(a, "PROTO")) line += std::string(" PROTO=") + (c.esmtp ? "ESMTP" : "SMTP");
    if (offers(a, "HELO")) line += " HELO=" + xtext_encode(helo);
    Read r = co_await exchange(line, d.command_timeout);
    if (!r.ok) co_return kDownstreamFailed;
    if (r.code == 220) {
      // XCLIENT restarts the session: greet again (XCLIENT_README).
      if (!co_await ehlo()) co_return kDownstreamFailed;
    } else {
      // Not authorised for XCLIENT: carry on without it; the MX then logs us as the client.
      spdlog::warn("{} downstream refused XCLIENT: {}", log_id_, last_reply_);
    }
  }
  co_return std::nullopt;
}

Task<std::optional<SmtpReply>> Downstream::connect_once(const Envelope& env, bool allow_tls) {
  const auto& d = cfg_->downstream;
  broken_ = false;
  inbuf_.clear();
  stream_ = std::make_unique<Stream>(tcp::socket(ex_));
  boost::system::error_code ec;
  std::vector<tcp::endpoint> endpoints;
  auto addr = asio::ip::make_address(d.address.host, ec);
  if (!ec) {
    endpoints.emplace_back(addr, d.address.port);
  } else {
    // A host name: the system resolver (the MX is usually in /etc/hosts or local DNS).
    tcp::resolver resolver(ex_);
    ec = {};
    auto results = co_await resolver.async_resolve(d.address.host, std::to_string(d.address.port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      fail("cannot resolve host name");
      co_return kDownstreamUnavailable;
    }
    for (const auto& e : results) endpoints.push_back(e.endpoint());
  }
  ec = asio::error::host_not_found;
  for (const auto& ep : endpoints) {
    boost::system::error_code cec;
    stream_->socket().close(cec);
    stream_->arm(d.connect_timeout);
    co_await stream_->socket().async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
    stream_->disarm();
    if (!ec && !stream_->timed_out()) break;
    if (stream_->timed_out()) ec = asio::error::timed_out;
  }
  if (ec) {
    spdlog::warn("{} downstream {}: connect failed: {}", log_id_, d.address.str(), ec.message());
    broken_ = true;
    stream_->close();
    co_return kDownstreamUnavailable;
  }
  stream_->socket().set_option(tcp::no_delay(true), ec);
  Read greet = co_await read_reply(d.command_timeout);
  if (!greet.ok || greet.code != 220) {
    if (greet.ok) fail("greeting was not 220");
    co_return kDownstreamUnavailable;
  }
  if (!co_await ehlo()) co_return kDownstreamUnavailable;

  bool want_tls = allow_tls && d.tls != DownstreamTls::Off && cfg_->client_tls;
  if (want_tls && !caps_.starttls && d.tls == DownstreamTls::Required) {
    fail("TLS required but STARTTLS not offered");
    co_return kDownstreamNoTls;
  }
  if (want_tls && caps_.starttls) {
    std::string starttls = "STARTTLS";
    Read r = co_await exchange(starttls, d.command_timeout);
    if (!r.ok) co_return kDownstreamFailed;
    if (r.code != 220) {
      if (d.tls == DownstreamTls::Required) {
        fail("STARTTLS refused");
        co_return kDownstreamNoTls;
      }
    } else {
      if (!inbuf_.empty()) {  // data before the handshake would be read as if encrypted
        fail("data after STARTTLS reply");
        co_return kDownstreamFailed;
      }
      std::string sni = d.tls_server_name;
      if (sni.empty()) {  // SNI only for names, never for an address literal (RFC 6066 3)
        boost::system::error_code aec;
        asio::ip::make_address(d.address.host, aec);
        if (aec) sni = d.address.host;
      }
      stream_->arm(d.command_timeout);
      // Verify the configured name, else whatever we connected to (name or IP).
      const std::string check = d.tls_server_name.empty() ? d.address.host : d.tls_server_name;
      co_await stream_->handshake_client(*cfg_->client_tls, sni, check, d.tls_verify, ec);
      stream_->disarm();
      if (ec) {
        spdlog::warn("{} downstream TLS handshake failed: {}", log_id_, ec.message());
        fail("TLS handshake failed");
        co_return kDownstreamTlsFailed;
      }
      if (!co_await ehlo()) co_return kDownstreamFailed;  // RFC 3207 4.2: forget, greet again
    }
  }
  if (skip_forward_) co_return std::nullopt;
  co_return co_await forward_client(env);
}

Task<std::optional<SmtpReply>> Downstream::probe() {
  skip_forward_ = true;
  Envelope none;
  co_return co_await open(none);
}

Task<std::optional<SmtpReply>> Downstream::open(const Envelope& env) {
  auto res = co_await connect_once(env, true);
  // tls: opportunistic means "encrypt if we can": a failed handshake falls back to a
  // plaintext connection, as Postfix does at security level "may".
  if (res && res->code() == 451 && res->enhanced() == "4.7.5" &&
      cfg_->downstream.tls == DownstreamTls::Opportunistic) {
    spdlog::info("{} retrying downstream without TLS", log_id_);
    res = co_await connect_once(env, false);
  }
  co_return res;
}

Task<SmtpReply> Downstream::command(const std::string& line) {
  if (broken_) co_return kDownstreamFailed;
  Read r = co_await exchange(line, cfg_->downstream.command_timeout);
  co_return relay(r);
}

Task<bool> Downstream::send_message(const std::string& prefix, const std::string& content,
                                    std::chrono::steady_clock::time_point deadline, bool then_quit) {
  using namespace std::chrono;
  // Stuffed in pieces, so a 25 MB message is not held a second time in memory.
  constexpr std::size_t kPiece = 256 * 1024;
  static const std::string kQuit = "QUIT\r\n";
  DotStuffer stuffer(prefix, content);
  std::string piece;
  while (stuffer.next(piece, kPiece)) {
    auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
    if (left <= milliseconds(0)) {
      fail("data timeout");
      co_return false;
    }
    // One connection per transaction: QUIT rides behind the final dot in the same
    // write when the MX pipelines (RFC 2920 3.1); its 221 is read in retire().
    bool quit = then_quit && stuffer.done();
    if (!co_await send(piece, left, quit ? &kQuit : nullptr)) co_return false;
    quit_sent_ = quit;
  }
  co_return true;
}

Task<SmtpReply> Downstream::send_data(const std::string& prefix, const std::string& content) {
  using namespace std::chrono;
  const auto& d = cfg_->downstream;
  if (broken_) co_return kDownstreamFailed;
  const auto deadline = steady_clock::now() + d.data_timeout;
  auto left = [&] { return std::max(milliseconds(1), duration_cast<milliseconds>(deadline - steady_clock::now())); };
  const std::string data_cmd = "DATA";
  Read r = co_await exchange(data_cmd, std::min(d.command_timeout, left()));
  if (!r.ok) co_return kDownstreamFailed;
  if (r.code != 354) {
    if (r.code < 400) {  // a 2xx to DATA makes no sense; never pass on a success we did not earn
      fail("unexpected reply to DATA");
      co_return kDownstreamFailed;
    }
    co_return relay(r);
  }
  if (!co_await send_message(prefix, content, deadline, caps_.pipelining)) co_return kDownstreamFailed;
  r = co_await read_reply(left());
  if (!r.ok) co_return kDownstreamFailed;
  if (r.code != 250 && r.code < 400) {
    fail("unexpected reply after the message");
    co_return kDownstreamFailed;
  }
  co_return relay(r);
}

void Downstream::retire(std::shared_ptr<Downstream> d) {
  if (!d || !d->stream_ || d->broken_) return;
  auto ex = d->ex_;
  asio::co_spawn(
      ex,
      [d]() -> Task<void> {
        if (d->quit_sent_) {
          co_await d->read_reply(kLastReplyTimeout);
        } else {
          const std::string quit = "QUIT";
          co_await d->exchange(quit, kLastReplyTimeout);
        }
        if (d->stream_) d->stream_->close();
      },
      asio::detached);
}

}  // namespace mxgate
