// SpamAssassin's BodyEval plugin (Plugin/BodyEval.pm), and the one-line body tests
// of TextCat and URIEval that need nothing but the message.
//
// Several of these tests depend on SpamAssassin's own view of the MIME tree: which
// text parts are alternatives of which multipart/alternative, the part types after
// SpamAssassin's normalisation (every text/* but html, calendar and x-vcard reads as
// text/plain), the order of leaves, the bytes of each leaf. MimeView keeps only the
// leaf text parts, converted to UTF-8, so SaTree below re-walks the raw message the
// way Message.pm splits it (its boundary rules, inherited boundaries, multipart/
// digest defaults, squashed blank lines, cut long lines), keeps each leaf's raw
// lines (decoded as Node.pm decode() does, for the byte counts), and lines its text
// leaves up with MimeView's text parts, whose rendered text we use for words. When
// the two walks disagree (count or types of text leaves), the tests fall back to
// MimeView's list of text parts, and the multipart/alternative tests, which need
// the tree, do not hit. (On the 500 messages of the public corpus they always agree.)
//
// Where we differ from SpamAssassin 4.0.1:
// - HTML is rendered by mxgate's renderer (mime.hpp render_html), not HTML.pm: the
//   words of an HTML part can differ, and HTML.pm's <p>, <title>, <hr> paragraph
//   breaks are line breaks there, so tvd_vertical_words reads other lines.
// - Perl's Unicode \w is approximated by code point ranges (word_cp): Latin,
//   Greek, Cyrillic, CJK letters are words; general punctuation, symbols, arrows,
//   box drawing, emoji and private use are not. (\s is scan_texts' perl_space_len.)
// - check_body_length counts the body with LF line ends (as SpamAssassin counts a
//   message handed to it by spamc or a pipe), not the CRLF of SMTP.
// - Blank lines of a message/rfc822 part's own body are not squashed again, and
//   base64 is decoded leniently (SpamAssassin's two decoders differ on bad input).
// - check_language and check_body_8bits (TextCat) never hit: both return 0 when
//   ok_languages contains "all", its default, and mxgate does not read ok_languages.
//   TextCat is not loaded by SpamAssassin's stock .pre files either.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/base64.hpp"
#include "base/text.hpp"
#include "filters/content/eval_tests.hpp"
#include "filters/mime/mime_text.hpp"

