#include "filters/cidr.hpp"
#include "base/address.hpp"

#include <algorithm>

#include <boost/asio/ip/address.hpp>

namespace mxgate {

namespace {
// Normalises an address to 16 bytes; IPv4 and IPv4-mapped IPv6 give v6=false.
bool address_bytes(const std::string& ip, bool& v6, unsigned char out[16]) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(ip, ec);
  if (ec) return false;
  a = unmapped(a);
  std::fill(out, out + 16, 0);
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), out);
    v6 = false;
  } else {
    auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), out);
    v6 = true;
  }
  return true;
}
}  // namespace

bool Cidr::parse(const std::string& s, Cidr& out) {
  auto slash = s.find('/');
  std::string addr = s.substr(0, slash);
  Cidr c;
  if (!address_bytes(addr, c.v6, c.bytes)) return false;
  unsigned max = c.v6 ? 128 : 32;
  c.prefix = max;
  if (slash != std::string::npos) {
    std::string p = s.substr(slash + 1);
    if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos) return false;
    c.prefix = static_cast<unsigned>(std::stoul(p));
    if (c.prefix > max) return false;
  }
  c.text = s;
  out = c;
  return true;
}

bool Cidr::contains(const std::string& ip) const {
  bool is6 = false;
  unsigned char b[16];
  if (!address_bytes(ip, is6, b) || is6 != v6) return false;
  unsigned full = prefix / 8, rest = prefix % 8;
  for (unsigned i = 0; i < full; ++i)
    if (b[i] != bytes[i]) return false;
  if (rest) {
    unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
    if ((b[full] & mask) != (bytes[full] & mask)) return false;
  }
  return true;
}

}  // namespace mxgate
