// (in progress)
#include "filters/content/eval_tests.hpp"

namespace mxgate {

struct FreemailSettings {};

std::set<std::string, std::less<>> freemail_setting_keys() { return {}; }
Result<std::shared_ptr<const FreemailSettings>> parse_freemail_settings(const std::vector<rules::Setting>&) {
  Result<std::shared_ptr<const FreemailSettings>> r;
  r.value = std::make_shared<const FreemailSettings>();
  return r;
}
void add_freemail_evals(EvalTable& t) { (void)t; }

}  // namespace mxgate
