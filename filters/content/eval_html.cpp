// SpamAssassin's HtmlEval plugin functions (in progress).
#include "filters/content/eval_tests.hpp"

namespace mxgate {

void add_html_evals(EvalTable& t) { (void)t; }

}  // namespace mxgate
