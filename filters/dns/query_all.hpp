// query_all: ask several DNS questions at once and wait for every answer, the one
// place that does so (SPF's MX and PTR address lookups, DKIM's key lookups, the
// client's forward-confirmed reverse name).
//
// One error policy: a lookup that throws becomes DnsStatus::Error with the reason,
// which is temporary() like a SERVFAIL or a timeout, so no caller can read a failed
// lookup as "no record". Everything runs on the caller's executor.
#pragma once
#include <string>
#include <vector>

#include "base/task.hpp"
#include "filters/dns/resolver.hpp"

namespace mxgate {

struct DnsQuestion {
  std::string name;
  RrType type;
};

// The answers in question order. `dns` must outlive the call (the caller's).
Task<std::vector<DnsResult>> query_all(DnsLookup& dns, std::vector<DnsQuestion> questions);

}  // namespace mxgate
