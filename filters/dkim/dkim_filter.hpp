// DkimFilter: verifies every DKIM-Signature of a message at end of data (RFC 6376,
// RFC 8463 ed25519-sha256, RFC 8301 algorithm and key-size rules), and hands the
// per-signature outcomes to DMARC through FilterState::auth.dkim.
//
// How the work is split:
//  1. We parse and validate each signature ourselves (filters/auth/dkim_signature.hpp):
//     `d=good.com(.evil.com` must never become a key query under evil.com. A
//     signature that fails here is never looked up.
//  2. Every `<s>._domainkey.<d>` TXT is queried concurrently through the session's
//     DnsLookup; the key record is parsed by us too (h=, s=, t=, PKCS#1 or SPKI RSA).
//  3. dkim_verify.hpp canonicalises, hashes and checks each signature with OpenSSL
//     (synchronous CPU work), in place of libopendkim, whose verdicts reached us only
//     through callbacks paired by tag values: docs/authentication.md has the
//     measurement.
//  4. A DNS timeout for one key is temperror for that signature only; rsa-sha1 and
//     small RSA keys are policy.
//
// Results (RFC 8601 2.7.1):
//   pass       signature and body hash verify
//   fail       bad signature, body hash mismatch, key revoked (empty p=), expired
//              x=, t= in the future, l= beyond the body
//   policy     rsa-sha1 (unless allow_sha1), RSA key under min_rsa_bits, signatures
//              beyond max_signatures
//   temperror  DNS timeout/SERVFAIL for the key, no resolver
//   permerror  malformed signature, invalid d=/s=/i=, From not signed, no key
//              (NXDOMAIN/NODATA), unusable key record, key type mismatch
//
// Config (filters: - dkim: {...}):
//   allow_sha1 (false)       accept rsa-sha1 signatures (RFC 8301 says not to)
//   min_rsa_bits (1024)      smaller RSA keys are not accepted (RFC 8301 3.2)
//   max_signatures (10)      signatures verified per message; the rest are policy
//   scores: { SYMBOL: n }    override a default score below
//
// Symbols: DKIM_VALID (a signature passed), DKIM_VALID_AU (a passing d= is the From
// domain or a parent of it), DKIM_INVALID (a signature failed: fail, permerror,
// policy), DKIM_TEMPERROR, DKIM_NONE (no signature). Details name d= and s=.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "filters/auth/auth_results.hpp"
#include "filters/filter.hpp"

namespace mxgate {

class ConfigMap;
class DnsLookup;

struct DkimConfig {
  bool allow_sha1 = false;           // dkim.allow_sha1
  std::uint64_t min_rsa_bits = 1024;  // dkim.min_rsa_bits
  std::uint64_t max_signatures = 10;  // dkim.max_signatures: bounds DNS queries per message
  std::map<std::string, double> scores{
      {"DKIM_VALID", -0.1},   {"DKIM_VALID_AU", -0.1}, {"DKIM_INVALID", 1.0},
      {"DKIM_TEMPERROR", 0.0}, {"DKIM_NONE", 0.0},
  };
};
void read_dkim_config(ConfigMap& m, DkimConfig& out);

// Verifies every DKIM-Signature of msg, in header order. dns may be null (then
// every signature that needs a key is temperror "no resolver"). Awaited on the
// executor dns belongs to. msg, dns and cfg must outlive the returned task.
Task<std::vector<DkimOutcome>> verify_dkim(const Message& msg, DnsLookup* dns, const DkimConfig& cfg);

// The symbols for a set of outcomes (empty outcomes: DKIM_NONE).
std::vector<Symbol> dkim_symbols(const std::vector<DkimOutcome>& outcomes, const Message& msg,
                                 const DkimConfig& cfg);

class DkimFilter final : public Filter {
 public:
  explicit DkimFilter(std::shared_ptr<const DkimConfig> cfg) : cfg_(std::move(cfg)) {}
  const char* name() const override { return "dkim"; }
  // Writes env.state->auth.dkim and dkim_checked (when env.state is set); always Continue.
  Task<Verdict> on_end_of_data(const Envelope& env, const Message& msg) override;
  // Starts the key lookups of every valid signature as soon as the header section is
  // in; end of data finds the answers in the resolver (cached or in flight).
  Task<void> on_headers(const Envelope& env, const Message& headers) override;

 private:
  std::shared_ptr<const DkimConfig> cfg_;
};

FilterPtr make_dkim_filter(ConfigMap& cfg);

}  // namespace mxgate
