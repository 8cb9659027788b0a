// Reporting on a compiled RuleSet: engine and source names, counts per scope and
// engine, and `mxgate rules lint` (lint_report).
#include "rules/rule_compiler.hpp"

#include <algorithm>
#include <map>
#include <sstream>

namespace mxgate::rules {

std::string_view engine_name(Engine e) {
  switch (e) {
    case Engine::Hyperscan: return "hyperscan";
    case Engine::Re2: return "re2";
    case Engine::Prefilter: return "prefilter+pcre2";
    case Engine::Pcre2: return "pcre2";
    case Engine::Unsupported: return "unsupported";
  }
  return "?";
}

std::size_t EngineCounts::total() const {
  std::size_t n = 0;
  for (auto c : by_engine) n += c;
  return n;
}

std::size_t CompiledScope::count(Engine e) const {
  return static_cast<std::size_t>(std::count_if(regexes.begin(), regexes.end(),
                                                [e](const CompiledRegex& r) { return r.engine == e; }));
}

std::string_view source_name(CompileReport::Source s) {
  switch (s) {
    case CompileReport::Source::Compiled: return "compiled";
    case CompileReport::Source::Memory: return "reused from memory";
    case CompileReport::Source::DiskCache: return "loaded from cache";
  }
  return "?";
}

EngineCounts RuleSet::counts(Scope sc) const {
  EngineCounts c;
  for (const auto& s : *scopes_) {
    if (s->scope != sc) continue;
    for (const auto& cr : s->regexes) ++c.by_engine[static_cast<std::size_t>(cr.engine)];
  }
  return c;
}

EngineCounts RuleSet::counts() const {
  EngineCounts c;
  for (const auto& s : *scopes_) {
    for (const auto& cr : s->regexes) ++c.by_engine[static_cast<std::size_t>(cr.engine)];
  }
  return c;
}

std::size_t RuleSet::meta_count() const {
  return static_cast<std::size_t>(std::count_if(rules().begin(), rules().end(), [&](const Rule& r) {
    return r.scope == Scope::Meta && !parsed_.unsupported_rules.count(r.name);
  }));
}

std::size_t RuleSet::exists_count() const {
  return static_cast<std::size_t>(std::count_if(rules().begin(), rules().end(), [](const Rule& r) {
    return r.scope == Scope::Header && r.header.exists_test;
  }));
}

// ---------------------------------------------------------------------------

std::string lint_report(const RuleSet& rs) {
  std::ostringstream o;
  const Scope kScopes[] = {Scope::Header, Scope::Body, Scope::RawBody, Scope::Full, Scope::Uri};
  const Engine kEngines[] = {Engine::Hyperscan, Engine::Re2, Engine::Prefilter, Engine::Pcre2, Engine::Unsupported};
  const auto& st = rs.parsed().stats;
  o << "files " << st.files << ", lines " << st.lines << ", skipped by if/ifplugin " << st.skipped_by_conditionals
    << ", lang lines ignored " << st.lang_lines << ", redefinitions " << st.redefinitions
    << ", ReplaceTags expansions " << st.tag_expansions << "\n";
  std::size_t header_scopes = 0;
  for (const auto& s : rs.scopes()) header_scopes += s->scope == Scope::Header;
  o << "regex rules by scope and engine (hyperscan / re2 / prefilter+pcre2 / pcre2 / unsupported):\n";
  for (Scope s : kScopes) {
    EngineCounts c = rs.counts(s);
    o << "  " << scope_name(s);
    if (s == Scope::Header) o << " (" << header_scopes << " header keys)";
    o << ": " << c.total();
    for (Engine e : kEngines) o << (e == Engine::Hyperscan ? " = " : " / ") << c.by_engine[static_cast<std::size_t>(e)];
    o << "\n";
  }
  EngineCounts all = rs.counts();
  o << "  total: " << all.total();
  for (Engine e : kEngines) o << (e == Engine::Hyperscan ? " = " : " / ") << all.by_engine[static_cast<std::size_t>(e)];
  o << "\n";
  std::vector<char> off = disabled_rules(rs.rules());
  o << "meta rules " << rs.meta_count() << ", exists: rules " << rs.exists_count() << ", unsupported rules "
    << rs.parsed().unsupported_rules.size() << ", disabled (score 0, no meta uses them) "
    << std::count(off.begin(), off.end(), 1) << "\n";
  if (!st.rules_of_missing_plugins.empty()) {
    // Blocks of plugins mxgate does not run: their rules are not loaded at all.
    std::size_t n = 0;
    for (const auto& [p, k] : st.rules_of_missing_plugins) n += k;
    o << "rules of plugins not implemented (network tests, Bayes, ...): " << n << "\n";
    // Then one indented line: "  AWL(2) AskDNS(27) ...".
    const char* sep = "  ";
    for (const auto& [p, k] : st.rules_of_missing_plugins) {
      std::string_view name = p;
      if (name.starts_with("Mail::SpamAssassin::Plugin::")) name.remove_prefix(28);
      o << sep << name << "(" << k << ")";
      sep = " ";
    }
    o << "\n";
  }
  // eval: tests: run here (Scope::Eval) or not, per function, as `rules lint` reports them.
  std::map<std::string, std::size_t> evals;
  for (const Rule& r : rs.rules())
    if (r.scope == Scope::Eval) ++evals[r.eval.function];
  std::size_t eval_rules = 0, missing_rules = 0;
  for (const auto& [f, n] : evals) eval_rules += n;
  for (const auto& [f, n] : rs.parsed().unsupported_evals) missing_rules += n;
  o << "eval tests: " << evals.size() << " functions supported (" << eval_rules << " rules), "
    << rs.parsed().unsupported_evals.size() << " not supported (" << missing_rules << " rules)\n";
  o << "  supported:";
  for (const auto& [f, n] : evals) o << " " << f << "(" << n << ")";
  o << "\n  not supported:";
  for (const auto& [f, n] : rs.parsed().unsupported_evals) o << " " << f << "(" << n << ")";
  o << "\n";
  std::size_t grouped = 0, alone = 0;
  for (const auto& sc : rs.scopes())
    for (const auto& cr : sc->regexes) {
      grouped += cr.grouped;
      alone += cr.solo != nullptr;
    }
  o << "slow-to-build patterns: " << grouped << " in the slow databases, " << alone << " in their own\n";
  o << "warnings " << rs.parsed().warnings.size() << " by directive:\n";
  for (const auto& [d, n] : rs.parsed().warning_counts()) o << "  " << d << ": " << n << "\n";
  o << "rules not on plain Hyperscan:\n";
  for (const auto& s : rs.scopes()) {
    for (const auto& cr : s->regexes) {
      if (cr.engine == Engine::Hyperscan) continue;
      const Rule& r = rs.rules()[cr.rule];
      o << "  " << r.loc.file << ":" << r.loc.line << ": rule " << r.name << ": " << engine_name(cr.engine)
        << (cr.gated ? " (gated by a Hyperscan prefilter)" : "") << ": " << cr.reason << "\n";
    }
  }
  return o.str();
}

}  // namespace mxgate::rules
