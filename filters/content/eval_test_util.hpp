// Test helper for the eval_*_test.cpp files: one message through one eval call,
// with the message parsed as the content filter parses it.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "filters/content/eval_tests.hpp"
#include "filters/mime/mime.hpp"

#include <stdexcept>

namespace mxgate::testing {

// The message text with LF line ends made CRLF (CRLF kept), as a message arrives in DATA.
inline Message crlf_message(const std::string& text) {
  std::string crlf;
  crlf.reserve(text.size() + text.size() / 32);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) crlf += '\r';
    crlf += text[i];
  }
  return Message(crlf);
}

// Calls f(EvalContext&) for the message text (LF or CRLF line ends), parsed as the
// content filter parses it, and returns what f returns.
template <typename F>
auto with_eval_context(const std::string& text, F&& f, const Envelope& env = {}, const EvalSettings& settings = {}) {
  Message msg = crlf_message(text);
  MimeView view = parse_mime(msg);
  ScanTexts texts = build_scan_texts(view, msg, ScanLimits{});
  EvalContext ctx(view, msg, env, texts, settings);
  return f(ctx);
}

// Runs `function(args...)` on the message text. Returns the hit's detail, or nullopt.
inline EvalResult run_eval(const std::string& function, const std::vector<std::string>& args, const std::string& text,
                           const Envelope& env = {}, const EvalSettings& settings = {}) {
  const auto& table = eval_table();
  auto it = table.find(function);
  if (it == table.end()) throw std::runtime_error("eval function not registered: " + function);
  return with_eval_context(
      text, [&](EvalContext& ctx) { return it->second.run(ctx, args); }, env, settings);
}

// The rules in `rules_text` parsed as the content filter parses them (they must all
// be eval tests: eval:, mimeheader), each run on the message; the names that hit.
inline std::set<std::string> eval_rule_hits(const std::string& rules_text, const std::string& message) {
  auto parsed = rules::parse_rule_text(rules_text, "t.cf", content_parse_options());
  if (!parsed.errors.empty() || !check_eval_args(*parsed.value).empty())
    throw std::runtime_error("rules do not load: " + rules_text);
  std::set<std::string> out;
  with_eval_context(message, [&](EvalContext& ctx) {
    for (const auto& r : parsed.value->rules) {
      if (r.scope != rules::Scope::Eval) throw std::runtime_error("not an eval test: " + r.name);
      ctx.rule = &r;
      if (eval_table().at(r.eval.function).run(ctx, r.eval.args)) out.insert(r.name);
    }
    return 0;
  });
  return out;
}

// Eval settings (util_rb_tld, freemail_domains, welcomelist_from, ...) read from
// rule text as the content filter reads them; a test fails if they do not load.
inline EvalSettings settings_from(const std::string& cf) {
  auto parsed = rules::parse_rule_text(cf, "local.cf", content_parse_options());
  if (!parsed.ok()) throw std::runtime_error("rule text does not parse: " + format_errors(parsed.errors));
  auto s = eval_settings(parsed.value->settings);
  if (!s.ok()) throw std::runtime_error("settings do not load: " + format_errors(s.errors));
  return *s.value;
}

inline bool hits(const std::string& function, const std::vector<std::string>& args, const std::string& text,
                 const Envelope& env = {}, const EvalSettings& settings = {}) {
  return run_eval(function, args, text, env, settings).has_value();
}

}  // namespace mxgate::testing
