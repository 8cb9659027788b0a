#include "filters/content/eval_tests.hpp"
#include "filters/content/network_tests.hpp"
#include "filters/content/uri_list.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <mutex>

#include "base/text.hpp"

namespace mxgate {

EvalContext::EvalContext(const MimeView& v, const Message& m, const Envelope& e, const ScanTexts& t,
                         const EvalSettings& s)
    : view(v), msg(m), env(e), texts(t), settings(s) {}

std::vector<std::string_view> EvalContext::decoded(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& h : view.headers)
    if (iequals(trim(h.name), name)) out.push_back(h.decoded);
  if (view.headers.empty())  // GMime built nothing: Message's own split
    for (const auto& h : msg.headers())
      if (h.is(name)) out.push_back(h.value);
  return out;
}

std::vector<std::string_view> EvalContext::raw(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& h : view.headers)
    if (iequals(trim(h.name), name)) out.push_back(h.raw);
  if (view.headers.empty())
    for (const auto& h : msg.headers())
      if (h.is(name)) out.push_back(h.value);
  return out;
}

std::optional<std::string> EvalContext::get(std::string_view name) const {
  auto values = decoded(name);
  if (values.empty()) return std::nullopt;
  std::string out;
  for (auto v : values) {
    out += v;
    out += '\n';
  }
  return out;
}

std::optional<double> eval_number(std::string_view s) {
  std::string t(trim(s));
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(t.c_str(), &end);
  if (errno != 0 || end != t.c_str() + t.size()) return std::nullopt;
  return v;
}

struct EvalRegex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

EvalRegex::~EvalRegex() = default;

std::shared_ptr<const EvalRegex> EvalRegex::compile(std::string_view pattern, std::uint32_t pcre2_options,
                                                    std::string* err) {
  // Perl's `.` and `$` know only \n as a line end (PCRE2's usual default, made sure).
  pcre2_compile_context* cc = pcre2_compile_context_create(nullptr);
  pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), pcre2_options, &code,
                                 &offset, cc);
  pcre2_compile_context_free(cc);
  if (!re) {
    if (err) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(code, buf, sizeof buf);
      *err = "bad regex at offset " + std::to_string(offset) + ": " + reinterpret_cast<const char*>(buf);
    }
    return nullptr;
  }
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // best effort: the interpreter is the fallback
  auto out = std::shared_ptr<EvalRegex>(new EvalRegex());
  out->code_ = std::make_unique<Code>();
  out->code_->code = re;
  return out;
}

std::shared_ptr<const EvalRegex> EvalRegex::get(std::string_view arg, std::string* err, bool utf) {
  // Arguments come from rule files, so the caches stay small; the bound is for
  // callers that pass other text.
  constexpr std::size_t kMaxCached = 10'000;
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const EvalRegex>, std::less<>> caches[2];  // bytes, UTF-8
  auto& cache = caches[utf ? 1 : 0];
  std::lock_guard lock(mu);
  if (auto it = cache.find(arg); it != cache.end()) return it->second;
  rules::RegexSpec spec;
  std::string pattern(arg);
  std::uint32_t opts = utf ? PCRE2_UTF | PCRE2_MATCH_INVALID_UTF : 0;
  const bool delimited = !arg.empty() && (arg.front() == '/' || arg.front() == 'm' || arg.starts_with("qr"));
  if (delimited && rules::parse_delimited_regex(arg, spec).empty()) {
    pattern = spec.pattern;
    if (spec.caseless) opts |= PCRE2_CASELESS;
    if (spec.multiline) opts |= PCRE2_MULTILINE;
    if (spec.dotall) opts |= PCRE2_DOTALL;
    if (spec.extended) opts |= PCRE2_EXTENDED;
  }
  auto out = compile(pattern, opts, err);
  if (out && cache.size() < kMaxCached) cache.emplace(std::string(arg), out);
  return out;
}

bool EvalRegex::search(std::string_view text, std::vector<std::string_view>* groups, std::size_t start) const {
  if (start > text.size()) return false;
  // The same per-match bounds as the rule engine's PCRE2 (rules/rule_compiler.hpp):
  // a pathological pattern on hostile text fails the match instead of spinning.
  static pcre2_match_context* const limits = [] {
    pcre2_match_context* mc = pcre2_match_context_create(nullptr);
    pcre2_set_match_limit(mc, 1'000'000);
    pcre2_set_depth_limit(mc, 10'000);
    return mc;
  }();
  std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> md(
      pcre2_match_data_create_from_pattern(code_->code, nullptr), pcre2_match_data_free);
  if (!md) return false;
  int rc = pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start, 0, md.get(), limits);
  if (rc < 0) return false;
  if (groups) {
    groups->clear();
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    const std::uint32_t n = pcre2_get_ovector_count(md.get());
    for (std::uint32_t i = 0; i < n; ++i) {
      if (ov[2 * i] == PCRE2_UNSET || ov[2 * i + 1] < ov[2 * i]) groups->emplace_back();
      else groups->push_back(text.substr(ov[2 * i], ov[2 * i + 1] - ov[2 * i]));
    }
  }
  return true;
}

