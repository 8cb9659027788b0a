#include "policy/tagging.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "filters/auth/auth_results.hpp"

namespace mxgate {

namespace {

std::string one_decimal(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  if (std::string_view(buf) == "-0.0") return "0.0";
  return buf;
}

}  // namespace

std::vector<HeaderField> spam_headers(const TaggingConfig& t, bool spam, double score, std::optional<double> required,
                                      const std::vector<Symbol>& symbols) {
  std::vector<HeaderField> out;
  if (t.headers == TaggingConfig::Headers::Off) return out;
  if (t.headers == TaggingConfig::Headers::Spam && !spam) return out;
  if (spam) out.push_back({t.flag_header, " YES"});
  // tests=: as SpamAssassin, the names of the rules that counted (a score), sorted,
  // each once; folded between names so no line runs past 78 characters.
  std::vector<std::string> tests;
  for (const auto& s : symbols)
    if (s.score != 0.0) tests.push_back(s.name);
  std::sort(tests.begin(), tests.end());
  tests.erase(std::unique(tests.begin(), tests.end()), tests.end());
  std::string status = std::string(" ") + (spam ? "Yes" : "No") + ", score=" + one_decimal(score);
  if (required) status += " required=" + one_decimal(*required);
  std::string line = t.status_header + ":" + status;
  std::size_t col = line.size();
  std::string list = " tests=";
  if (tests.empty()) list += "none";
  for (std::size_t i = 0; i < tests.size(); ++i) list += (i ? "," : "") + tests[i];
  // Fold: break after a comma (or before "tests=") whenever the line would pass 78.
  std::string folded;
  std::size_t pos = 0;
  while (pos < list.size()) {
    std::size_t next = list.find(',', pos);
    next = next == std::string::npos ? list.size() : next + 1;
    std::string_view piece = std::string_view(list).substr(pos, next - pos);
    if (col + piece.size() > 78 && col > 1) {
      folded += "\r\n\t";
      col = 1;
      if (!piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
    }
    folded += piece;
    col += piece.size();
    pos = next;
  }
  out.push_back({t.status_header, status + folded});
  int stars = score >= 1.0 ? static_cast<int>(std::min(50.0, std::floor(score))) : 0;
  out.push_back({t.level_header, stars ? " " + std::string(static_cast<std::size_t>(stars), '*') : std::string()});
  out.push_back({t.score_header, " " + one_decimal(score)});
  return out;
}

std::optional<std::string> edit_headers(const Message& msg, HeaderEdit& edit) {
  edit.removed = edit.removed_ar = 0;
  bool subject_seen = false;
  bool changed = false;
  // Walk the raw header block field by field (a field is a line and its continuation
  // lines), keeping every byte of the fields that stay.
  const std::string_view head = msg.header_block();
  std::string out;
  out.reserve(msg.size() + edit.subject_prefix.size() + 16);
  std::size_t pos = 0;
  std::size_t body_sep = head.size();  // where the empty line ending the header section starts
  if (head.size() >= 2 && head.substr(head.size() - 2) == "\r\n") {
    // header_block() includes the empty line; keep it for last.
    std::size_t before = head.size() - 2;
    if (before == 0 || (before >= 2 && head.substr(before - 2, 2) == "\r\n")) body_sep = before;
  }
  while (pos < body_sep) {
    std::size_t end = pos;
    do {
      auto nl = head.find('\n', end);
      end = nl == std::string_view::npos ? body_sep : std::min(nl + 1, body_sep);
    } while (end < body_sep && (head[end] == ' ' || head[end] == '\t'));
    std::string_view raw = head.substr(pos, end - pos);
    pos = end;
    auto colon = raw.find(':');
    if (colon == std::string_view::npos) {
      out.append(raw);
      continue;
    }
    std::string_view name = raw.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    bool drop = false;
    for (const auto& r : edit.remove) drop |= iequals(name, r);
    if (!drop && !edit.remove_ar_of.empty() && iequals(name, "Authentication-Results")) {
      HeaderField f{std::string(name), std::string(raw.substr(colon + 1))};
      if (claims_authserv_id(f, edit.remove_ar_of)) {
        drop = true;
        ++edit.removed_ar;
      }
    }
    if (drop) {
      ++edit.removed;
      changed = true;
      continue;
    }
    if (!edit.subject_prefix.empty() && !subject_seen && iequals(name, "Subject")) {
      subject_seen = true;
      std::string_view value = raw.substr(colon + 1);
      std::size_t lead = value.find_first_not_of(" \t");
      std::string_view text = lead == std::string_view::npos ? std::string_view() : value.substr(lead);
      std::string prefix = edit.subject_prefix;
      std::string_view bare = prefix;
      while (!bare.empty() && bare.back() == ' ') bare.remove_suffix(1);
      if (!bare.empty() && text.substr(0, bare.size()) == bare) {
        out.append(raw);  // already tagged (a resend): not doubled
        continue;
      }
      if (!prefix.empty() && prefix.back() != ' ' && !text.empty() && text[0] != '\r') prefix += ' ';
      out.append(raw.substr(0, colon + 1));
      out += ' ';
      out += prefix;
      out.append(text);
      changed = true;
      continue;
    }
    out.append(raw);
  }
  if (!edit.subject_prefix.empty() && !subject_seen) {
    std::string p = edit.subject_prefix;
    while (!p.empty() && p.back() == ' ') p.pop_back();
    out += "Subject: " + p + "\r\n";
    changed = true;
  }
  if (!msg.headers_well_formed()) {
    // header_block() stops before the line that broke it and has no empty line.
    out.append(head.substr(body_sep));
    out += "\r\n";
    out.append(msg.body());
    return out;
  }
  if (!changed) return std::nullopt;
  out.append(head.substr(body_sep));
  out.append(msg.body());
  return out;
}

}  // namespace mxgate
