// A message with ARC sets: collection, instances, structure, tag lists (no keys are
// found, so every chain that gets that far fails at the key: the parsing is the point).
#include <cstddef>
#include <cstdint>
#include <string>

#include "filters/arc/arc.hpp"
#include "filters/dns/fake_lookup.hpp"
#include "tests/run_task.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mxgate::Message msg(std::string(reinterpret_cast<const char*>(data), size));
  mxgate::FakeLookup dns;
  mxgate::ArcConfig cfg;
  (void)mxgate::testing::run_task(mxgate::verify_arc(msg, &dns, cfg));
  for (const auto& h : msg.headers())
    if (h.is("ARC-Authentication-Results")) (void)mxgate::arc_aar_instance(h.value);
  return 0;
}
