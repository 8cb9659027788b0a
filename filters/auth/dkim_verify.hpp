// The DKIM verification itself, on OpenSSL directly (RFC 6376 3.4 canonicalisation,
// 3.7 the hashes, 5.4.2 the order of signed fields, 6.1.3 the check; RFC 8463
// ed25519-sha256), in place of libopendkim (the measurement that decided it is in
// docs/authentication.md).
//
// The signature and the key arrive already parsed and accepted by
// dkim_signature.hpp (syntax, d=/s=/i=, a=, key type, h=/s= of the key, key size
// policy); this file only computes. Pure CPU work on the immutable message: safe on
// any thread.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "filters/auth/auth_results.hpp"
#include "filters/auth/dkim_signature.hpp"
#include "filters/message.hpp"

namespace mxgate {

// RFC 6376 3.4.3 / 3.4.4: the body, canonicalised (simple: trailing empty lines
// dropped, one CRLF at the end, "\r\n" for an empty body; relaxed: white space at
// line ends dropped, runs of it made one space, trailing empty lines dropped, ""
// for an empty body).
std::string dkim_canon_body(std::string_view body, bool relaxed);

// RFC 6376 3.4.1 / 3.4.2: one header field (name, and the value as received after
// the colon, folding kept, no final CRLF), canonicalised, with CRLF unless `last`.
std::string dkim_canon_header(std::string_view name, std::string_view value, bool relaxed, bool last = false);

// The DKIM-Signature field's value with b='s value deleted (RFC 6376 3.7), every
// other byte as received.
std::string dkim_without_b(std::string_view value);

// The data the signature covers (RFC 6376 3.7, 5.4.2): the fields named in h=, each
// the last not yet used instance from the bottom, then the signature field itself
// (`sig_field`, an element of msg.headers()) without b= and without a final CRLF.
std::string dkim_signed_data(const Message& msg, const HeaderField& sig_field, const DkimSignature& sig);

struct DkimVerdict {
  AuthResult result = AuthResult::Pass;
  std::string reason;
};

// Checks `b` (base64, whitespace removed) over `data` with the key, for a= `algorithm`
// (rsa-sha256, rsa-sha1, ed25519-sha256): Pass, Fail, or PermError for an unusable key.
// Shared with ARC's seals (filters/arc), which sign header fields only.
DkimVerdict verify_dkim_data(std::string_view data, const std::string& algorithm, const std::string& b,
                             const DkimKey& key);

// Verifies one signature with its key (`key.der`: SubjectPublicKeyInfo for RSA, the
// 32 raw bytes for Ed25519). `canon_body` caches the canonical bodies (index 0
// simple, 1 relaxed) across the signatures of one message.
DkimVerdict verify_dkim_signature(const Message& msg, const HeaderField& sig_field, const DkimSignature& sig,
                                  const DkimKey& key, std::optional<std::string> (&canon_body)[2]);

}  // namespace mxgate
