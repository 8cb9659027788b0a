// The MIME parse every content filter reads (GMime underneath, our limits and view
// on top), and the URL host extraction the DNS lists use.
#include <cstddef>
#include <cstdint>
#include <string>

#include "filters/message.hpp"
#include "filters/mime/mime.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mxgate::Message msg(std::string(reinterpret_cast<const char*>(data), size));
  mxgate::MimeLimits lim;
  lim.max_parts = 50;
  mxgate::MimeView v = mxgate::parse_mime(msg, lim);
  (void)mxgate::url_host(v.urls.empty() ? std::string() : v.urls.front());
  return 0;
}