const EvalTable& eval_table() {
  static const EvalTable table = [] {
    EvalTable t;
    add_header_evals(t);
    add_mime_evals(t);
    add_body_evals(t);
    add_html_evals(t);
    add_auth_evals(t);
    add_relay_evals(t);
    add_freemail_evals(t);
    add_wlbl_evals(t);
    add_mimeheader_evals(t);
    add_imageinfo_evals(t);
    add_uridetail_evals(t);
    add_bayes_evals(t);
    add_network_evals(t);
    return t;
  }();
  return table;
}

bool eval_supported(std::string_view function, rules::Scope target) {
  const auto& t = eval_table();
  auto it = t.find(function);
  if (it == t.end()) return false;
  const auto& targets = it->second.targets;
  return targets.empty() || std::find(targets.begin(), targets.end(), target) != targets.end();
}

std::vector<std::string> eval_plugins() {
  // Plugins whose rule blocks (ifplugin) we read: each has functions in the table.
  // Their functions we lack are reported per name by `mxgate rules lint`.
  return {"Mail::SpamAssassin::Plugin::ReplaceTags", "Mail::SpamAssassin::Plugin::HeaderEval",
          "Mail::SpamAssassin::Plugin::MIMEEval",    "Mail::SpamAssassin::Plugin::BodyEval",
          "Mail::SpamAssassin::Plugin::HTMLEval",    "Mail::SpamAssassin::Plugin::SPF",
          "Mail::SpamAssassin::Plugin::DKIM",        "Mail::SpamAssassin::Plugin::DMARC",
          "Mail::SpamAssassin::Plugin::FreeMail",    "Mail::SpamAssassin::Plugin::RelayEval",
          "Mail::SpamAssassin::Plugin::URIEval",     "Mail::SpamAssassin::Plugin::MIMEHeader",
          "Mail::SpamAssassin::Plugin::ImageInfo",     "Mail::SpamAssassin::Plugin::VBounce",
          "Mail::SpamAssassin::Plugin::WLBLEval",    "Mail::SpamAssassin::Plugin::WelcomeListSubject",
          "Mail::SpamAssassin::Plugin::URIDetail",   "Mail::SpamAssassin::Plugin::HTTPSMismatch",
          "Mail::SpamAssassin::Plugin::Bayes",       "Mail::SpamAssassin::Plugin::DNSEval",
          "Mail::SpamAssassin::Plugin::URIDNSBL"};
}

std::set<std::string, std::less<>> eval_setting_keys() {
  std::set<std::string, std::less<>> keys = relay_setting_keys();
  keys.merge(freemail_setting_keys());
  keys.merge(wlbl_setting_keys());
  keys.merge(uri_setting_keys());
  keys.merge(uridnsbl_setting_keys());
  return keys;
}

Result<EvalSettings> eval_settings(const std::vector<rules::Setting>& settings) {
  Result<EvalSettings> out;
  EvalSettings s;
  auto take = [&](auto r, auto& slot) {
    for (auto& e : r.errors) out.errors.push_back(std::move(e));
    if (r.value) slot = std::move(*r.value);
  };
  take(parse_relay_settings(settings), s.relay);
  take(parse_freemail_settings(settings), s.freemail);
  take(parse_wlbl_settings(settings), s.wlbl);
  take(parse_uri_settings(settings), s.uri);
  take(parse_uridnsbl_settings(settings), s.uridnsbl);
  out.value = std::move(s);
  return out;
}

std::vector<ConfigError> check_eval_args(const rules::ParsedRules& parsed) {
  std::vector<ConfigError> out;
  const auto& t = eval_table();
  for (const auto& r : parsed.rules) {
    if (r.scope != rules::Scope::Eval) continue;
    auto it = t.find(r.eval.function);
    if (it == t.end() || !it->second.check_args) continue;
    if (std::string err = it->second.check_args(r.eval.args); !err.empty())
      out.push_back({r.loc.file, r.loc.line, "rule " + r.name, r.eval.function + ": " + err});
  }
  return out;
}

rules::ParseOptions content_parse_options() {
  rules::ParseOptions o;
  for (auto& p : eval_plugins()) o.env.plugins.insert(p);
  o.eval_supported = eval_supported;
  o.keep_settings = eval_setting_keys();
  return o;
}

}  // namespace mxgate
