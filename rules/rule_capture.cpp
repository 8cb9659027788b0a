#include "rules/rule_capture.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <unordered_set>

namespace mxgate::rules {

namespace {

// Values kept per tag and rule: a `tflags multiple` rule over a long message
// could otherwise make one template alternation of every word it saw.
constexpr std::size_t kMaxValuesPerTag = 1000;

// Perl's quotemeta on a byte string: every byte but [A-Za-z0-9_] gets a backslash
// (PCRE2, like Perl, reads a backslash before any non-alphanumeric as literal).
std::string quotemeta(std::string_view v) {
  std::string out;
  out.reserve(v.size() * 2);
  for (char c : v) {
    bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!word) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::size_t collect_captures(const CaptureRule& cr, pcre2_match_context* mc, std::string_view text,
                             std::size_t limit, CaptureTags& tags) {
  const pcre2_code* code = cr.code.get();
  std::uint32_t count = 0, entry_size = 0;
  PCRE2_SPTR table = nullptr;
  pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &count);
  pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
  pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
  return pcre2_each(code, mc, text, limit, [&](const std::size_t* ov, int pairs) {
    // Name table entries: 2-byte group number, then the NUL-terminated name.
    for (std::uint32_t i = 0; i < count; ++i) {
      PCRE2_SPTR e = table + static_cast<std::size_t>(i) * entry_size;
      auto group = static_cast<std::size_t>((e[0] << 8) | e[1]);
      std::string_view name(reinterpret_cast<const char*>(e + 2));
      if (name.empty() || name[0] < 'A' || name[0] > 'Z') continue;  // set_captures' safety check
      // Perl's %- has every name of the pattern, matched or not: the tag is set
      // (to no value when the group matched nothing or did not take part).
      std::vector<std::string>& values = tags[std::string(name)];
      if (group >= static_cast<std::size_t>(pairs) || ov[2 * group] == PCRE2_UNSET) continue;
      if (ov[2 * group + 1] > ov[2 * group] && values.size() < kMaxValuesPerTag)
        values.emplace_back(text.substr(ov[2 * group], ov[2 * group + 1] - ov[2 * group]));
    }
  });
}

void set_captures(CaptureTags& tags, CaptureTags&& from_rule) {
  for (auto& [name, values] : from_rule) {
    std::vector<std::string> once;
    std::unordered_set<std::string_view> seen;
    for (auto& v : values)
      if (seen.insert(v).second) once.push_back(v);
    tags[name] = std::move(once);  // the last rule to set a tag wins, as set_tag
  }
}

std::optional<std::string> expand_templates(const Rule& r, const CaptureTags& tags) {
  std::string p = r.regex.extended ? strip_extended(r.regex.pattern) : r.regex.pattern;
  for (const auto& name : r.templates) {
    // get_tag_raw("NAME(args)") reads tag NAME.
    auto it = tags.find(std::string_view(name).substr(0, name.find('(')));
    if (it == tags.end() || it->second.empty()) return std::nullopt;
    std::string alt = "(?:";
    for (std::size_t i = 0; i < it->second.size(); ++i) alt += (i ? "|" : "") + quotemeta(it->second[i]);
    alt += ")";
    std::string tmpl = "%{" + name + "}";
    for (std::size_t at = p.find(tmpl); at != std::string::npos; at = p.find(tmpl, at)) {
      if (at > 0 && p[at - 1] == '\\') {  // \%{NAME}: literal
        at += tmpl.size();
        continue;
      }
      p.replace(at, tmpl.size(), alt);
      at += alt.size();
    }
  }
  return p;
}

}  // namespace mxgate::rules
