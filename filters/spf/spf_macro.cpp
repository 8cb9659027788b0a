// SPF macros (RFC 7208 section 7): the syntax of macro-strings, domain-specs and
// explain-strings (7.1), checked when a record is parsed, and their expansion (7.2,
// 7.3) into target names and explanation text.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "filters/spf/spf_internal.hpp"

namespace mxgate::spf_detail {

// ------------------------------------------------------------------ macros (7)

namespace {
bool macro_literal(unsigned char c) { return (c >= 0x21 && c <= 0x24) || (c >= 0x26 && c <= 0x7e); }
bool delimiter(char c) { return c != '\0' && std::strchr(".-+,/_=", c) != nullptr; }
}  // namespace

// Validates a macro-string (or explain-string with `explain`); `ends_with_macro`
// tells whether the last token was a macro-expand (for domain-end).
bool macro_syntax(const std::string& s, bool explain, bool* ends_with_macro) {
  bool last_macro = false;
  for (std::size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c == '%') {
      if (i + 1 >= s.size()) return false;
      char n = s[i + 1];
      if (n == '%' || n == '_' || n == '-') {
        i += 2;
        last_macro = true;
        continue;
      }
      if (n != '{') return false;
      std::size_t j = i + 2;
      if (j >= s.size()) return false;
      char letter = static_cast<char>(std::tolower(static_cast<unsigned char>(s[j])));
      // Not strchr: it finds the terminating NUL, so "%{\0}" (a NUL byte from a TXT
      // record) passed as a macro letter and expand() had no value for it (found by
      // fuzzing; tests/fuzz/corpus/auth_records/spf-macro-nul).
      const std::string_view letters = explain ? "slodiphvcrt" : "slodiphv";
      if (letter == '\0' || letters.find(letter) == std::string_view::npos) return false;
      ++j;
      std::size_t digits = j;
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      if (j > digits) {
        // A DIGIT transformer must be nonzero (7.1).
        if (std::stoul(s.substr(digits, std::min<std::size_t>(j - digits, 9))) == 0) return false;
      }
      if (j < s.size() && (s[j] == 'r' || s[j] == 'R')) ++j;
      while (j < s.size() && delimiter(s[j])) ++j;
      if (j >= s.size() || s[j] != '}') return false;
      i = j + 1;
      last_macro = true;
      continue;
    }
    if (explain && c == ' ') {
      ++i;
      last_macro = false;
      continue;
    }
    if (!macro_literal(static_cast<unsigned char>(c))) return false;
    ++i;
    last_macro = false;
  }
  if (ends_with_macro) *ends_with_macro = last_macro;
  return true;
}


// domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) / macro-expand
bool domain_spec_syntax(const std::string& s) {
  if (s.empty()) return false;
  bool ends_macro = false;
  if (!macro_syntax(s, false, &ends_macro)) return false;
  if (ends_macro) return true;
  std::string t = s;
  if (t.back() == '.') t.pop_back();
  auto dot = t.rfind('.');
  if (dot == std::string::npos) return false;
  std::string top = t.substr(dot + 1);
  // The toplabel must be literal text, not the tail of a macro.
  if (top.find('%') != std::string::npos || top.find('}') != std::string::npos) return false;
  return toplabel(top);
}

namespace {
std::string url_escape(const std::string& v) {
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}
}  // namespace

// Expands a string whose syntax was checked. Returns false on a syntax error (only
// explanation text arrives unchecked).
bool expand(const std::string& s, const MacroValues& m, bool explain, std::string& out) {
  if (!macro_syntax(s, explain)) return false;
  out.clear();
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] != '%') {
      out += s[i++];
      continue;
    }
    char n = s[i + 1];
    if (n == '%') { out += '%'; i += 2; continue; }
    if (n == '_') { out += ' '; i += 2; continue; }
    if (n == '-') { out += "%20"; i += 2; continue; }
    std::size_t j = i + 2;
    char letter = s[j++];
    bool upper = std::isupper(static_cast<unsigned char>(letter)) != 0;
    const std::string* value = nullptr;
    switch (std::tolower(static_cast<unsigned char>(letter))) {
      case 's': value = &m.s; break;
      case 'l': value = &m.l; break;
      case 'o': value = &m.o; break;
      case 'd': value = &m.d; break;
      case 'i': value = &m.i; break;
      case 'p': value = &m.p; break;
      case 'h': value = &m.h; break;
      case 'c': value = &m.c; break;
      case 'r': value = &m.r; break;
      case 't': value = &m.t; break;
      case 'v': value = &m.v; break;
    }
    if (!value) return false;  // macro_syntax admits no other letter; never dereference
    std::size_t digits_start = j;
    while (std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    std::size_t keep = 0;
    if (j > digits_start) keep = std::stoul(s.substr(digits_start, std::min<std::size_t>(j - digits_start, 9)));
    bool reverse = false;
    if (s[j] == 'r' || s[j] == 'R') {
      reverse = true;
      ++j;
    }
    std::string delims;
    while (s[j] != '}') delims += s[j++];
    if (delims.empty()) delims = '.';  // not ".": g++ 12 warns falsely there (-Wrestrict, GCC PR 105329)
    ++j;  // '}'
    std::vector<std::string> parts;
    std::string cur;
    for (char c : *value) {
      if (delims.find(c) != std::string::npos) {
        parts.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    parts.push_back(cur);
    if (reverse) std::reverse(parts.begin(), parts.end());
    if (keep && keep < parts.size()) parts.erase(parts.begin(), parts.end() - static_cast<long>(keep));
    std::string joined;
    for (std::size_t k = 0; k < parts.size(); ++k) joined += (k ? "." : "") + parts[k];
    out += upper ? url_escape(joined) : joined;
    i = j;
  }
  return true;
}

bool uses_p_macro(const std::string& s) {
  for (std::size_t i = 0; i + 2 < s.size(); ++i)
    if (s[i] == '%' && s[i + 1] == '{' && (s[i + 2] == 'p' || s[i + 2] == 'P')) return true;
  return false;
}

}  // namespace mxgate::spf_detail
