// The DNS-published records of SPF (record and macros), DKIM (signature, key) and
// DMARC, and DKIM's canonicalisation: each parser sees the same input.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "filters/auth/dkim_signature.hpp"
#include "filters/auth/dkim_verify.hpp"
#include "filters/dmarc/dmarc.hpp"
#include "filters/spf/spf_internal.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  namespace spf = mxgate::spf_detail;
  spf::Record rec;
  std::string err;
  (void)spf::parse_record(in, rec, err);
  if (spf::macro_syntax(in, true)) {
    spf::MacroValues m{"user@example.org", "user", "example.org", "example.org", "192.0.2.1", "unknown",
                       "helo.example", "192.0.2.1", "mx.example", "1700000000", "in-addr"};
    std::string out;
    (void)spf::expand(in, m, true, out);
  }
  mxgate::DkimSyntaxOptions opt;
  opt.now = 1700000000;
  mxgate::DkimSignature sig = mxgate::parse_dkim_signature(in, opt);
  for (const char* a : {"rsa-sha256", "ed25519-sha256"}) (void)mxgate::parse_dkim_key(in, a);
  (void)mxgate::dkim_canon_body(in, true);
  (void)mxgate::dkim_canon_body(in, false);
  (void)mxgate::dkim_canon_header("Subject", in, true);
  (void)mxgate::dkim_without_b(in);
  (void)mxgate::parse_dmarc_record(in);
  (void)sig;
  return 0;
}
