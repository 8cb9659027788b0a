// SpamAssassin's check_bayes (Plugin/Bayes.pm), answered from the bayes filter's
// probability (FilterState::bayes), which runs before this filter: the stock
// 23_bayes.cf and the builtin set's bayes.cf rules
//   body BAYES_99 eval:check_bayes('0.99', '1.00')
// hit when min < p <= max (min 0: p >= 0), as SpamAssassin's do. Without the bayes
// filter, or before it has learned enough, no BAYES_* rule hits.
#include <cstdio>
#include <cstdlib>

#include "filters/content/eval_tests.hpp"
#include "filters/filter_state.hpp"

namespace mxgate {
namespace {

bool number(const std::string& s, double* out) {
  char* end = nullptr;
  *out = std::strtod(s.c_str(), &end);
  return !s.empty() && end && *end == '\0';
}

}  // namespace

void add_bayes_evals(EvalTable& t) {
  t["check_bayes"] = {
      [](EvalContext& ctx, EvalArgs args) -> EvalResult {
        const FilterState* st = ctx.env.state.get();
        if (!st || st->bayes.txn != ctx.env.txn_id || !st->bayes.probability) return std::nullopt;
        const double p = *st->bayes.probability;
        double min = 0, max = 1;
        number(args[0], &min);
        const bool no_max = args[1] == "undef";
        if (!no_max) number(args[1], &max);
        if (!(min == 0 || p > min) || !(no_max || p <= max)) return std::nullopt;
        char buf[48];
        std::snprintf(buf, sizeof buf, "score: %.4f", p);
        return std::string(buf);
      },
      {rules::Scope::Body},
      [](const std::vector<std::string>& a) -> std::string {
        double v;
        if (a.size() != 2) return "takes two arguments: the lowest and the highest probability";
        if (!number(a[0], &v) || v < 0 || v > 1) return "'" + a[0] + "' is not a probability between 0 and 1";
        if (a[1] != "undef" && (!number(a[1], &v) || v < 0 || v > 1))
          return "'" + a[1] + "' is not a probability between 0 and 1";
        return {};
      }};
}

}  // namespace mxgate
