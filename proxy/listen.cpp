#include "proxy/listen.hpp"

#include <boost/asio/io_context.hpp>

namespace mxgate {
namespace asio = boost::asio;
using asio::ip::tcp;

std::unique_ptr<tcp::acceptor> listen_on(asio::io_context& ioc, const std::string& host,
                                         std::uint16_t port, std::string* err) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) {
    *err = host + ": not an IP address";
    return nullptr;
  }
  auto acc = std::make_unique<tcp::acceptor>(ioc);
  tcp::endpoint endpoint(addr, port);
  acc->open(endpoint.protocol(), ec);
  if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc->bind(endpoint, ec);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    *err = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
           std::to_string(port) + ": " + ec.message();
    return nullptr;
  }
  return acc;
}

}  // namespace mxgate
