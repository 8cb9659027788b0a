// SpamAssassin's BodyEval plugin functions (in progress).
#include "filters/content/eval_tests.hpp"

namespace mxgate {

void add_body_evals(EvalTable& t) { (void)t; }

}  // namespace mxgate
