// Internal to rules/: what rule_compiler.cpp and rule_cache.cpp share.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "rules/rule_compiler.hpp"

namespace mxgate::rules {

// Hex SHA-256 of everything a compiled scope depends on: Hyperscan's version, the
// compile options, and per scope and entry the rule's position, name, pattern and
// flags. Scores, descriptions and metas are not in it (they are read at scan time).
std::string cache_key(const std::vector<std::unique_ptr<CompiledScope>>& scopes, const std::vector<Rule>& rules,
                      const CompileOptions& copt);

// After a cache load: the RE2 and PCRE2 objects an entry's engine needs.
void rebuild_side_engines(CompiledRegex& cr, const Rule& r, const CompileOptions& copt);

}  // namespace mxgate::rules