namespace mxgate {
namespace {

// ---------------------------------------------------------------------------
// Unicode approximation of Perl's \w on character strings (\s: perl_space_len).

// Decodes the UTF-8 sequence at s[i] (invalid bytes read as themselves, length 1).
char32_t code_point(std::string_view s, std::size_t i, std::size_t& len) {
  auto b = static_cast<unsigned char>(s[i]);
  len = 1;
  if (b < 0x80) return b;
  std::size_t n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
  if (n == 1 || i + n > s.size()) return b;
  char32_t cp = b & (0x3F >> (n - 1));
  for (std::size_t k = 1; k < n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return b;
    cp = (cp << 6) | (c & 0x3F);
  }
  len = n;
  return cp;
}

bool ascii_word(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

// Perl's \w (letters, marks, decimal digits, connector punctuation), by ranges.
bool word_cp(char32_t c) {
  if (c < 0x80) return ascii_word(static_cast<unsigned char>(c));
  if (c < 0xC0) return c == 0xAA || c == 0xB5 || c == 0xBA;
  if (c == 0xD7 || c == 0xF7) return false;
  if (c < 0x2000) return true;  // Latin .. Greek, Cyrillic, Hebrew, Arabic, Indic letters
  if (c < 0x2C00) {             // punctuation, symbols, arrows, math, boxes, dingbats
    return c == 0x200C || c == 0x200D || c == 0x203F || c == 0x2040 || c == 0x2054 || c == 0x2071 || c == 0x207F ||
           (c >= 0x2090 && c <= 0x209C) || (c >= 0x20D0 && c <= 0x20F0) || c == 0x2102 || c == 0x2107 ||
           (c >= 0x210A && c <= 0x2113) || c == 0x2115 || (c >= 0x2119 && c <= 0x211D) || c == 0x2124 ||
           c == 0x2126 || c == 0x2128 || (c >= 0x212A && c <= 0x212D) || (c >= 0x212F && c <= 0x2139) ||
           (c >= 0x213C && c <= 0x213F) || (c >= 0x2145 && c <= 0x2149) || c == 0x214E ||
           (c >= 0x2160 && c <= 0x2188) || (c >= 0x24B6 && c <= 0x24E9);
  }
  if (c >= 0x3000 && c <= 0x303F)
    return (c >= 0x3005 && c <= 0x3007) || (c >= 0x3021 && c <= 0x302F) || (c >= 0x3031 && c <= 0x3035) ||
           (c >= 0x3038 && c <= 0x303C);
  if (c >= 0xE000 && c <= 0xF8FF) return false;  // private use
  if (c >= 0xFE10 && c <= 0xFE6F) return (c >= 0xFE20 && c <= 0xFE2F) || c == 0xFE33 || c == 0xFE34 || (c >= 0xFE4D && c <= 0xFE4F);
  if (c >= 0xFF00 && c <= 0xFF65)
    return (c >= 0xFF10 && c <= 0xFF19) || (c >= 0xFF21 && c <= 0xFF3A) || c == 0xFF3F || (c >= 0xFF41 && c <= 0xFF5A);
  if (c >= 0xFFE0 && c <= 0xFFFF) return false;
  if (c >= 0x1F000 && c <= 0x1FAFF) return (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189);
  return true;
}

bool has_word_char(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t len = 1;
    if (word_cp(code_point(s, i, len))) return true;
    i += len;
  }
  return false;
}

// Calls f(token) for each run of non-white-space (Perl's split /\s+/, empties dropped).
template <typename F>
void for_each_token(std::string_view s, F&& f) {
  std::size_t i = 0, start = std::string_view::npos;
  while (i < s.size()) {
    std::size_t sp = perl_space_len(s, i);
    if (sp) {
      if (start != std::string_view::npos) f(s.substr(start, i - start));
      start = std::string_view::npos;
      i += sp;
    } else {
      if (start == std::string_view::npos) start = i;
      ++i;
    }
  }
  if (start != std::string_view::npos) f(s.substr(start));
}

// ---------------------------------------------------------------------------
// SpamAssassin's MIME tree (Message.pm _parse_multipart / _parse_normal).

constexpr int kSubparse = 20;          // Message.pm's default recursion levels
constexpr std::size_t kMaxParts = 1000;  // its per-multipart part limit, here for the whole tree
constexpr std::size_t kMaxLineLength = 2048;  // MAX_BODY_LINE_LENGTH
constexpr std::size_t kMaxBlankRun = 20;       // blank lines kept of a run in the raw message

struct SaPart {
  std::string type;   // as SpamAssassin normalises it: "text/plain", "multipart/alternative"
  std::string name;   // file name (Content-Disposition name=, else Content-Type name=)
  std::size_t parent = SIZE_MAX;
  std::size_t end = 0;  // one past the last descendant (parts are in pre-order)
  bool leaf = true;
  int text = -1;  // index in MimeView::text_parts, when lined up
  // A leaf's content as SpamAssassin keeps it: raw lines, their transfer encoding,
  // whether they came out of a multipart (long lines cut) and lost the line break
  // that belongs to the boundary after them.
  std::vector<std::string_view> lines;
  std::string cte;
  bool in_multipart = false;
  bool chomp = false;
};

struct SaTree {
  std::vector<SaPart> parts;
  bool aligned = false;  // every text leaf has its MimeView text part
};

struct ContentType {
  std::string type;
  std::optional<std::string> boundary;
  std::string name;
  bool missing = false;
};

bool word_byte(char c) { return ascii_word(static_cast<unsigned char>(c)); }

// Finds lower-case `word` in lower-cased `ls` at a word start (Perl's \bword), from `from`.
std::size_t find_word(std::string_view ls, std::string_view word, std::size_t from) {
  for (std::size_t p = ls.find(word, from); p != std::string_view::npos; p = ls.find(word, p + 1))
    if (p == 0 || !word_byte(ls[p - 1])) return p;
  return std::string_view::npos;
}

std::size_t skip_ascii_space(std::string_view s, std::size_t i) {
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

// Util.pm parse_content_type: the last Content-Type value, or none.
ContentType parse_content_type(std::optional<std::string_view> value) {
  ContentType ct;
  std::string v = value && !value->empty() && *value != "0" ? std::string(*value) : std::string();
  if (v.empty()) {
    ct.missing = true;
    v = "text/plain; charset=us-ascii";
  }
  // boundary = "..." (an opening quote suffices) or a token followed by space, ';' or the end.
  const std::string lv = lower(v);
  for (std::size_t p = find_word(lv, "boundary", 0); p != std::string_view::npos; p = find_word(lv, "boundary", p + 1)) {
    std::size_t i = skip_ascii_space(v, p + 8);
    if (i >= v.size() || v[i] != '=') continue;
    i = skip_ascii_space(v, i + 1);
    if (i < v.size() && v[i] == '"') {
      std::size_t e = v.find('"', i + 1);
      if (e == std::string::npos) e = v.size();
      if (e == i + 1) continue;
      ct.boundary = v.substr(i + 1, e - i - 1);
      break;
    }
    std::size_t e = i;
    while (e < v.size() && !is_space(v[e]) && v[e] != '"' && v[e] != ';') ++e;
    if (e == i || (e < v.size() && v[e] == '"')) continue;
    std::string b = v.substr(i, e - i);
    b.erase(std::remove(b.begin(), b.end(), '"'), b.end());
    ct.boundary = b;
    break;
  }
  // name= / filename=: up to the first ';', without surrounding quotes.
  for (std::size_t r = lv.find("name"); r != std::string::npos; r = lv.find("name", r + 1)) {
    bool file = r >= 4 && lv.compare(r - 4, 4, "file") == 0 && (r == 4 || !word_byte(lv[r - 5]));
    if (!file && r > 0 && word_byte(lv[r - 1])) continue;
    std::size_t i = skip_ascii_space(v, r + 4);
    if (i >= v.size() || v[i] != '=') continue;
    i = skip_ascii_space(v, i + 1);
    if (i < v.size() && (v[i] == '"' || v[i] == '\'')) ++i;
    std::size_t e = v.find(';', i);
    if (e == std::string::npos) e = v.size();
    std::size_t ce = e;
    if (ce > i && (v[ce - 1] == '"' || v[ce - 1] == '\'')) --ce;
    ct.name = v.substr(i, ce - i);
    break;
  }
  // The type: up to the first ';', "something/something" at most.
  std::string_view t = v;
  while (!t.empty() && is_space(t.front())) t.remove_prefix(1);
  t = t.substr(0, t.find(';'));
  std::size_t slash = t.find('/');
  if (slash != std::string_view::npos) {
    std::size_t e = slash + 1;
    while (e < t.size() && t[e] != '/' && !is_space(t[e])) ++e;
    t = t.substr(0, e);
  }
  ct.type = lower(t);
  if (ct.type.empty()) ct.missing = true;
  bool text = ct.type.starts_with("text") && (ct.type.size() == 4 || !word_byte(ct.type[4]));
  if (ct.type.empty() ||
      (text && ct.type != "text/x-vcard" && ct.type != "text/calendar" && ct.type != "text/html"))
    ct.type = "text/plain";
  return ct;
}

// A MimeView part type as SpamAssassin names it.
std::string sa_text_type(std::string_view gmime_type) {
  return parse_content_type(gmime_type.empty() ? std::string_view("text/plain") : gmime_type).type;
}

struct PartHeaders {
  std::vector<std::string> content_type;  // every Content-Type value
  std::string disposition;                // the last Content-Disposition value
  std::string cte;                        // the last Content-Transfer-Encoding, lower case
};

std::string unfold(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v)
    if (c != '\r' && c != '\n') out += c;
  return out;
}

void add_header(PartHeaders& h, std::string_view field) {
  std::size_t colon = field.find(':');
  if (colon == std::string_view::npos) return;
  std::string key = lower(trim(field.substr(0, colon)));
  std::size_t i = skip_ascii_space(field, colon + 1);
  std::string value = unfold(field.substr(i));
  if (key == "content-type") h.content_type.push_back(std::move(value));
  else if (key == "content-disposition") h.disposition = std::move(value);
  else if (key == "content-transfer-encoding") h.cte = lower(trim(value));
}

// A header field name followed by a colon (Message.pm's /^[\041-\071\073-\176]+[ \t]*:/).
bool header_start(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && line[i] >= 0x21 && line[i] <= 0x7E && line[i] != ':') ++i;
  if (i == 0) return false;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  return i < line.size() && line[i] == ':';
}

bool only_space(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return is_space(c); });
}

