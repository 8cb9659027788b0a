// Parsing of DNS response messages (RFC 1035 4.1) into what filters need: the
// records of the asked type as text, the smallest TTL, and the negative-caching TTL
// from the SOA of an NXDOMAIN/NODATA answer (RFC 2308 5). Hand-written because
// c-ares 1.18's typed parsers drop TTLs for most types (TXT, MX, PTR).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mxgate {

enum class RrType : std::uint16_t { A = 1, NS = 2, CNAME = 5, SOA = 6, PTR = 12, MX = 15, TXT = 16, AAAA = 28 };
const char* rr_type_name(RrType t);

struct ParsedAnswer {
  bool ok = false;            // false: malformed message
  int rcode = 0;              // 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED
  bool truncated = false;
  // Records of the asked type, as text: A/AAAA addresses, "pref host" for MX,
  // the strings of one TXT record joined without separator (RFC 7208 3.3), names
  // without the final dot for NS/CNAME/PTR.
  std::vector<std::string> records;
  std::uint32_t ttl = 0;          // smallest TTL among `records`
  std::uint32_t negative_ttl = 0;  // min(SOA TTL, SOA MINIMUM) when there is no answer
  std::string error;
};

ParsedAnswer parse_dns_answer(const unsigned char* msg, std::size_t len, RrType type);

}  // namespace mxgate
