// A SpamAssassin-syntax rule file: every directive, conditionals, evals, settings.
// Parsing and checks only (compiling to Hyperscan is the library's own business).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "filters/content/eval_tests.hpp"
#include "rules/rule_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const mxgate::rules::ParseOptions opt = mxgate::content_parse_options();
  auto r = mxgate::rules::parse_rule_text(std::string_view(reinterpret_cast<const char*>(data), size), "f.cf", opt);
  if (r.ok()) (void)mxgate::eval_settings(r.value->settings);
  return 0;
}
