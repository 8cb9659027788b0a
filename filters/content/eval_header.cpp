// SpamAssassin's HeaderEval plugin functions (in progress).
#include "filters/content/eval_tests.hpp"

namespace mxgate {

void add_header_evals(EvalTable& t) { (void)t; }

}  // namespace mxgate
