// (in progress)
#include "filters/content/eval_tests.hpp"

namespace mxgate {

struct RelaySettings {};

std::set<std::string, std::less<>> relay_setting_keys() { return {}; }
Result<std::shared_ptr<const RelaySettings>> parse_relay_settings(const std::vector<rules::Setting>&) {
  Result<std::shared_ptr<const RelaySettings>> r;
  r.value = std::make_shared<const RelaySettings>();
  return r;
}
void add_relay_evals(EvalTable& t) { (void)t; }

}  // namespace mxgate
