// A message's header section: fields, folding, the From field's authors (DMARC's
// and DKIM's parsers), and the Authentication-Results removal.
#include <cstddef>
#include <cstdint>
#include <string>

#include "filters/auth/auth_results.hpp"
#include "filters/auth/from_authors.hpp"
#include "filters/auth/dkim_signature.hpp"
#include "filters/message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mxgate::Message msg(std::string(reinterpret_cast<const char*>(data), size));
  for (const auto& h : msg.headers()) {
    (void)h.unfolded();
    (void)h.valid_to_add();
    if (h.is("From")) (void)mxgate::from_header_domain(h.value);
  }
  mxgate::FromAuthors a = mxgate::from_authors_of(msg, size && (data[0] & 1));
  (void)a.domains();
  (void)mxgate::without_our_results(msg, "mx.example");
  (void)mxgate::without_mbox_separator(msg.data());
  return 0;
}