std::string part_name(const PartHeaders& h, const ContentType& ct) {
  // Content-Disposition: the first name= (filename= too), up to a quote or ';'.
  std::string ld = lower(h.disposition);
  std::size_t p = ld.find("name=");
  if (p != std::string::npos) {
    std::size_t i = skip_ascii_space(h.disposition, p + 5);
    if (i < h.disposition.size() && h.disposition[i] == '"') ++i;
    std::size_t e = i;
    while (e < h.disposition.size() && h.disposition[e] != '"' && h.disposition[e] != ';') ++e;
    if (e > i) return h.disposition.substr(i, e - i);
  }
  return ct.name;
}

class SaWalker {
 public:
  explicit SaWalker(std::vector<SaPart>& parts) : parts_(parts) {}

  std::size_t add(std::size_t parent, std::string type) {
    SaPart p;
    p.type = std::move(type);
    p.parent = parent;
    if (parent != SIZE_MAX) parts_[parent].leaf = false;
    parts_.push_back(std::move(p));
    return parts_.size() - 1;
  }

  // One entity: its headers parsed, its body lines.
  void entity(std::size_t idx, const PartHeaders& h, const std::optional<std::string>& boundary,
              std::span<const std::string_view> body, int subparse) {
    if (parts_[idx].type.starts_with("multipart/") && boundary && subparse > 0) {
      multipart(idx, *boundary, body, subparse);
    } else {
      normal(idx, h, boundary, body, subparse);
    }
    parts_[idx].end = parts_.size();
  }

  // A whole message (or message/rfc822 part): header section, then body.
  void message(std::size_t parent, std::span<const std::string_view> lines, int subparse) {
    PartHeaders h;
    std::string field;
    std::size_t i = 0, bad = 0;
    auto commit = [&] {
      if (!field.empty()) add_header(h, field);
      field.clear();
    };
    for (; i < lines.size(); ++i) {
      std::string_view l = lines[i];
      if (!l.empty() && (l[0] == ' ' || l[0] == '\t')) {
        field += l;
        continue;
      }
      commit();
      if (l == "\n" || l == "\r\n") {
        ++i;
        break;
      }
      if (l.starts_with("--")) break;
      if (!header_start(l) && ++bad > 3) break;
      field = std::string(l);  // an invalid one is collected too, and dropped for lacking a colon
    }
    commit();
    ContentType ct = parse_content_type(h.content_type.empty() ? std::nullopt
                                                               : std::optional<std::string_view>(h.content_type.back()));
    std::size_t idx = add(parent, ct.type);
    entity(idx, h, ct.boundary, lines.subspan(i), subparse);
  }

 private:
  void normal(std::size_t idx, const PartHeaders& h, const std::optional<std::string>& boundary,
              std::span<const std::string_view> body, int subparse) {
    ContentType ct = parse_content_type(h.content_type.empty() ? std::nullopt
                                                               : std::optional<std::string_view>(h.content_type.back()));
    SaPart& p = parts_[idx];
    if (!ct.missing) p.type = (!ct.type.starts_with("multipart/") || boundary) ? ct.type : "text/plain";
    p.name = part_name(h, ct);
    p.cte = h.cte;
    if (p.type.starts_with("message/") && p.type != "message/partial" && subparse > 0) {
      bool content = std::any_of(body.begin(), body.end(), [](std::string_view l) { return !l.empty(); });
      if ((p.type == "message/rfc822" || p.type == "message/global") && content) {
        if (parts_.size() < kMaxParts) message(idx, body, subparse - 1);
        return;
      }
    }
    p.lines.assign(body.begin(), body.end());
  }

  // "--boundary" then white space only; *last when it is the close-delimiter.
  static bool boundary_line(std::string_view l, std::string_view b, bool open_only, bool* last) {
    if (l.size() < b.size() + 2 || l[0] != '-' || l[1] != '-' || l.substr(2, b.size()) != b) return false;
    std::string_view rest = l.substr(2 + b.size());
    if (only_space(rest)) {
      if (last) *last = false;
      return true;
    }
    if (open_only || !rest.starts_with("--") || !only_space(rest.substr(2))) return false;
    if (last) *last = true;
    return true;
  }

