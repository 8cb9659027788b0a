// Stream: one TCP connection that may switch to TLS mid-session (STARTTLS), with a
// deadline that closes it when a read or write takes too long.
//
// Every operation returns an error code instead of throwing: a peer that goes away
// is an expected event. The deadline is one timer per connection, re-armed by moving
// its expiry, so a read does not cost a timer start/cancel pair.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "base/task.hpp"

namespace boost::asio::ssl { class context; }

namespace mxgate {

class Stream {
 public:
  explicit Stream(boost::asio::ip::tcp::socket sock);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Reads what is available (at least one byte) into buf[0..cap).
  Task<std::size_t> read_some(char* buf, std::size_t cap, boost::system::error_code& ec);
  Task<void> write(std::string_view data, boost::system::error_code& ec);
  // Both pieces in one gather write (one system call where the kernel allows).
  Task<void> write(std::string_view first, std::string_view second, boost::system::error_code& ec);
  // Server or client side TLS handshake. The client sends `sni` if non-empty; with
  // `verify`, the certificate must also match `check_name` (a host name or an IP).
  Task<void> handshake_server(boost::asio::ssl::context& ctx, boost::system::error_code& ec);
  Task<void> handshake_client(boost::asio::ssl::context& ctx, const std::string& sni,
                              const std::string& check_name, bool verify, boost::system::error_code& ec);
  // Closes at once, cancelling anything in flight. Safe to call twice.
  void close();
  // Makes the operation in flight fail with operation_aborted; the connection stays
  // open (used to wake an idle session at shutdown).
  void cancel();
  bool is_open() const;
  bool tls() const;
  std::string tls_version() const;
  std::string tls_cipher() const;

  // Arms the deadline: if it passes before disarm(), the operation in flight is
  // cancelled and fails with timed_out; the caller may still write a last reply
  // (under a new, short deadline) before close().
  void arm(std::chrono::milliseconds d);
  void disarm();
  bool timed_out() const;

  boost::asio::ip::tcp::socket& socket();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mxgate
