#include "proxy/stream.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <openssl/x509v3.h>
#include <array>
#include <optional>

namespace mxgate {
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Stream::Impl : std::enable_shared_from_this<Stream::Impl> {
  explicit Impl(tcp::socket s) : sock(std::move(s)), timer(sock.get_executor()) {}
  tcp::socket sock;
  std::optional<ssl::stream<tcp::socket&>> tls;
  asio::steady_timer timer;
  Clock::time_point deadline = Clock::time_point::max();
  bool waiting = false;
  bool expired = false;
  bool closed = false;

  // The watchdog: one wait at a time; when it wakes it either fires or re-waits for
  // the (possibly moved) deadline.
  void wait() {
    waiting = true;
    timer.expires_at(deadline);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code&) {
      self->waiting = false;
      if (self->closed) return;
      if (Clock::now() >= self->deadline) {
        self->expired = true;
        boost::system::error_code ignored;
        self->sock.cancel(ignored);
        return;
      }
      if (self->deadline != Clock::time_point::max()) self->wait();
    });
  }

  void do_close() {
    closed = true;
    boost::system::error_code ignored;
    sock.close(ignored);  // close() alone sends the FIN; no separate shutdown() call
    timer.cancel();
  }
};

Stream::Stream(tcp::socket sock) : impl_(std::make_shared<Impl>(std::move(sock))) {
  boost::system::error_code ignored;
  // Nagle + delayed ACK can hold the last segment of a reply for ~40 ms.
  impl_->sock.set_option(tcp::no_delay(true), ignored);
}

Stream::~Stream() { close(); }

tcp::socket& Stream::socket() { return impl_->sock; }
bool Stream::is_open() const { return !impl_->closed && impl_->sock.is_open(); }
bool Stream::tls() const { return impl_->tls.has_value(); }
bool Stream::timed_out() const { return impl_->expired; }

void Stream::close() {
  if (!impl_->closed) impl_->do_close();
}

void Stream::cancel() {
  boost::system::error_code ignored;
  if (!impl_->closed) impl_->sock.cancel(ignored);
}

void Stream::arm(std::chrono::milliseconds d) {
  auto& i = *impl_;
  if (i.closed) return;
  i.expired = false;  // each operation gets its own deadline (e.g. the next address to try)
  i.deadline = Clock::now() + d;
  if (!i.waiting) i.wait();
  else if (i.deadline < i.timer.expiry()) i.timer.cancel();  // wakes it to re-wait sooner
}

void Stream::disarm() { impl_->deadline = Clock::time_point::max(); }

Task<std::size_t> Stream::read_some(char* buf, std::size_t cap, boost::system::error_code& ec) {
  auto self = impl_;  // keeps the socket alive if the owner goes away mid-read
  if (self->closed) {
    ec = asio::error::not_connected;
    co_return 0;
  }
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  std::size_t n = self->tls ? co_await self->tls->async_read_some(asio::buffer(buf, cap), token)
                            : co_await self->sock.async_read_some(asio::buffer(buf, cap), token);
  if (self->expired) ec = asio::error::timed_out;
  co_return n;
}

Task<void> Stream::write(std::string_view data, boost::system::error_code& ec) {
  auto self = impl_;
  if (self->closed) {
    ec = asio::error::not_connected;
    co_return;
  }
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  if (self->tls) co_await asio::async_write(*self->tls, asio::buffer(data), token);
  else co_await asio::async_write(self->sock, asio::buffer(data), token);
  if (self->expired) ec = asio::error::timed_out;
}

Task<void> Stream::write(std::string_view first, std::string_view second,
                         boost::system::error_code& ec) {
  auto self = impl_;
  if (self->closed) {
    ec = asio::error::not_connected;
    co_return;
  }
  std::array<asio::const_buffer, 2> bufs{asio::buffer(first), asio::buffer(second)};
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  if (self->tls) co_await asio::async_write(*self->tls, bufs, token);
  else co_await asio::async_write(self->sock, bufs, token);
  if (self->expired) ec = asio::error::timed_out;
}

Task<void> Stream::handshake_server(ssl::context& ctx, boost::system::error_code& ec) {
  auto self = impl_;
  self->tls.emplace(self->sock, ctx);
  co_await self->tls->async_handshake(ssl::stream_base::server,
                                      asio::redirect_error(asio::use_awaitable, ec));
  if (self->expired) ec = asio::error::timed_out;
}

Task<void> Stream::handshake_client(ssl::context& ctx, const std::string& sni,
                                    const std::string& check_name, bool verify,
                                    boost::system::error_code& ec) {
  auto self = impl_;
  self->tls.emplace(self->sock, ctx);
  SSL* s = self->tls->native_handle();
  if (!sni.empty()) SSL_set_tlsext_host_name(s, sni.c_str());
  if (verify && !check_name.empty()) {
    // Check the certificate's name (or IP address SAN) too, not just its chain.
    boost::system::error_code aec;
    asio::ip::make_address(check_name, aec);
    if (aec) SSL_set1_host(s, check_name.c_str());
    else X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), check_name.c_str());
  }
  co_await self->tls->async_handshake(ssl::stream_base::client,
                                      asio::redirect_error(asio::use_awaitable, ec));
  if (self->expired) ec = asio::error::timed_out;
}

std::string Stream::tls_version() const {
  return impl_->tls ? SSL_get_version(impl_->tls->native_handle()) : "";
}

std::string Stream::tls_cipher() const {
  return impl_->tls ? SSL_get_cipher_name(impl_->tls->native_handle()) : "";
}

}  // namespace mxgate
