// ARC (RFC 8617): validating the Authenticated Received Chain that forwarders and
// mailing lists add, so a DMARC failure caused by their changes can be weighed
// against what they saw (policy.dmarc.trusted_arc_sealers, policy/).
//
// Validation, RFC 8617 5.2:
//   1. the ARC sets: ARC-Authentication-Results, ARC-Message-Signature and ARC-Seal
//      with the same i=; none at all: "none".
//   2. the newest ARC-Seal says cv=fail: "fail" (a sealer already saw it broken).
//   3. structure: instances 1..N (N <= 50), each with exactly one field of each kind;
//      cv=none on instance 1 and cv=pass on every later one; otherwise "fail".
//   4. the newest ARC-Message-Signature verifies, as a DKIM signature does (the
//      same canonicalisation and hashing, dkim_verify.hpp; no v=, i= is the
//      instance, it must not sign ARC-Seal); otherwise "fail".
//   5. oldest-pass: the older ARC-Message-Signatures from N-1 down; the first that
//      fails makes oldest-pass its instance + 1 (0: all verify). Informational.
//   6. every ARC-Seal, N down to 1, over the ARC sets 1..i in order (AAR, AMS, AS,
//      relaxed canonicalisation, the seal being checked without b= and last); any
//      failure: "fail".
//   7. "pass".
// Keys are DKIM keys (`<s>._domainkey.<d>`), checked by dkim_signature.hpp's rules
// and ArcConfig's algorithm and size limits; all are asked for at once. A key that
// cannot be fetched (DNS trouble) fails the chain with that reason: the chain is
// only ever used to excuse a failure, so "unknown" must not count as vouched for.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/task.hpp"
#include "filters/auth/auth_results.hpp"
#include "filters/message.hpp"

namespace mxgate {

class DnsLookup;

constexpr unsigned kMaxArcInstances = 50;  // RFC 8617 4.2.1

struct ArcConfig {
  bool allow_sha1 = false;            // arc.allow_sha1 (RFC 8301, as for DKIM)
  std::uint64_t min_rsa_bits = 1024;  // arc.min_rsa_bits
  std::map<std::string, double> scores{{"ARC_PASS", 0.0}, {"ARC_FAIL", 0.0}};
};

// Validates the chain on `msg`. `dns` null: a chain that needs keys fails ("no
// resolver"). msg, dns and cfg must outlive the task.
Task<ArcOutcome> verify_arc(const Message& msg, DnsLookup* dns, const ArcConfig& cfg);

// The instance of an ARC-Authentication-Results value ("i=2; lists.example.org;
// ..."): 0 if it does not start with a valid i= tag.
unsigned arc_aar_instance(std::string_view value);

}  // namespace mxgate
