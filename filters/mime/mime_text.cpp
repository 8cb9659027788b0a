// HTML rendering, URL finding and charset helpers for filters/mime (no GMime here).
// The renderer is a single forward pass over the input (no DOM, no backtracking), so
// its cost is linear in the input whatever the markup: unclosed comments, quotes or
// <script> elements simply run to the end of the input.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "filters/mime/mime.hpp"
#include "filters/mime/mime_text.hpp"

namespace mxgate {
namespace mime_detail {

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string crlf_to_lf(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i)
    if (!(s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n')) out += s[i];
  return out;
}

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629 section 4).
std::size_t utf8_seq(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n = s.size() - i;
  auto cont = [&](std::size_t k) { return (b(i + k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return n >= 2 && cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (n < 3 || !cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;  // overlong
    if (c == 0xED && b(i + 1) > 0x9F) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (n < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && b(i + 1) > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

constexpr std::array<char16_t, 32> kCp1252 = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

}  // namespace

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_seq(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string repair_utf8(std::string_view s, std::size_t* replaced) {
  std::string out;
  out.reserve(s.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_seq(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++bad;
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  if (replaced) *replaced = bad;
  return out;
}

char32_t cp1252_c1(unsigned char b) { return kCp1252[b - 0x80]; }

std::string cp1252_to_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  for (unsigned char c : s) {
    if (c < 0x80) out += static_cast<char>(c);
    else if (c < 0xA0) append_utf8(out, cp1252_c1(c));
    else append_utf8(out, c);
  }
  return out;
}

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool is_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'; }

bool starts_with_ci(std::string_view s, std::size_t i, std::string_view prefix) {
  if (s.size() - i < prefix.size()) return false;
  for (std::size_t k = 0; k < prefix.size(); ++k)
    if (lower(s[i + k]) != prefix[k]) return false;
  return true;
}

bool url_char(char ch) {
  auto c = static_cast<unsigned char>(ch);
  if (c <= 0x20 || c == 0x7F) return false;
  return std::strchr("<>\"'`{}|\\^", c) == nullptr;
}

}  // namespace

namespace {

// SpamAssassin's end delimiters of a linkified address (PerMsgStatus.pm _tbirdurire:
// Thunderbird's, plus ",(\'" and any 8-bit byte); '@' also ends the local part.
bool address_char(char ch) {
  auto c = static_cast<unsigned char>(ch);
  if (c <= 0x20 || c >= 0x7F) return false;
  return std::strchr("<>\"`}]{[|,('", c) == nullptr;
}
// Its start delimiters (where an address may begin without a word boundary).
bool start_delim(char ch) {
  auto c = static_cast<unsigned char>(ch);
  return c <= 0x20 || std::strchr("<>\"'`,{[(|", c) != nullptr || c == 0x1B || c == 0xA0;
}
bool word_char(char c) { return is_alnum(c) || c == '_'; }

// RegistryBoundaries is_domain_valid() checks the last label against SpamAssassin's
// list of TLDs (util_rb_tld), which the MIME decoder does not have: we take 2 to 63
// ASCII letters, or an IDN "xn--" label, as a TLD.
bool plausible_domain(std::string_view host) {
  std::size_t dot = host.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  std::string_view tld = host.substr(dot + 1);
  if (tld.size() > 4 && starts_with_ci(tld, 0, "xn--")) return true;
  if (tld.size() < 2 || tld.size() > 63) return false;
  return std::all_of(tld.begin(), tld.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); });
}

// Bare addresses ("write to sales@example.com"), which SpamAssassin's text URI
// parser (_process_text_uri_list) turns into mailto: URIs: the linkified run around
// an '@', outside the URLs already found, trailing punctuation dropped, with a dot
// after the '@' and a domain ending in a TLD; "mail:" / "e-mail:" / "skype:" in front
// dropped. A '/' before the '@' makes it a URL, not an address (not reported here).
void find_addresses(std::string_view t, const std::vector<std::pair<std::size_t, std::size_t>>& spans,
                    std::vector<std::pair<std::size_t, std::string>>& out) {
  std::size_t next_free = 0;  // addresses do not overlap
  std::size_t si = 0;
  for (std::size_t at = t.find('@'); at != std::string_view::npos; at = t.find('@', at + 1)) {
    if (at < next_free) continue;
    while (si < spans.size() && spans[si].second <= at) ++si;
    if (si < spans.size() && spans[si].first <= at) continue;  // inside a URL
    std::size_t b = at;
    while (b > 0 && at - b < 251 && address_char(t[b - 1]) && t[b - 1] != '@') --b;
    if (si > 0) b = std::max(b, spans[si - 1].second);
    b = std::max(b, next_free);
    // The match starts at a word boundary or after a start delimiter.
    while (b < at && !(b == 0 || start_delim(t[b - 1]) || word_char(t[b - 1]) != word_char(t[b]))) ++b;
    if (b == at) continue;
    std::size_t e = at + 1;
    const std::size_t limit = si < spans.size() ? spans[si].first : t.size();
    while (e < limit && e - at <= 251 && address_char(t[e])) ++e;
    std::string_view a = t.substr(b, e - b);
    if (std::size_t paren = a.find(')'); paren != std::string_view::npos) a = a.substr(0, paren);
    while (!a.empty() && std::strchr("-~!@#^&*()_+=:;'?,.", a.back())) a.remove_suffix(1);
    std::size_t a_at = a.find('@');
    if (a_at == std::string_view::npos || a.find("&nbsp;") != std::string_view::npos) continue;
    if (a.substr(0, a_at).find('/') != std::string_view::npos) continue;  // a URL with user info
    if (a.find('.', a_at + 2) == std::string_view::npos) continue;
    // "mail:", "e-mail:", "skype:", ":" in front.
    std::size_t k = 0;
    for (std::string_view pre : {"skype", "e-mail", "email", "-mail", "mail"})
      if (starts_with_ci(a, 0, pre)) {
        k = pre.size();
        break;
      }
    if (k < a.size() && a[k] == ':') {
      while (k < a.size() && a[k] == ':') ++k;
      a.remove_prefix(k);
    } else {
      while (!a.empty() && a.front() == ':') a.remove_prefix(1);
    }
    a_at = a.find('@');
    if (a_at == std::string_view::npos || a_at == 0) continue;
    std::string_view host = a.substr(a_at + 1);
    host = host.substr(0, host.find_first_of("?&>"));
    while (host.size() >= 3 && host.substr(host.size() - 3) == "%20") host.remove_suffix(3);
    if (!plausible_domain(host)) continue;
    out.emplace_back(b, "mailto:" + std::string(a));
    next_free = e;
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
}

}  // namespace

void find_urls_at(std::string_view t, std::vector<std::pair<std::size_t, std::string>>& out, bool addresses) {
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // [begin, end) of each URL found
  static constexpr std::string_view kPrefixes[] = {"https://", "http://", "ftp://", "mailto:", "www."};
  for (std::size_t i = 0; i < t.size();) {
    char c = lower(t[i]);
    bool boundary = i == 0 || !(is_alnum(t[i - 1]) || t[i - 1] == '.' || t[i - 1] == '-' ||
                                t[i - 1] == '_' || t[i - 1] == '@');
    if (!boundary || (c != 'h' && c != 'f' && c != 'm' && c != 'w')) {
      ++i;
      continue;
    }
    std::string_view prefix;
    for (auto p : kPrefixes)
      if (starts_with_ci(t, i, p)) {
        prefix = p;
        break;
      }
    if (prefix.empty()) {
      ++i;
      continue;
    }
    std::size_t end = i + prefix.size();
    // A mailto: URI ends where a linkified address does (SpamAssassin's email delimiters).
    const bool mailto = prefix == "mailto:";
    while (end < t.size() && (mailto ? address_char(t[end]) : url_char(t[end]))) ++end;
    // Sentence punctuation after a URL is not part of it; a closing bracket is only
    // when the URL opened one.
    while (end > i + prefix.size()) {
      char last = t[end - 1];
      std::string_view sofar = t.substr(i, end - i);
      auto n = [&](char ch) { return std::count(sofar.begin(), sofar.end(), ch); };
      if (std::strchr(".,;:!?*", last) || (last == ')' && n('(') < n(')')) ||
          (last == ']' && n('[') < n(']')) || (last == '}' && n('{') < n('}'))) {
        --end;
        continue;
      }
      break;
    }
    std::string_view rest = t.substr(i + prefix.size(), end - i - prefix.size());
    bool ok = !rest.empty();
    if (prefix == "www.") ok = ok && is_alnum(rest[0]) && rest.find('.') != std::string_view::npos;
    if (prefix == "mailto:") ok = ok && rest.find('@') != std::string_view::npos;
    if (ok) {
      std::string url(t.substr(i, end - i));
      if (prefix == "www.") url = "http://" + url;
      out.emplace_back(i, std::move(url));
      spans.emplace_back(i, end);
      i = end;
    } else {
      i += prefix.size();
    }
  }
  if (addresses) find_addresses(t, spans, out);
}

namespace {

struct Entity {
  const char* name;
  char32_t cp;
};
// HTML named character references that matter for reading text; sorted by name.
constexpr Entity kEntities[] = {
    {"AElig", 0xC6},   {"Aacute", 0xC1},  {"Agrave", 0xC0},  {"Aring", 0xC5},   {"Atilde", 0xC3},
    {"Auml", 0xC4},    {"Ccedil", 0xC7},  {"Eacute", 0xC9},  {"Egrave", 0xC8},  {"Euml", 0xCB},
    {"Iacute", 0xCD},  {"Ntilde", 0xD1},  {"Oacute", 0xD3},  {"Ocirc", 0xD4},   {"Oslash", 0xD8},
    {"Ouml", 0xD6},    {"Uacute", 0xDA},  {"Uuml", 0xDC},    {"aacute", 0xE1},  {"acirc", 0xE2},
    {"aelig", 0xE6},   {"agrave", 0xE0},  {"amp", '&'},      {"apos", '\''},    {"aring", 0xE5},
    {"atilde", 0xE3},  {"auml", 0xE4},    {"bdquo", 0x201E}, {"brvbar", 0xA6},  {"bull", 0x2022},
    {"ccedil", 0xE7},  {"cent", 0xA2},    {"copy", 0xA9},    {"curren", 0xA4},  {"dagger", 0x2020},
    {"deg", 0xB0},     {"divide", 0xF7},  {"eacute", 0xE9},  {"ecirc", 0xEA},   {"egrave", 0xE8},
    {"emsp", 0x2003},  {"ensp", 0x2002},  {"euml", 0xEB},    {"euro", 0x20AC},  {"frac12", 0xBD},
    {"frac14", 0xBC},  {"frac34", 0xBE},  {"gt", '>'},       {"hellip", 0x2026}, {"iacute", 0xED},
    {"icirc", 0xEE},   {"iexcl", 0xA1},   {"igrave", 0xEC},  {"iquest", 0xBF},  {"iuml", 0xEF},
    {"laquo", 0xAB},   {"ldquo", 0x201C}, {"lsaquo", 0x2039}, {"lsquo", 0x2018}, {"lt", '<'},
    {"mdash", 0x2014}, {"micro", 0xB5},   {"middot", 0xB7},  {"nbsp", 0xA0},    {"ndash", 0x2013},
    {"not", 0xAC},     {"ntilde", 0xF1},  {"oacute", 0xF3},  {"ocirc", 0xF4},   {"ograve", 0xF2},
    {"ordf", 0xAA},    {"ordm", 0xBA},    {"oslash", 0xF8},  {"otilde", 0xF5},  {"ouml", 0xF6},
    {"para", 0xB6},    {"permil", 0x2030}, {"plusmn", 0xB1}, {"pound", 0xA3},   {"quot", '"'},
    {"raquo", 0xBB},   {"rdquo", 0x201D}, {"reg", 0xAE},     {"rsaquo", 0x203A}, {"rsquo", 0x2019},
    {"sbquo", 0x201A}, {"sect", 0xA7},    {"shy", 0xAD},     {"sup1", 0xB9},    {"sup2", 0xB2},
    {"sup3", 0xB3},    {"szlig", 0xDF},   {"thinsp", 0x2009}, {"times", 0xD7},  {"trade", 0x2122},
    {"uacute", 0xFA},  {"ucirc", 0xFB},   {"ugrave", 0xF9},  {"uml", 0xA8},     {"uuml", 0xFC},
    {"yacute", 0xFD},  {"yen", 0xA5},     {"yuml", 0xFF},    {"zwj", 0x200D},   {"zwnj", 0x200C},
};
// Accepted without the final ';', as browsers do.
constexpr std::string_view kLegacy[] = {"amp", "lt", "gt", "quot", "nbsp", "copy", "reg"};

const Entity* find_entity(std::string_view name) {
  auto it = std::lower_bound(std::begin(kEntities), std::end(kEntities), name,
                             [](const Entity& e, std::string_view n) { return std::string_view(e.name) < n; });
  return it != std::end(kEntities) && name == it->name ? it : nullptr;
}

// The character reference at s[i] == '&': its length (0 if none) and code point.
std::size_t decode_entity(std::string_view s, std::size_t i, char32_t& cp) {
  std::size_t j = i + 1;
  if (j < s.size() && s[j] == '#') {
    ++j;
    bool hex = j < s.size() && (s[j] == 'x' || s[j] == 'X');
    if (hex) ++j;
    std::size_t digits_at = j;
    std::uint32_t v = 0;
    for (; j < s.size(); ++j) {
      char c = s[j];
      int d = (c >= '0' && c <= '9') ? c - '0'
              : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
              : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                            : -1;
      if (d < 0) break;
      v = std::min<std::uint32_t>(v * (hex ? 16 : 10) + static_cast<std::uint32_t>(d), 0x110000);
    }
    if (j == digits_at) return 0;
    if (j < s.size() && s[j] == ';') ++j;
    if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) cp = 0xFFFD;
    else if (v >= 0x80 && v <= 0x9F) cp = cp1252_c1(static_cast<unsigned char>(v));
    else cp = v;
    return j - i;
  }
  while (j < s.size() && j - i <= 32 && is_alnum(s[j])) ++j;
  std::string_view name = s.substr(i + 1, j - i - 1);
  if (name.empty()) return 0;
  const Entity* e = find_entity(name);
  if (!e) return 0;
  bool semi = j < s.size() && s[j] == ';';
  if (!semi && std::find(std::begin(kLegacy), std::end(kLegacy), name) == std::end(kLegacy)) return 0;
  cp = e->cp;
  return j - i + (semi ? 1 : 0);
}

std::string decode_entities(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    std::size_t n = s[i] == '&' ? decode_entity(s, i, cp) : 0;
    if (n) {
      append_utf8(out, cp);
      i += n;
    } else {
      out += s[i++];
    }
  }
  return out;
}

// An href/src value as a URL we report, or "" (relative, javascript:, cid:, data:...).
std::string attribute_url(std::string_view raw) {
  std::string v;
  for (char c : decode_entities(raw))
    if (c != '\t' && c != '\r' && c != '\n') v += c;  // browsers drop these inside URLs
  std::size_t b = 0, e = v.size();
  while (b < e && (v[b] == ' ' || v[b] == '\f')) ++b;
  while (e > b && (v[e - 1] == ' ' || v[e - 1] == '\f')) --e;
  v = v.substr(b, e - b);
  for (std::string_view scheme : {"http:", "https:", "ftp:", "mailto:"})
    if (starts_with_ci(v, 0, scheme)) return v.size() > scheme.size() ? v : std::string();
  if (starts_with_ci(v, 0, "www.") && v.size() > 4) return "http://" + v;
  if (v.size() > 2 && v[0] == '/' && v[1] == '/') return "http:" + v;
  return {};
}

bool one_of(std::string_view name, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), name) != set.end();
}

class HtmlRenderer {
 public:
  HtmlRenderer(std::string_view in, std::size_t max_bytes) : in_(in), max_(max_bytes) {}

  void run() {
    std::size_t i = 0;
    while (i < in_.size() && !full_) {
      char c = in_[i];
      if (c == '<') {
        i = markup(i);
      } else if (c == '&') {
        char32_t cp = 0;
        // HTML.pm turns the exact "&nbsp;" into a space before parsing; other
        // spellings (&#160;, &NBSP) stay no-break spaces, white space to the body.
        std::size_t n = in_.compare(i, 6, "&nbsp;") == 0 ? 0 : decode_entity(in_, i, cp);
        if (in_.compare(i, 6, "&nbsp;") == 0) {
          run_ += ' ';
          i += 6;
        } else if (n) {
          append_utf8(run_, cp);
          i += n;
        } else {
          run_ += '&';
          ++i;
        }
      } else {
        std::size_t j = i + 1;
        while (j < in_.size() && in_[j] != '<' && in_[j] != '&') ++j;
        run_.append(in_.substr(i, j - i));
        i = j;
      }
    }
    flush_text();
  }

  std::string& out() { return out_; }
  bool truncated() const { return full_; }
  std::vector<std::pair<std::size_t, std::string>>& attr_urls() { return attr_urls_; }

 private:
  // The one place that enforces max_bytes: every output byte goes through here.
  void emit(std::string_view s) {
    if (full_) return;
    if (out_.size() + s.size() > max_) {
      full_ = true;
      return;
    }
    out_.append(s);
  }

  // HTML.pm display_text() for one run of text between markup (HTML::Parser's text
  // event): each white space run becomes one space, and the leading space goes when
  // the piece before was a tag's white space.
  void flush_text() {
    if (run_.empty()) return;
    std::string piece;
    piece.reserve(run_.size());
    for (std::size_t k = 0; k < run_.size();) {
      if (is_space(run_[k]) || run_[k] == '\v') {
        while (k < run_.size() && (is_space(run_[k]) || run_[k] == '\v')) ++k;
        piece += ' ';
      } else {
        piece += run_[k++];
      }
    }
    run_.clear();
    std::string_view v = piece;
    if (last_ws_ && !v.empty() && v.front() == ' ') v.remove_prefix(1);
    text_at_ = out_.size();
    emit(v);
    last_ws_ = false;
  }

  // HTML.pm html_whitespace(): the white space a tag stands for, after dropping one
  // trailing space of the text piece before it (not of another tag's white space).
  void tag_space(std::string_view ws) {
    flush_text();
    if (!last_ws_ && out_.size() > text_at_ && out_.back() == ' ') out_.pop_back();
    emit(ws);
    last_ws_ = true;
  }

  std::size_t find_ci(std::string_view needle, std::size_t from) const {
    for (std::size_t i = from; i + needle.size() <= in_.size(); ++i)
      if (starts_with_ci(in_, i, needle)) return i;
    return std::string_view::npos;
  }

  // Markup at in_[i] == '<'; returns the index after it.
  std::size_t markup(std::size_t i) {
    std::size_t n = in_.size();
    if (in_.compare(i, 4, "<!--") == 0) {
      flush_text();  // a comment ends a text event
      std::size_t e = in_.find("-->", i + 4);
      return e == std::string_view::npos ? n : e + 3;
    }
    bool closing = i + 1 < n && in_[i + 1] == '/';
    std::size_t j = i + (closing ? 2 : 1);
    bool tag = j < n && ((in_[j] >= 'a' && in_[j] <= 'z') || (in_[j] >= 'A' && in_[j] <= 'Z'));
    if (!closing && j < n && (in_[j] == '!' || in_[j] == '?')) {  // <!DOCTYPE>, <?xml?>, <![CDATA[
      flush_text();
      std::size_t e = in_.find('>', j);
      return e == std::string_view::npos ? n : e + 1;
    }
    if (!tag) {
      run_ += '<';
      return i + 1;
    }
    flush_text();  // before the tag's URLs, which sit at the output offset
    std::string name;
    while (j < n && (is_alnum(in_[j]) || in_[j] == '-' || in_[j] == ':')) name += lower(in_[j++]);
    // Attributes, honouring quotes, up to the closing '>'.
    while (j < n && in_[j] != '>') {
      if (is_space(in_[j]) || in_[j] == '/') {
        ++j;
        continue;
      }
      std::string attr;
      while (j < n && !is_space(in_[j]) && in_[j] != '=' && in_[j] != '>' && in_[j] != '/')
        attr += lower(in_[j++]);
      while (j < n && is_space(in_[j])) ++j;
      if (j >= n || in_[j] != '=') continue;
      ++j;
      while (j < n && is_space(in_[j])) ++j;
      std::size_t vb = j, ve = j;
      if (j < n && (in_[j] == '"' || in_[j] == '\'')) {
        char q = in_[j];
        std::size_t e = in_.find(q, j + 1);
        vb = j + 1;
        ve = e == std::string_view::npos ? n : e;
        j = e == std::string_view::npos ? n : e + 1;
      } else {
        while (j < n && !is_space(in_[j]) && in_[j] != '>') ++j;
        ve = j;
      }
      if (!closing && one_of(attr, {"href", "src", "action", "background"})) {
        std::string url = attribute_url(in_.substr(vb, ve - vb));
        if (!url.empty()) attr_urls_.emplace_back(out_.size(), std::move(url));
      }
    }
    j = j < n ? j + 1 : n;
    if (!closing && (name == "script" || name == "style")) {
      std::size_t e = find_ci(closing_tag(name), j);
      if (e == std::string_view::npos) return n;
      std::size_t gt = in_.find('>', e);
      return gt == std::string_view::npos ? n : gt + 1;
    }
    // A tag ends the text event before it, whatever the tag. HTML.pm's white space
    // (html_whitespace), for start and end tags alike: br, div one line break; p, hr,
    // blockquote, pre, title (and the obsolete listing, plaintext, xmp) a blank line;
    // li, td, th, dd, dt, h1-h6, embed a space. Other tags (table, tr, ul...) none.
    if (name == "br" || name == "div") {
      tag_space("\n");
    } else if (one_of(name, {"p", "hr", "blockquote", "pre", "title", "listing", "plaintext", "xmp"})) {
      tag_space("\n\n");
    } else if (one_of(name, {"li", "td", "th", "dd", "dt", "embed", "h1", "h2", "h3", "h4", "h5", "h6"})) {
      tag_space(" ");
    } else {
      flush_text();
    }
    return j;
  }

  static std::string closing_tag(const std::string& name) { return "</" + name; }

  std::string_view in_;
  std::size_t max_;
  std::string out_;
  std::string run_;       // text since the last markup, entities decoded, not yet emitted
  bool last_ws_ = false;  // the last piece emitted was a tag's white space
  std::size_t text_at_ = 0;  // where the last text piece starts in out_
  bool full_ = false;
  std::vector<std::pair<std::size_t, std::string>> attr_urls_;
};

}  // namespace
}  // namespace mime_detail

std::string render_html(std::string_view html, std::size_t max_bytes, bool* truncated,
                        std::vector<std::string>* urls, std::vector<std::string>* links) {
  mime_detail::HtmlRenderer r(html, max_bytes);
  r.run();
  if (truncated) *truncated = r.truncated();
  if (links)
    for (const auto& u : r.attr_urls()) links->push_back(u.second);
  if (urls) {
    // Attribute URLs sit at the output offset of their tag; merge them with the URLs
    // of the visible text so the list follows the document.
    auto all = std::move(r.attr_urls());
    std::size_t attrs = all.size();
    mime_detail::find_urls_at(r.out(), all);
    std::inplace_merge(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(attrs), all.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& u : all) urls->push_back(std::move(u.second));
  }
  return std::move(r.out());
}

void find_urls(std::string_view text, std::vector<std::string>& out, bool addresses) {
  std::vector<std::pair<std::size_t, std::string>> found;
  mime_detail::find_urls_at(text, found, addresses);
  for (auto& f : found) out.push_back(std::move(f.second));
}

std::string url_host(std::string_view url) {
  std::size_t colon = url.find(':');
  if (colon == std::string_view::npos) return {};
  std::string scheme;
  for (char c : url.substr(0, colon)) scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view rest = url.substr(colon + 1);
  if (scheme == "mailto") {
    rest = rest.substr(0, rest.find_first_of("?,"));
    std::size_t at = rest.rfind('@');
    if (at == std::string_view::npos) return {};
    rest = rest.substr(at + 1);
  } else {
    if (!rest.starts_with("//")) return {};
    rest.remove_prefix(2);
    rest = rest.substr(0, rest.find_first_of("/?#\\"));
    if (std::size_t at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
    if (rest.starts_with("[")) {
      std::size_t close = rest.find(']');
      rest = close == std::string_view::npos ? std::string_view() : rest.substr(1, close - 1);
    } else if (std::size_t port = rest.rfind(':'); port != std::string_view::npos) {
      rest = rest.substr(0, port);
    }
  }
  std::string host;
  for (char c : rest) host += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!host.empty() && host.back() == '.') host.pop_back();
  return host;
}

}  // namespace mxgate
