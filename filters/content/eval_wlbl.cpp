// (in progress)
#include "filters/content/eval_tests.hpp"

namespace mxgate {

struct WlblSettings {};

std::set<std::string, std::less<>> wlbl_setting_keys() { return {}; }
Result<std::shared_ptr<const WlblSettings>> parse_wlbl_settings(const std::vector<rules::Setting>&) {
  Result<std::shared_ptr<const WlblSettings>> r;
  r.value = std::make_shared<const WlblSettings>();
  return r;
}
void add_wlbl_evals(EvalTable& t) { (void)t; }

}  // namespace mxgate
