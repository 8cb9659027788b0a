#include "filters/dns/reverse.hpp"

#include <arpa/inet.h>

#include <cctype>
#include <cstring>
#include <memory>
#include <vector>

#include "filters/dns/resolver.hpp"
#include "filters/dns/query_all.hpp"

namespace mxgate {

namespace {
struct Addr {
  bool v4 = true;
  unsigned char b[16] = {};
};

bool parse(const std::string& s, Addr& a) {
  in6_addr a6;
  if (inet_pton(AF_INET, s.c_str(), a.b) == 1) {
    a.v4 = true;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), &a6) != 1) return false;
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(&a6, kMapped, 12) == 0) {
    a.v4 = true;
    std::memcpy(a.b, reinterpret_cast<unsigned char*>(&a6) + 12, 4);
  } else {
    a.v4 = false;
    std::memcpy(a.b, &a6, 16);
  }
  return true;
}

bool same(const Addr& a, const std::string& record) {
  Addr r;
  return parse(record, r) && r.v4 == a.v4 && std::memcmp(a.b, r.b, a.v4 ? 4 : 16) == 0;
}

// A host name we would write into logs and XFORWARD/XCLIENT: LDH labels (and "_",
// which real PTRs contain), at least two of them, at most 253 octets.
bool plausible_hostname(const std::string& n) {
  if (n.empty() || n.size() > 253 || n.find('.') == std::string::npos) return false;
  std::size_t label = 0;
  for (char c : n) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    if (++label > 63) return false;
  }
  return label > 0;
}
}  // namespace

std::string reversed_address(const std::string& ip) {
  Addr a;
  if (!parse(ip, a)) return "";
  std::string out;
  if (a.v4) {
    for (int i = 3; i >= 0; --i) out += std::to_string(a.b[i]) + (i ? "." : "");
    return out;
  }
  static const char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out += kHex[a.b[i] & 0xf];
    out += '.';
    out += kHex[a.b[i] >> 4];
    if (i) out += '.';
  }
  return out;
}

std::string reverse_lookup_name(const std::string& ip) {
  Addr a;
  if (!parse(ip, a)) return "";
  return reversed_address(ip) + (a.v4 ? ".in-addr.arpa" : ".ip6.arpa");
}

Task<ClientName> lookup_client_name(DnsLookup& dns, std::string ip, unsigned max_names) {
  ClientName out;
  Addr addr;
  const std::string rev = reverse_lookup_name(ip);
  if (rev.empty() || !parse(ip, addr)) co_return out;
  DnsResult ptr = co_await dns.query(rev, RrType::PTR);
  if (ptr.temporary()) out.temporary = true;
  if (ptr.status != DnsStatus::Answer || ptr.records.empty()) co_return out;
  out.reverse = ptr.records.front();
  std::vector<std::string> names;
  for (const auto& n : ptr.records) {
    if (names.size() >= max_names) break;
    if (plausible_hostname(n)) names.push_back(n);
  }
  if (names.empty()) co_return out;
  // Forward lookups of every name at once; the answer is the first name in PTR order.
  const RrType type = addr.v4 ? RrType::A : RrType::AAAA;
  std::vector<DnsQuestion> qs;
  for (const auto& n : names) qs.push_back({n, type});
  const std::vector<DnsResult> results = co_await query_all(dns, std::move(qs));
  for (std::size_t i = 0; i < names.size(); ++i) {
    const DnsResult& r = results[i];
    if (r.temporary()) out.temporary = true;
    for (const auto& a : r.records)
      if (same(addr, a)) {
        out.verified = names[i];
        co_return out;
      }
  }
  co_return out;
}

}  // namespace mxgate