  void multipart(std::size_t idx, const std::string& b, std::span<const std::string_view> body, int subparse) {
    parts_[idx].leaf = false;
    --subparse;
    // The preamble is dropped when an opening boundary is found.
    for (std::size_t i = 0; i < body.size(); ++i) {
      if (boundary_line(body[i], b, true, nullptr)) {
        body = body.subspan(i + 1);
        break;
      }
    }
    PartHeaders h;
    std::string field;
    bool in_body = false, nested = false;
    std::size_t body_start = 0, body_end = 0;
    bool have_body = false;
    std::size_t left = body.size();
    for (std::size_t i = 0; i < body.size(); ++i) {
      std::string_view l = body[i];
      bool last = false;
      bool end = boundary_line(l, b, false, &last);
      if (end && nested) {
        end = false;
        if (last) nested = false;
      }
      if (--left == 0 || end) {
        if (!end) {
          if (!have_body) body_start = i;
          have_body = true;
          body_end = i + 1;
        }
        if (parts_.size() >= kMaxParts) return;
        ContentType ct = parse_content_type(h.content_type.empty() ? std::nullopt
                                                                   : std::optional<std::string_view>(h.content_type.back()));
        std::string type = ct.type;
        if (ct.missing && parts_[idx].type == "multipart/digest") type = "message/rfc822";
        std::optional<std::string> pb = ct.boundary ? ct.boundary : std::optional<std::string>(b);
        std::size_t child = add(idx, type);
        std::span<const std::string_view> part_body;
        // The line break before a boundary belongs to it: the last line loses it,
        // and goes when nothing else was on it.
        bool chomp = have_body && end;
        if (chomp && (body[body_end - 1] == "\n" || body[body_end - 1] == "\r\n")) {
          --body_end;
          chomp = false;
        }
        if (have_body) part_body = body.subspan(body_start, body_end - body_start);
        parts_[child].in_multipart = true;
        parts_[child].chomp = chomp;
        entity(child, h, pb, part_body, subparse);
        if (last) return;
        h = PartHeaders{};
        field.clear();
        in_body = false;
        have_body = false;
        continue;
      }
      if (!in_body) {
        if (header_start(l)) {
          if (!field.empty()) add_header(h, field);
          field = std::string(l);
          continue;
        }
        if (!l.empty() && (l[0] == ' ' || l[0] == '\t') && !field.empty()) {
          field += l;
          continue;
        }
        if (!field.empty()) {
          add_header(h, field);
          // A part that declares its parent's boundary: one close-delimiter is its own.
          std::size_t colon = field.find(':');
          if (lower(trim(std::string_view(field).substr(0, colon))) == "content-type") {
            ContentType inner = parse_content_type(std::string_view(h.content_type.back()));
            if (inner.boundary && *inner.boundary == b) nested = true;
          }
          field.clear();
        }
        in_body = true;
        if (l == "\n" || l == "\r\n") continue;
      }
      if (!have_body) body_start = i;
      have_body = true;
      body_end = i + 1;
    }
  }

  std::vector<SaPart>& parts_;
};

std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t nl = s.find('\n', pos);
    std::size_t e = nl == std::string_view::npos ? s.size() : nl + 1;
    out.push_back(s.substr(pos, e - pos));
    pos = e;
  }
  return out;
}

SaTree build_tree(const EvalContext& ctx) {
  SaTree t;
  std::vector<std::string_view> lines = split_lines(ctx.msg.body());
  // Message.pm keeps at most 20 lines of each run of blank lines (21 at the very start).
  {
    std::vector<std::string_view> kept;
    kept.reserve(lines.size());
    std::size_t run = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      bool blank = only_space(lines[i]);
      run = blank ? run + 1 : 0;
      if (blank && run > kMaxBlankRun && i + 1 != run) continue;
      if (blank && i + 1 == run && run > kMaxBlankRun + 1) continue;
      kept.push_back(lines[i]);
    }
    lines = std::move(kept);
  }
  PartHeaders h;
  for (const HeaderField* f : ctx.msg.fields("Content-Type")) h.content_type.push_back(f->unfolded());
  if (const auto ctes = ctx.msg.fields("Content-Transfer-Encoding"); !ctes.empty())
    h.cte = lower(ctes.back()->unfolded());
  if (const auto cds = ctx.msg.fields("Content-Disposition"); !cds.empty()) h.disposition = cds.back()->unfolded();
  ContentType ct = parse_content_type(h.content_type.empty() ? std::nullopt
                                                             : std::optional<std::string_view>(h.content_type.back()));
  // A multipart body not starting with its boundary gets a blank line on top (Message.pm).
  static const std::string_view kBlank = "\n";
  if (ct.type.starts_with("multipart/") && lines.size() > 1 && !only_space(lines[0]) &&
      (!ct.boundary || !lines[0].starts_with("--" + *ct.boundary)))
    lines.insert(lines.begin(), kBlank);
  SaWalker w(t.parts);
  std::size_t root = w.add(SIZE_MAX, ct.type);
  w.entity(root, h, ct.boundary, lines, kSubparse);

  // Line the text leaves up with MimeView's text parts.
  std::vector<std::size_t> leaves;
  for (std::size_t i = 0; i < t.parts.size(); ++i)
    if (t.parts[i].leaf && t.parts[i].type.starts_with("text")) leaves.push_back(i);
  const auto& tps = ctx.view.text_parts;
  if (leaves.size() != tps.size()) return t;
  for (std::size_t k = 0; k < leaves.size(); ++k)
    if (sa_text_type(tps[k].content_type) != t.parts[leaves[k]].type) return t;
  for (std::size_t k = 0; k < leaves.size(); ++k) t.parts[leaves[k]].text = static_cast<int>(k);
  t.aligned = true;
  return t;
}

const SaTree& tree(EvalContext& ctx) {
  return ctx.fact<SaTree>([&] { return build_tree(ctx); });
}

// Util.pm qp_decode: trailing blanks dropped, soft breaks joined, =XX decoded.
std::string qp_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::size_t pos = 0;
  while (pos < in.size()) {
    std::size_t nl = in.find('\n', pos);
    std::size_t e = nl == std::string_view::npos ? in.size() : nl;
    std::string_view line = in.substr(pos, e - pos);
    bool has_nl = nl != std::string_view::npos;
    if (has_nl) {  // blanks before a line end go
      while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    }
    bool soft = has_nl && !line.empty() && line.back() == '=';
    if (soft) line.remove_suffix(1);
    for (std::size_t i = 0; i < line.size(); ++i) {
      int hi = 0, lo = 0;
      if (line[i] == '=' && i + 2 < line.size() && (hi = hex_value(line[i + 1])) >= 0 &&
          (lo = hex_value(line[i + 2])) >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
      } else {
        out += line[i];
      }
    }
    if (has_nl && !soft) out += '\n';
    pos = e + 1;
  }
  return out;
}

using mime_detail::crlf_to_lf;

