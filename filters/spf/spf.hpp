// SPF: our own RFC 7208 check_host() on the shared resolver.
//
// libspf2 was measured here at 96 of the 203 RFC 7208 suite tests and is not used
// (docs/authentication.md); this evaluator is measured against the same suite
// (tests/spf: every case, hermetic and again through a real DNS server).
//
// What it does, by section of RFC 7208:
//   4.3  initial processing: a malformed or single-label domain is "none"; a sender
//        without local part is postmaster@domain
//   4.4/4.5  one TXT lookup; exactly one "v=spf1" record, else none / permerror
//   4.6  the whole record is parsed before anything is evaluated: any syntax error is
//        a permerror, whatever comes first
//   4.6.4  limits: 10 terms that query DNS (include, a, mx, ptr, exists, redirect)
//        across includes and redirects; 2 void lookups; 10 MX names; 10 PTR names
//   5    all include a mx ptr ip4 ip6 exists, with dual CIDR lengths
//   6    redirect= and exp= (explanation on fail, macro-expanded; errors ignored)
//   7    macros, with validation; c, r, t only in explanations
// An IPv4-mapped IPv6 client (::ffff:192.0.2.1) is checked as the IPv4 address.
// Lookups that do not depend on each other (the addresses of every MX or PTR name)
// run concurrently. A DNS timeout or server failure is a temperror, never a none.
#pragma once
#include <chrono>
#include <string>

#include "filters/auth/auth_results.hpp"
#include "base/task.hpp"

namespace mxgate {

class DnsLookup;

struct SpfRequest {
  std::string ip;        // the client's address, IPv4 or IPv6 text
  std::string sender;    // MAIL FROM address without <>; "" for the null reverse-path
  std::string helo;      // HELO/EHLO argument
  std::string receiver;  // our host name, for %{r} and Received-SPF
};

struct SpfLimits {
  unsigned max_dns_terms = 10;  // RFC 7208 4.6.4
  unsigned max_void_lookups = 2;
  unsigned max_mx_names = 10;
  unsigned max_ptr_names = 10;
  // The whole evaluation's time (spf.timeout); past it, lookups are timeouts and the
  // result is a temperror. Keep it below smtp.filter_timeout.
  std::chrono::milliseconds max_time{15'000};
};

// check_host() for the MAIL FROM identity, or for HELO when the sender is "" (RFC 7208
// 2.4). Never throws for bad input: every problem is a result.
Task<SpfOutcome> check_spf(DnsLookup& dns, SpfRequest req, SpfLimits limits = {});
// check_host() for the HELO identity alone (RFC 7208 2.3).
Task<SpfOutcome> check_spf_helo(DnsLookup& dns, SpfRequest req, SpfLimits limits = {});

// The Received-SPF field value (RFC 7208 9.1), e.g.
//   pass (mx.example.net: domain of a@example.org designates 192.0.2.1 as permitted
//   sender) client-ip=192.0.2.1; envelope-from="a@example.org"; helo=mail.example.org;
//   receiver=mx.example.net; identity=mailfrom; mechanism="ip4:192.0.2.0/24"
std::string received_spf_value(const SpfOutcome& o, const std::string& receiver);

// Exposed for tests.
bool spf_valid_domain(const std::string& domain);  // 4.3: multi-label, labels 1-63, <= 253

}  // namespace mxgate
