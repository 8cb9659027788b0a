// SpamAssassin's MIMEHeader plugin (Plugin/MIMEHeader.pm): `mimeheader NAME
// Content-Type =~ /re/` tests a header field of every MIME part, the message's own
// header being part 1. The rule parser reads such a rule as a body eval test of
// rules::kMimeHeaderEval with {field[:raw], "=~"/"!~", "/re/", if-unset}; this file
// runs it over SpamAssassin's own parse of the message (sa_message.hpp), as
// eval_hook_called does:
//   - parts in find_parts(qr/./) order, limited by `tflags NAME range=x-y`;
//   - the last field of that name in the part, decoded (RFC 2047) with "\n" after
//     it; `:raw` gives the field as written (the message's own fields keep the
//     white space after the colon, part fields do not), "" when absent; `ALL`
//     gives every field of the part;
//   - an absent field reads as the `[if-unset: X]` text (empty by default);
//   - `tflags concat` joins the values of all parts (each ending in "\n") and tests
//     that once;
//   - a negated test (`!~`) hits whatever the values: 4.0.1's _check never counts
//     a match of a negated rule, so eval_hook_called always reaches its final
//     "return 1". Kept, as the stock rules run that way (none of them is negated).
// `tflags multiple` is read as one hit (mxgate's eval tests hit once).
#include <string>
#include <string_view>
#include <vector>

#include "base/text.hpp"
#include "filters/content/eval_tests.hpp"
#include "filters/content/sa_message.hpp"

namespace mxgate {
namespace {

struct Range {
  std::size_t min = 0, max = 1000;
};

// /(?:^|\s)range=(\d+)?(-)?(\d+)?(?:\s|$)/ on the rule's tflags.
Range part_range(const std::vector<std::string>& tflags) {
  Range r;
  for (const auto& f : tflags) {
    if (!f.starts_with("range=")) continue;
    std::string_view v = std::string_view(f).substr(6);
    auto digits = [&](std::size_t& at) -> std::optional<std::size_t> {
      std::size_t s = at;
      while (at < v.size() && v[at] >= '0' && v[at] <= '9') ++at;
      if (at == s || at - s > 9) return std::nullopt;
      return static_cast<std::size_t>(std::stoul(std::string(v.substr(s, at - s))));
    };
    std::size_t at = 0;
    auto lo = digits(at);
    bool dash = at < v.size() && v[at] == '-';
    if (dash) ++at;
    auto hi = digits(at);
    if (at != v.size()) continue;  // not the whole flag: the regex does not match it
    if (lo && dash && hi) r = {*lo, *hi};
    else if (lo && dash) r.min = *lo;
    else if (dash && hi) r.max = *hi;
    else if (lo) r = {*lo, *lo};
    return r;
  }
  return r;
}

bool has_flag(const std::vector<std::string>& tflags, std::string_view flag) {
  for (const auto& f : tflags)
    if (f == flag) return true;
  return false;
}

std::string check_args(const std::vector<std::string>& args) {
  if (args.size() != 4) return "mimeheader takes a field, an operator, a regexp and an if-unset text";
  std::string err;
  if (!EvalRegex::get(args[2], &err)) return "invalid regexp " + args[2] + ": " + err;
  return {};
}

EvalResult mimeheader(EvalContext& ctx, EvalArgs args) {
  if (args.size() != 4) return std::nullopt;
  auto re = EvalRegex::get(args[2]);
  if (!re) return std::nullopt;
  std::string_view field = args[0];
  bool raw = field.ends_with(":raw");
  if (raw) field.remove_suffix(4);
  const std::string key = lower(field);
  const bool negated = args[1] == "!~";
  static const std::vector<std::string> kNoFlags;
  const std::vector<std::string>& tflags = ctx.rule ? ctx.rule->tflags : kNoFlags;
  const Range range = part_range(tflags);
  const bool concat = has_flag(tflags, "concat");

  const sa::Message& m = sa::message(ctx);
  std::string joined;
  std::size_t idx = 0;
  for (std::size_t at : m.find_parts()) {
    ++idx;
    if (idx > range.max) break;
    if (idx < range.min) continue;
    const sa::Part& p = m.parts[at];
    std::optional<std::string> value;
    if (field == "ALL") value = p.all_headers(raw);
    else if (raw) value = p.last_raw(key).value_or("");
    else value = p.get_header(key);
    std::string v = value ? std::move(*value) : args[3];
    if (concat) {
      if (!v.ends_with('\n')) v += '\n';
      joined += v;
      continue;
    }
    std::vector<std::string_view> g;
    if (!negated && re->search(v, &g)) return std::string(field) + " part " + std::to_string(idx) + ": " + std::string(g[0]);
  }
  if (concat && !negated) {
    std::vector<std::string_view> g;
    if (re->search(joined, &g)) return std::string(field) + " (all parts): " + std::string(g[0]);
  }
  if (negated) return std::string(field) + " !~ " + args[2];
  return std::nullopt;
}

}  // namespace

void add_mimeheader_evals(EvalTable& t) {
  t.emplace(std::string(rules::kMimeHeaderEval), EvalFunction{mimeheader, {rules::Scope::Body}, check_args});
}

}  // namespace mxgate
