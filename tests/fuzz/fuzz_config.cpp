// The YAML config reader: every key, type and range check (filters included, so
// their own readers run; the rule folders they name do not exist here).
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)mxgate::load_config_text(std::string(reinterpret_cast<const char*>(data), size), "f.yaml", size && (data[0] & 1));
  return 0;
}
