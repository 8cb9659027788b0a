// DnsLookup: the one seam through which every filter asks DNS questions.
//
// In production it is the worker's Resolver (filters/dns/resolver.hpp); unit tests
// and the SPF conformance suite substitute a table (filters/dns/fake_lookup.hpp), so
// the evaluators are tested hermetically and again through a real server.
#pragma once
#include <string>

#include "filters/dns/dns_message.hpp"
#include "base/task.hpp"

namespace mxgate {

struct DnsResult;

class DnsLookup {
 public:
  virtual ~DnsLookup() = default;
  // `name` without the trailing dot. Awaited on the executor the lookup belongs to.
  virtual Task<DnsResult> query(const std::string& name, RrType type) = 0;
};

}  // namespace mxgate
