// DKIM syntax checks done by mxgate itself, before any DNS query or verification:
// the DKIM-Signature tag-list (RFC 6376 3.2, 3.5), the key record (RFC 6376 3.6.1,
// RFC 8463 4), domain and selector names, and the RFC5322.From domain.
//
// Every signature passes through parse_dkim_signature() first and only a signature
// it accepts is ever looked up (a `d=good.com(.evil.com` must never become a query
// under evil.com) or verified (dkim_verify.hpp).
//
// No Asio: pure functions, unit-tested directly.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/auth/auth_results.hpp"

namespace mxgate {

// Verifiers may allow for clock skew around t= and x= (RFC 6376 3.5).
constexpr std::uint64_t kDkimClockDriftSeconds = 300;

// RFC 6376 3.2: tag=value pairs. Values are trimmed of surrounding FWS; internal FWS
// is kept. nullopt on a syntax error (message in *error) or a duplicate tag.
std::optional<std::map<std::string, std::string>> parse_tag_list(std::string_view text,
                                                                 std::string* error);

// RFC 6376 3.5 d=: sub-domain 1*("." sub-domain), each an LDH label of 1..63
// characters that neither starts nor ends with '-', at most 253 characters in all.
bool valid_dkim_domain(std::string_view d);
// RFC 6376 3.1 selector: one or more LDH labels. '_' is tolerated inside a label
// (seen in real selectors; DNS allows it), nothing else is.
bool valid_dkim_selector(std::string_view s);

struct DkimSignature {
  std::map<std::string, std::string> tags;  // as parsed; values trimmed
  std::string algorithm;  // a=, lowercase: rsa-sha256, rsa-sha1, ed25519-sha256
  std::string domain;     // d=, lowercase; "" unless valid
  std::string selector;   // s=, lowercase; "" unless valid
  std::string identity;   // i= as written (only if valid)
  std::string b;          // b= with whitespace removed
  std::optional<std::uint64_t> timestamp;   // t=
  std::optional<std::uint64_t> expiration;  // x=
  std::optional<std::uint64_t> body_length;  // l=
  // Set when the signature is decided here: PermError for syntax, Fail for a
  // time-based rejection, Policy for a refused algorithm. None: verify it.
  AuthResult result = AuthResult::None;
  std::string reason;
  std::string key_name() const { return selector + "._domainkey." + domain; }
};

struct DkimSyntaxOptions {
  bool allow_sha1 = false;
  std::uint64_t now = 0;  // seconds since the epoch, for t= and x=
};

// The value of one DKIM-Signature field (everything after the colon).
DkimSignature parse_dkim_signature(std::string_view value, const DkimSyntaxOptions& opt);

// A key record after our checks, ready to verify with.
struct DkimKey {
  AuthResult result = AuthResult::None;  // None: usable; else the signature's result
  std::string reason;
  bool revoked = false;       // empty p= (result Fail)
  std::string type;           // "rsa" or "ed25519"
  unsigned bits = 0;
  std::string der;            // RSA: SubjectPublicKeyInfo DER; Ed25519: the 32 raw bytes
  bool same_domain = false;   // t=s: an i= must have exactly d= as its domain (RFC 6376 3.6.1)
  bool testing = false;       // t=y: the domain is testing DKIM (results stand, noted)
};

// Checks one TXT key record against the signature's algorithm. RSA keys in p= may be
// SubjectPublicKeyInfo or PKCS#1 RSAPublicKey; both become SPKI. Empty p= is a
// revoked key: result Fail, reason "key revoked".
DkimKey parse_dkim_key(std::string_view txt, std::string_view algorithm);

// The key record among the TXT strings at a key name. RFC 6376 3.6.2.2 leaves several
// records undefined: those that are not key records are skipped, and more than one
// usable record is a permerror.
DkimKey choose_dkim_key(const std::vector<std::string>& records, const std::string& algorithm);

// The domain of the single mailbox in an RFC5322.From field value, lowercase; ""
// if there is none or more than one address.
std::string from_header_domain(std::string_view value);

// a is b or a subdomain of b (both lowercase).
bool domain_within(std::string_view a, std::string_view b);

}  // namespace mxgate
