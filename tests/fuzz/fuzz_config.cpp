// The YAML config reader: every key, type and range check of the core config.
// Without building the filters: a filter's config can name files and databases that
// building opens or creates (bayes, quarantine) and rule folders it compiles (seconds
// each), which a fuzzer must not do thousands of times a second anywhere on disk.
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)mxgate::load_config_text(std::string(reinterpret_cast<const char*>(data), size), "f.yaml", false);
  return 0;
}
