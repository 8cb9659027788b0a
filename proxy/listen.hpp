// Opening a listening socket, shared by the proxy and the demo sink.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>

namespace mxgate {

// Binds and listens on host:port (host must be an IP address). nullptr and *err on failure.
std::unique_ptr<boost::asio::ip::tcp::acceptor> listen_on(boost::asio::io_context& ioc,
                                                          const std::string& host, std::uint16_t port,
                                                          std::string* err);

}  // namespace mxgate