// Node.pm decode(): the leaf's bytes as SpamAssassin holds them (LF line ends, lines
// of a multipart cut at 2048 bytes with a line break added), transfer-decoded.
std::string sa_decoded(const SaPart& p) {
  std::string raw;
  for (std::string_view l : p.lines) {
    std::string line(l);
    if (line.size() >= 2 && line[line.size() - 2] == '\r' && line.back() == '\n') line.erase(line.size() - 2, 1);
    std::string_view rest = line;
    if (p.in_multipart) {
      while (rest.size() > kMaxLineLength) {
        raw.append(rest.substr(0, kMaxLineLength));
        raw += '\n';
        rest.remove_prefix(kMaxLineLength);
      }
    }
    raw.append(rest);
  }
  if (p.chomp && !raw.empty() && raw.back() == '\n') raw.pop_back();
  if (p.cte == "quoted-printable") return crlf_to_lf(qp_decode(raw));
  if (p.cte == "base64") {
    std::string d = base64_decode_lenient(raw);  // as Util.pm base64_decode
    bool textual = p.type.starts_with("text") || p.type.starts_with("message");
    return textual ? crlf_to_lf(d) : d;
  }
  return raw;
}

bool html_name(std::string_view name) {
  std::string n = lower(name);
  return n.ends_with(".htm") || n.ends_with(".html") || n.ends_with(".shtm") || n.ends_with(".shtml");
}

// Node.pm rendered(): text/plain as decoded, text/html rendered; other types none.
struct Rendered {
  bool html = false;
  std::string_view text;
  std::shared_ptr<std::string> own;  // rendered here (a text/plain part named *.html)
};

std::optional<Rendered> rendered_of(const MimeTextPart& tp, std::string_view sa_type, bool named_html) {
  std::string_view eff = named_html ? std::string_view("text/html") : sa_type;
  if (eff != "text/plain" && eff != "text/html") return std::nullopt;
  Rendered r;
  r.html = eff == "text/html";
  if (r.html && !tp.html) {
    r.own = std::make_shared<std::string>(render_html(tp.decoded, MimeLimits{}.max_html_text_bytes));
    r.text = *r.own;
  } else {
    r.text = tp.rendered;
  }
  return r;
}

std::optional<Rendered> rendered_of(const EvalContext& ctx, const SaPart& p) {
  if (p.text < 0) return std::nullopt;
  return rendered_of(ctx.view.text_parts[static_cast<std::size_t>(p.text)], p.type, html_name(p.name));
}

// ---------------------------------------------------------------------------
// multipart_alternative_difference(_count)

struct Madiff {
  double diff = 0;        // highest share (%) of HTML words missing from the text part
  std::size_t html = 0;   // distinct HTML words of the last alternative that had any
  std::size_t text = 0;   // distinct text words of that alternative
};

// Whether the HTML has an <img> tag (HTML.pm's {inside}{img}), comments skipped.
bool has_img_tag(std::string_view html) {
  for (std::size_t i = html.find('<'); i != std::string_view::npos; i = html.find('<', i + 1)) {
    if (html.substr(i, 4) == "<!--") {
      std::size_t e = html.find("-->", i + 4);
      if (e == std::string_view::npos) return false;
      i = e + 2;
      continue;
    }
    std::size_t j = i + 1;
    if (j < html.size() && html[j] == '/') ++j;
    if (j + 3 > html.size() || !iequals(html.substr(j, 3), "img")) continue;
    j += 3;
    if (j == html.size() || is_space(html[j]) || html[j] == '/' || html[j] == '>') return true;
  }
  return false;
}

Madiff compute_madiff(EvalContext& ctx) {
  Madiff m;
  const SaTree& t = tree(ctx);
  if (!t.aligned) return m;
  const auto& ps = t.parts;
  // Exchange meeting requests (multipart/alternative of text/html and text/calendar) are skipped.
  if (ps[0].type == "multipart/alternative") {
    std::vector<std::size_t> kids;
    for (std::size_t i = 1; i < ps.size(); ++i)
      if (ps[i].parent == 0) kids.push_back(i);
    if (kids.size() == 2 && ps[kids[0]].leaf && ps[kids[0]].type == "text/html" && ps[kids[1]].leaf &&
        ps[kids[1]].type == "text/calendar")
      return m;
  }
  for (std::size_t a = 0; a < ps.size(); ++a) {
    const std::string& at = ps[a].type;
    if (!at.starts_with("multipart/alternative") ||
        (at.size() > 21 && word_byte(at[21])))
      continue;
    std::unordered_map<std::string_view, int> html, text;
    std::vector<std::shared_ptr<std::string>> keep;
    for (std::size_t i = a; i < ps[a].end; ++i) {
      if (!ps[i].type.starts_with("text")) continue;
      auto r = rendered_of(ctx, ps[i]);
      if (!r) continue;
      if (r->own) keep.push_back(r->own);
      auto& words = r->html ? html : text;
      for_each_token(r->text, [&](std::string_view w) {
        if (has_word_char(w)) ++words[w];
      });
      // An HTML part without words but with an image counts one pseudo-word.
      if (r->html && html.empty() && has_img_tag(ctx.view.text_parts[static_cast<std::size_t>(ps[i].text)].decoded))
        html["\n"] = 1;
    }
    std::size_t orig = html.size();
    if (orig == 0) continue;
    m.html = orig;
    m.text = text.size();
    for (const auto& [w, n] : text) {
      auto it = html.find(w);
      if (it != html.end() && it->second - n < 1) html.erase(it);
    }
    double diff = static_cast<double>(html.size()) / static_cast<double>(orig) * 100;
    m.diff = std::max(m.diff, diff);
  }
  return m;
}

const Madiff& madiff(EvalContext& ctx) {
  return ctx.fact<Madiff>([&] { return compute_madiff(ctx); });
}

