// DNS response messages off the wire, for each record type a filter asks.
#include <cstddef>
#include <cstdint>

#include "filters/dns/dns_message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using mxgate::RrType;
  static const RrType kTypes[] = {RrType::A, RrType::NS, RrType::CNAME, RrType::SOA,
                                  RrType::PTR, RrType::MX, RrType::TXT, RrType::AAAA};
  if (size == 0) return 0;
  (void)mxgate::parse_dns_answer(data + 1, size - 1, kTypes[data[0] % 8]);
  return 0;
}
