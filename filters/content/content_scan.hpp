// scan_content: one message through a compiled rule set. Builds the scope texts
// (scan_texts.hpp), runs every scope the rule set has, then `exists:` tests, eval
// tests and metas, and says for each rule that hit where it matched.
//
// Pure CPU work on immutable inputs: safe on any thread, as many at once as you
// like (Hyperscan scratch is per thread, rules/rule_compiler.hpp).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "filters/content/eval_tests.hpp"
#include "filters/content/scan_texts.hpp"
#include "filters/verdict.hpp"
#include "rules/rule_compiler.hpp"

namespace mxgate {

struct RuleHit {
  std::size_t rule = 0;   // index into RuleSet::rules()
  std::size_t count = 1;  // > 1 only for `tflags multiple`
  std::string where;      // `header Subject`, `body part 2 text/html at 120: "...text"`, `uri http://x/`, `meta`
};

struct ContentScan {
  std::vector<RuleHit> hits;  // every rule that hit, sub-rules (__X) and zero scores too, in rule order
  std::size_t scanned_bytes = 0;
  int score_set = rules::kSetLocal;  // the SpamAssassin score set the hits are scored with
};

// Eval tests (Scope::Eval rules) run after the regex scopes and before the metas,
// with `settings` from the rule files (eval_tests.hpp).
// With `network`, the network tests ran (their answers for the eval tests that read
// them) and the message is scored with SpamAssassin's network score set. `texts`:
// the scope texts if the caller has built them already (with the same limits).
ContentScan scan_content(const rules::RuleSet& rs, const MimeView& view, const Message& msg, const Envelope& env,
                         const ScanLimits& limits, const EvalSettings& settings = {},
                         const NetworkHits* network = nullptr, const ScanTexts* texts = nullptr);

// The hits that count: rules with a non-zero score (in the scan's score set) that
// are not __ sub-rules, as symbols (name, score, describe text, where). SpamAssassin disables a rule whose
// score is 0; a sub-rule only feeds metas.
std::vector<Symbol> content_symbols(const rules::RuleSet& rs, const ContentScan& scan);

}  // namespace mxgate
