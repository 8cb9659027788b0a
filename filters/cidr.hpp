// Cidr: an IPv4 or IPv6 network from config ("192.0.2.0/24", "2001:db8::/32", or one
// address), for the lists that match client addresses (smtp.xclient_trusted, the
// policy's allow and deny lists).
#pragma once
#include <string>

namespace mxgate {

// IPv4-mapped IPv6 clients (::ffff:192.0.2.1) match IPv4 networks.
struct Cidr {
  bool v6 = false;
  unsigned char bytes[16] = {};
  unsigned prefix = 0;
  std::string text;
  bool contains(const std::string& ip) const;
  static bool parse(const std::string& s, Cidr& out);
};

}  // namespace mxgate
