// SpamAssassin's MimeEval plugin functions (in progress).
#include "filters/content/eval_tests.hpp"

namespace mxgate {

void add_mime_evals(EvalTable& t) { (void)t; }

}  // namespace mxgate
