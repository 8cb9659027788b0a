// `mxgate sink`: a small SMTP server that accepts every message and writes it to a
// folder, one file per message (fsync'd), for the demo and for trying mxgate out.
// It offers XFORWARD so the files show which client mxgate forwarded for.
// It is a stand-in for the protected MX, not a mail store.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "base/task.hpp"

namespace mxgate {

class Sink {
 public:
  Sink(boost::asio::io_context& ioc, std::string dir);
  bool bind(const std::string& host, std::uint16_t port, std::string* err);
  void start();
  std::uint16_t port() const;

 private:
  Task<void> accept_loop();
  Task<void> serve(boost::asio::ip::tcp::socket sock);
  boost::asio::io_context& ioc_;
  std::string dir_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acc_;
  unsigned long seq_ = 0;
};

}  // namespace mxgate