std::string fmt(double v) {
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// ---------------------------------------------------------------------------
// The body as SpamAssassin's body evals see it (get_rendered_body_text_array):
// Subject, then every leaf's rendered text joined by "\n", paragraphs at blank
// lines, white space runs as one space, cut into lines of at most 2048 bytes.
// ctx.texts.body (scan_texts.cpp) is the same text from MimeView's parts; this one is
// built from SaTree's leaves because it differs: parts named *.html render as HTML,
// each part is cut at SpamAssassin's 50,000 bytes whatever content.max_body_part_bytes
// says, and the last line has no "\n". The pieces (sa_subject, append_collapsed) are
// scan_texts' own.

// Message.pm split_into_array_of_short_lines.
void short_lines(std::string_view s, std::vector<std::string>& out) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t nl = s.find('\n', pos);
    std::size_t e = nl == std::string_view::npos ? s.size() : nl + 1;
    std::string_view line = s.substr(pos, e - pos);
    while (line.size() > kMaxLineLength) {
      std::size_t sp = line.substr(0, kMaxLineLength + 1).rfind(' ');
      std::size_t len = sp == std::string_view::npos ? kMaxLineLength : sp + 1;
      out.emplace_back(line.substr(0, len));
      line.remove_prefix(len);
    }
    out.emplace_back(line);
    pos = e;
  }
}

// Truncation to body_part_scan_size: at a line end or space within 1 KiB, else hard.
std::string_view scan_cut(std::string_view s, std::size_t max, bool try_gt) {
  if (s.size() <= max) return s;
  for (char c : {'\n', '>', ' '}) {
    if (c == '>' && !try_gt) continue;
    std::size_t i = s.find(c, max);
    if (i != std::string_view::npos && i - max <= 1024) return s.substr(0, i + 1);
  }
  return s.substr(0, max);
}

struct BodyLines {
  std::vector<std::string> lines;
};

