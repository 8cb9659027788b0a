// DATA as it arrives (dot-stuffing, line ends, the end mark), in chunks the input
// chooses, with both line-ending modes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/data_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  mxgate::DataLimits lim;
  lim.max_message_bytes = 64 * 1024;
  lim.max_header_bytes = 8 * 1024;
  lim.normalize_bare = data[0] & 1;
  lim.reject_long_lines = data[0] & 2;
  mxgate::DataReader r(lim);
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t step = 1 + data[0] / 4;
  for (std::size_t pos = 0; pos < in.size() && !r.done(); pos += step) r.feed(in.substr(pos, step));
  (void)r.content();
  (void)r.problem();
  return 0;
}