BodyLines compute_body_lines(EvalContext& ctx) {
  const SaTree& t = tree(ctx);
  std::string text;
  auto add = [&](const std::optional<Rendered>& r) {
    if (!text.empty()) text += '\n';  // every leaf, rendered or not, once text has begun
    if (r) text.append(scan_cut(r->text, 50'000, false));
  };
  if (t.aligned) {
    for (const auto& p : t.parts)
      if (p.leaf) add(rendered_of(ctx, p));
  } else {
    for (const auto& tp : ctx.view.text_parts) add(rendered_of(tp, sa_text_type(tp.content_type), false));
  }
  std::string collapsed = sa_subject(ctx.view) + "\n";
  append_collapsed(text, collapsed);
  BodyLines b;
  short_lines(collapsed, b.lines);
  return b;
}

const BodyLines& body_lines(EvalContext& ctx) {
  return ctx.fact<BodyLines>([&] { return compute_body_lines(ctx); });
}

// ---------------------------------------------------------------------------
// Decoded (not rendered) text of every text and message leaf but text/calendar:
// get_decoded_body_text_array, for check_blank_line_ratio.

// Message.pm split_into_array_of_short_paragraphs: pieces of 2048..4096 bytes.
template <typename F>
void short_paragraphs(std::string_view s, F&& f) {
  const std::size_t M = kMaxLineLength;
  if (s.size() <= M) {
    f(s);
    return;
  }
  std::size_t ofs = 0;
  while (s.size() - ofs > 2 * M) {
    std::size_t j = std::string_view::npos;
    for (char c : {'\n', '>', ' '}) {
      j = s.find(c, ofs + M);
      if (j != std::string_view::npos && j - ofs + 1 <= 2 * M) break;
      j = std::string_view::npos;
    }
    if (j == std::string_view::npos) j = ofs + M;
    f(s.substr(ofs, j - ofs + 1));
    ofs = j + 1;
  }
  if (ofs < s.size()) f(s.substr(ofs));
}

struct BlankLines {
  std::size_t lines = 0;
  std::size_t blank = 0;
};

// SpamAssassin keeps at most 20 lines of a run of blank lines in the raw message
// (Message.pm, before MIME parsing); `run` carries the current run across chunks.
void count_lines(std::string_view chunk, BlankLines& b, std::size_t& run, bool squash) {
  std::size_t pos = 0;
  while (pos < chunk.size()) {
    std::size_t nl = chunk.find('\n', pos);
    std::size_t e = nl == std::string_view::npos ? chunk.size() : nl + 1;
    if (only_space(chunk.substr(pos, e - pos))) {
      if (!squash || ++run <= kMaxBlankRun) {
        ++b.lines;
        ++b.blank;
      }
    } else {
      run = 0;
      ++b.lines;
    }
    pos = e;
  }
}

BlankLines compute_blank_lines(EvalContext& ctx) {
  const SaTree& t = tree(ctx);
  BlankLines b;
  auto text = [&](std::string_view s, bool squash) {
    std::size_t run = 0;
    short_paragraphs(scan_cut(s, 500'000, true), [&](std::string_view c) { count_lines(c, b, run, squash); });
  };
  // Decoded blank lines of base64 or quoted-printable ("=20") content need not be
  // blank in the raw message: only identity-encoded parts are squashed. (A raw run
  // of over 20 blank lines in a quoted-printable part is counted whole here.)
  auto squashed = [](const MimeTextPart& tp) {
    return tp.transfer_encoding != "base64" && tp.transfer_encoding != "quoted-printable";
  };
  if (t.aligned) {
    for (const auto& p : t.parts) {
      if (!p.leaf || p.type == "text/calendar") continue;
      if (!html_name(p.name) && !p.type.starts_with("text") && !p.type.starts_with("message")) continue;
      text(sa_decoded(p), false);  // the tree's raw lines are squashed already
    }
  } else {
    for (const auto& tp : ctx.view.text_parts)
      if (sa_text_type(tp.content_type) != "text/calendar") text(tp.decoded, squashed(tp));
  }
  return b;
}

// ---------------------------------------------------------------------------
// check_stock_info: labels of stock spam ("Symbol: XYZ", "Target Price: ...") in
// the first text/plain part.

std::size_t compute_stock_info(EvalContext& ctx) {
  const SaTree& t = tree(ctx);
  std::optional<Rendered> r;
  if (t.aligned) {
    auto it = std::find_if(t.parts.begin(), t.parts.end(), [](const SaPart& p) { return p.type == "text/plain"; });
    if (it == t.parts.end()) return 0;
    r = rendered_of(ctx, *it);
  } else {
    for (const auto& tp : ctx.view.text_parts) {
      if (sa_text_type(tp.content_type) != "text/plain") continue;
      r = rendered_of(tp, "text/plain", false);
      break;
    }
  }
  if (!r) return 0;
  // The label, lower-cased and reduced to a-z, ends in one of these (the first
  // anchored at the start too); the match starting leftmost names the hit.
  static const std::regex kLabel(
      "(^trad(?:e|ing)date|company(?:name)?|s\\w?(?:t\\w?o\\w?c\\w?k|y\\w?m(?:\\w?b\\w?o\\w?l)?)|t(?:arget|icker)|"
      "(?:opening|current)p(?:rice)?|p(?:rojected|osition)|expectations|weeks?high|marketperformance|"
      "(?:year|week|month|day|price)(?:target|estimates?)|sector|r(?:ecommendation|ating))$",
      std::regex::optimize);
  std::set<std::string> hits;
  auto ws = [](std::string_view s, std::size_t i) { return perl_space_len(s, i); };
  short_paragraphs(r->text, [&](std::string_view s) {
    // /^\s*([^:\s][^:\n]{2,29})\s*:\s*\S/mg, by hand: the label is at most 30 characters.
    std::size_t pos = 0;
    while (pos < s.size()) {
      std::size_t ls = pos;
      if (ls > 0 && s[ls - 1] != '\n') {
        ls = s.find('\n', ls);
        if (ls == std::string_view::npos) break;
        ++ls;
      }
      if (ls >= s.size()) break;
      std::size_t q = ls, sp = 0;
      while (q < s.size() && (sp = ws(s, q)) != 0) q += sp;
      bool matched = false;
      if (q < s.size() && s[q] != ':') {
        std::size_t e = q, chars = 0;
        while (e < s.size() && chars < 30 && s[e] != ':' && s[e] != '\n') {
          std::size_t len = 1;
          code_point(s, e, len);
          e += len;
          ++chars;
        }
        if (chars >= 3) {
          std::size_t c = e;
          while (c < s.size() && (sp = ws(s, c)) != 0) c += sp;
          if (c < s.size() && s[c] == ':') {
            std::size_t v = c + 1;
            while (v < s.size() && (sp = ws(s, v)) != 0) v += sp;
            if (v < s.size()) {
              matched = true;
              std::string label;
              for (char ch : s.substr(q, e - q)) {
                char l = ascii_lower(ch);
                if (l >= 'a' && l <= 'z') label += l;
              }
              // Every alternative ends in one of these letters: the regex runs rarely.
              std::smatch m;
              if (!label.empty() && std::string_view("deghklmnrsty").find(label.back()) != std::string_view::npos &&
                  std::regex_search(label, m, kLabel))
                hits.insert(m[1].str());
              std::size_t len = 1;
              code_point(s, v, len);
              pos = v + len;
            }
          }
        }
      }
      if (!matched) {
        std::size_t nl = s.find('\n', ls);
        if (nl == std::string_view::npos) break;
        pos = nl + 1;
      }
    }
  });
  return hits.size();
}

struct StockInfo {
  std::size_t count = 0;
};

// ---------------------------------------------------------------------------
// Signature of the first text/plain part (plaintext_* tests).

struct SigRatio {
  bool present = false;  // a text/plain part exists
  double body = 0, sig = 0, ratio = 0;
};

SigRatio compute_sig_ratio(EvalContext& ctx) {
  const SaTree& t = tree(ctx);
  SigRatio r;
  std::string text;
  if (t.aligned) {
    auto it = std::find_if(t.parts.begin(), t.parts.end(), [](const SaPart& p) { return p.type.starts_with("text/plain"); });
    if (it == t.parts.end()) return r;
    text = sa_decoded(*it);
  } else {
    auto it = std::find_if(ctx.view.text_parts.begin(), ctx.view.text_parts.end(),
                           [](const MimeTextPart& p) { return sa_text_type(p.content_type) == "text/plain"; });
    if (it == ctx.view.text_parts.end()) return r;
    text = it->decoded;
  }
  r.present = true;
  std::size_t len_b = text.size(), len_s = 0;
  // The last "-- " line that is not a decoy at the very end (4 bytes or fewer after it).
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::size_t e = nl == std::string::npos ? text.size() : nl;
    std::string_view line = std::string_view(text).substr(pos, e - pos);
    if ((line == "--" || line == "-- " || line == "--\r" || line == "-- \r") && text.size() - e > 4) {
      len_b = pos;
      len_s = text.size() - e;
    }
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  r.body = static_cast<double>(len_b);
  r.sig = static_cast<double>(len_s);
  r.ratio = len_s ? r.body / r.sig : 1e6;
  return r;
}

const SigRatio& sig_ratio(EvalContext& ctx) {
  return ctx.fact<SigRatio>([&] { return compute_sig_ratio(ctx); });
}

// ---------------------------------------------------------------------------
// Argument checks.

double num(const std::string& s) { return eval_number(s).value_or(0); }

std::function<std::string(const std::vector<std::string>&)> numbers(std::size_t min_n, std::size_t max_n,
                                                                    bool last_may_be_undef = false) {
  return [=](const std::vector<std::string>& a) -> std::string {
    if (a.size() < min_n || a.size() > max_n)
      return "expects " + std::to_string(min_n) + (max_n != min_n ? " to " + std::to_string(max_n) : "") +
             " numeric arguments";
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (last_may_be_undef && i + 1 == a.size() && a[i] == "undef") continue;
      if (!eval_number(a[i])) return "argument '" + a[i] + "' is not a number";
    }
    return {};
  };
}

EvalFunction plaintext_length(double SigRatio::*field, bool ratio) {
  return {[field, ratio](EvalContext& ctx, EvalArgs args) -> EvalResult {
            const SigRatio& s = sig_ratio(ctx);
            if (!s.present) return std::nullopt;
            double v = s.*field;
            if (v < num(args[0])) return std::nullopt;
            // plaintext_body_sig_ratio without a maximum always passes; the lengths too.
            if (args.size() > 1 && v > num(args[1])) return std::nullopt;
            return std::string(ratio ? "body/signature ratio " : "length ") + fmt(v);
          },
          {rules::Scope::Body}, numbers(1, 2)};
}

}  // namespace

void add_body_evals(EvalTable& t) {
  // The most HTML words (%) of one multipart/alternative that its text part lacks:
  // hits when above min (or min is 0) and at most max ("undef": no maximum).
  t["multipart_alternative_difference"] = {
      [](EvalContext& ctx, EvalArgs args) -> EvalResult {
        const Madiff& m = madiff(ctx);
        double min = num(args[0]);
        if (!(min == 0 || m.diff > min)) return std::nullopt;
        if (args[1] != "undef" && !(m.diff <= num(args[1]))) return std::nullopt;
        return fmt(m.diff) + "% of HTML words not in the text alternative";
      },
      {rules::Scope::Body}, numbers(2, 2, true)};
  // Distinct text words / distinct HTML words above ratio, with more than minhtml HTML words.
  t["multipart_alternative_difference_count"] = {
      [](EvalContext& ctx, EvalArgs args) -> EvalResult {
        const Madiff& m = madiff(ctx);
        if (!(static_cast<double>(m.html) > num(args[1]))) return std::nullopt;
        double r = static_cast<double>(m.text) / static_cast<double>(m.html);
        if (!(r > num(args[0]))) return std::nullopt;
        return std::to_string(m.text) + " text words, " + std::to_string(m.html) + " HTML words";
      },
      {rules::Scope::Body}, numbers(2, 2)};

  // Percentage of blank lines in the decoded text, -1 below minlines lines.
  t["check_blank_line_ratio"] = {
      [](EvalContext& ctx, EvalArgs args) -> EvalResult {
        const BlankLines& b = ctx.fact<BlankLines>([&] { return compute_blank_lines(ctx); });
        double minlines = args.size() > 2 ? num(args[2]) : 1;
        if (minlines < 1) minlines = 1;
        double r = static_cast<double>(b.lines) < minlines
                       ? -1
                       : 100.0 * static_cast<double>(b.blank) / static_cast<double>(b.lines);
        double min = num(args[0]), max = num(args[1]);
        if (!((min == 0 && r <= max) || (r > min && r <= max))) return std::nullopt;
        return fmt(r) + "% blank lines (" + std::to_string(b.blank) + " of " + std::to_string(b.lines) + ")";
      },
      {rules::Scope::Body}, numbers(2, 3)};

  // The highest spaces/non-spaces percentage of a body line longer than 5 bytes
  // ("v e r t i c a l" text): hits when min <= value < max (a max of 100 or more: 101).
  t["tvd_vertical_words"] = {
      [](EvalContext& ctx, EvalArgs args) -> EvalResult {
        struct Tvd {
          long value = -1;
        };
        const Tvd& v = ctx.fact<Tvd>([&] {
          Tvd r;
          for (const auto& l : body_lines(ctx).lines) {
            if (l.size() <= 5) continue;
            auto spaces = static_cast<std::size_t>(std::count(l.begin(), l.end(), ' '));
            std::size_t non = l.size() - spaces;
            long pct = (spaces > non || non == 0) ? 100 : static_cast<long>(100 * spaces / non);
            r.value = std::max(r.value, pct);
          }
          return r;
        });
        double min = num(args[0]), max = num(args[1]);
        if (max >= 100) max = 101;
        double value = static_cast<double>(v.value);
        if (!(value >= min && value < max)) return std::nullopt;
        return "space ratio " + std::to_string(v.value) + "%";
      },
      {rules::Scope::Body}, numbers(2, 2)};

  // Distinct stock-spam labels in the first text/plain part: at least min (or min 0).
  t["check_stock_info"] = {[](EvalContext& ctx, EvalArgs args) -> EvalResult {
                             const StockInfo& s =
                                 ctx.fact<StockInfo>([&] { return StockInfo{compute_stock_info(ctx)}; });
                             double min = num(args[0]);
                             if (!(min == 0 || static_cast<double>(s.count) >= min)) return std::nullopt;
                             return std::to_string(s.count) + " stock labels";
                           },
                           {rules::Scope::Body}, numbers(1, 1)};

  // The body as received (LF line ends) is at most min bytes.
  t["check_body_length"] = {[](EvalContext& ctx, EvalArgs args) -> EvalResult {
                              std::string_view body = ctx.msg.body();
                              std::size_t crlf = 0;
                              for (std::size_t p = body.find("\r\n"); p != std::string_view::npos;
                                   p = body.find("\r\n", p + 2))
                                ++crlf;
                              double len = static_cast<double>(body.size() - crlf);
                              if (!(len <= num(args[0]))) return std::nullopt;
                              return "body is " + std::to_string(body.size() - crlf) + " bytes";
                            },
                            {rules::Scope::Body}, numbers(1, 1)};

  // The first text/plain part split at its last signature delimiter ("-- ").
  t["plaintext_body_length"] = plaintext_length(&SigRatio::body, false);
  t["plaintext_sig_length"] = plaintext_length(&SigRatio::sig, false);
  t["plaintext_body_sig_ratio"] = plaintext_length(&SigRatio::ratio, true);

  // TextCat: both are 0 whenever ok_languages holds "all", its default.
  auto never = [](EvalContext&, EvalArgs) -> EvalResult { return std::nullopt; };
  t["check_language"] = {never, {rules::Scope::Body, rules::Scope::Header, rules::Scope::RawBody,
                                 rules::Scope::Full, rules::Scope::Uri}, nullptr};
  t["check_body_8bits"] = {never, {rules::Scope::Body}, nullptr};

  // URIEval: a URI longer than SpamAssassin keeps (MAX_URI_LENGTH, 8192 bytes).
  t["check_uri_truncated"] = {[](EvalContext& ctx, EvalArgs) -> EvalResult {
                                for (const auto& u : ctx.view.urls)
                                  if (u.size() > 8192) return "URI of " + std::to_string(u.size()) + " bytes";
                                return std::nullopt;
                              },
                              {rules::Scope::Body, rules::Scope::Header, rules::Scope::RawBody, rules::Scope::Full,
                               rules::Scope::Uri},
                              nullptr};
}

}  // namespace mxgate
