// SpamAssassin's MIMEEval plugin (Plugin/MIMEEval.pm): facts about the raw MIME
// structure, and the parse flags SpamAssassin's own parser (Message.pm) records.
//
// MimeView keeps only decoded text parts, but these tests look at what the parser
// saw on the way: every part's Content-Type / charset / Content-Transfer-Encoding /
// Content-Disposition, the encoded lines as written, unbalanced boundaries, parts
// without headers, text after the closing boundary: SpamAssassin's own parse
// (sa_message.hpp), summed up once per message here (MimeFacts).
//
// Differences from SpamAssassin 4.0.1, all on unusual input:
//   - the 64 KB total header size behind truncated_header is counted on the
//     unfolded field values, not on their RFC 2047-decoded form;
//   - ok_locales is "all" (SpamAssassin's default; mxgate reads no ok_locales):
//     check_for_faraway_charset and mime_faraway_charset never hit, as there.
//   - check_for_mime('mimepart_limit_exceeded'): Message.pm records the flag on
//     the message but check_for_mime reads the scan's own keys, so in 4.0.1
//     MIMEPART_LIMIT_EXCEEDED never hits; we keep that (check_msg_parse_flags
//     does see the flag).
// Not here: check_microsoft_executable and check_suspect_name belong to the
// AntiVirus plugin, which SpamAssassin does not load by default (v310.pre), so
// their stock rules never run there.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/base64.hpp"
#include "base/text.hpp"
#include "filters/content/eval_tests.hpp"
#include "filters/content/sa_message.hpp"
#include "filters/mime/mime_text.hpp"

namespace mxgate {
namespace {

using sa::ContentType;
using sa::Line;
using sa::parse_content_type;
using sa::perl_false;

bool is_word(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool contains(std::string_view s, std::string_view p) { return s.find(p) != std::string_view::npos; }

// Message.pm's parse flags (check_msg_parse_flags), then MIMEEval's own facts.
struct MimeFacts : sa::ParseFlags {
  // MIMEEval's _check_attachments.
  int base64_count = 0;
  bool base64_encoded_text = false;
  int html_count = 0;
  int text_count = 0;
  bool multipart_alternative = false;
  double multipart_ratio = 1.0;
  int qp_count = 0;  // after the walk: QP-encoded characters, as SpamAssassin overwrites it
  bool qp_long_line = false;
  double qp_ratio = 0;
  std::size_t qp_bytes = 0;
  int ascii_text_illegal = 0;
  double text_unicode_ratio = 0;
  int attachment = 0;
  bool bad_iso_charset = false;
  std::vector<std::string> charsets;  // mime_html_charsets

  std::size_t base64_length = 0;  // _check_base64_length
  bool ma_non_text = false;       // check_ma_non_text
  std::string ma_non_text_type;
};


// Occurrences of /=(?:09|3[0-9ABCEF]|[2456][0-9A-F]|7[0-9A-E])/ (QP-encoded
// characters that did not need encoding), minus the =09/=20 run ending the line.
int excess_qp(std::string_view s) {
  auto hexu = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  int n = 0;
  for (std::size_t i = 0; i + 2 < s.size(); ++i) {
    if (s[i] != '=') continue;
    char a = s[i + 1], c = s[i + 2];
    bool hit = (a == '0' && c == '9') || (a == '3' && hexu(c) && c != 'D') ||
               ((a == '2' || a == '4' || a == '5' || a == '6') && hexu(c)) || (a == '7' && hexu(c) && c != 'F');
    if (hit) {
      ++n;
      i += 2;
    }
  }
  if (n == 0) return 0;
  std::size_t end = s.size();
  while (end > 0 && is_space(s[end - 1])) --end;
  int trailing = 0;
  while (end >= 3 && s[end - 3] == '=' && ((s[end - 2] == '0' && s[end - 1] == '9') || (s[end - 2] == '2' && s[end - 1] == '0'))) {
    ++trailing;
    end -= 3;
  }
  return n - trailing;
}

// The substring test MIMEEval uses for "this charset is ASCII".
bool ascii_charset(std::string_view cs) {
  for (std::string_view a : {"us", "ascii", "ansi_x3.4-1968", "iso-ir-6", "ansi_x3.4-1986", "iso_646.irv:1991",
                             "ibm367", "cp367"})
    if (contains(cs, a)) return true;
  return false;
}

// /iso-\S+-\S+\b/ and not /iso-(?:8859-\d{1,2}|2022-(?:jp|kr))\b/ (cs lower case).
bool bad_iso_charset(std::string_view cs) {
  bool bad = false;
  for (std::size_t p = cs.find("iso-"); p != std::string_view::npos && !bad; p = cs.find("iso-", p + 1)) {
    std::size_t s = p + 4, e = s;
    while (e < cs.size() && !is_space(cs[e])) ++e;
    std::string_view t = cs.substr(s, e - s);
    std::size_t dash = t.find('-', 1);
    if (dash == std::string_view::npos) continue;
    // a word boundary somewhere after at least one character past the dash
    for (std::size_t k = dash + 2; k <= t.size() && !bad; ++k) {
      bool before = is_word(t[k - 1]);
      bool after = k < t.size() ? is_word(t[k]) : (s + k < cs.size() ? is_word(cs[s + k]) : false);
      bad = before != after;
    }
  }
  if (!bad) return false;
  for (std::size_t p = cs.find("iso-"); p != std::string_view::npos; p = cs.find("iso-", p + 1)) {
    std::string_view r = cs.substr(p + 4);
    if (starts_with(r, "8859-")) {
      std::size_t d = 5;
      while (d < r.size() && r[d] >= '0' && r[d] <= '9') ++d;
      if ((d == 6 || d == 7) && (d == r.size() || !is_word(r[d]))) return false;
    }
    if ((starts_with(r, "2022-jp") || starts_with(r, "2022-kr")) && (r.size() == 7 || !is_word(r[7]))) return false;
  }
  return true;
}

// /&#x[0-9A-F]{4};/g on one line: how many, and the length without them.
std::pair<int, std::size_t> unicode_entities(const Line& l) {
  std::string_view s = l.text();
  int n = 0;
  std::size_t removed = 0;
  auto hexu = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  for (std::size_t i = 0; i + 8 <= s.size();) {
    if (s.compare(i, 3, "&#x") == 0 && hexu(s[i + 3]) && hexu(s[i + 4]) && hexu(s[i + 5]) && hexu(s[i + 6]) &&
        s[i + 7] == ';') {
      ++n;
      removed += 8;
      i += 8;
    } else {
      ++i;
    }
  }
  return {n, l.perl_len() - removed};
}

MimeFacts analyse(EvalContext& ctx) {
  const sa::Message& msg = sa::message(ctx);
  const std::deque<sa::Part>& nodes = msg.parts;
  MimeFacts f;
  static_cast<sa::ParseFlags&>(f) = msg.flags;

  std::size_t qp_bytes = 0;
  long qp_count = 0;
  std::size_t normal_chars = 0;
  long unicode_chars = 0;
  std::vector<std::pair<std::string, std::optional<std::size_t>>> parts;  // type, bytes (none: attachment)

  for (std::size_t idx : msg.find_parts()) {
    const sa::Part& p = nodes[idx];

    // check_ma_non_text: the direct leaf children of a multipart/alternative.
    if (!f.ma_non_text && p.type == "multipart/alternative") {
      for (std::size_t c : p.children) {
        const sa::Part& k = nodes[c];
        if (!k.leaf || k.type.empty() || k.type == "multipart/related" || k.type == "application/rtf" ||
            istarts_with(k.type, "text/"))
          continue;
        f.ma_non_text = true;
        f.ma_non_text_type = k.type;
        break;
      }
    }

    ContentType ct = parse_content_type(p.get_header("content-type"));
    const std::string& ctype = ct.type;
    if (ctype == "multipart/alternative") f.multipart_alternative = true;
    std::string cte = lower(p.last("content-transfer-encoding").value_or(""));
    std::string cd = lower(p.last("content-disposition").value_or(""));
    std::optional<std::string> charset = ct.charset;
    if (!perl_false(charset)) charset = lower(*charset);
    std::string cs = perl_false(charset) ? std::string() : *charset;

    // _check_mime_header
    if (ctype == "text/html") ++f.html_count;
    else if (istarts_with(ctype, "text")) ++f.text_count;
    if (contains(cte, "base64")) ++f.base64_count;
    else if (contains(cte, "quoted-printable")) ++f.qp_count;
    if (contains(cd, "attachment")) ++f.attachment;
    if (starts_with(ctype, "text") && contains(cte, "base64") && (cs.empty() || ascii_charset(cs)) &&
        !(starts_with(cd, "attachment") || starts_with(cd, "inline")))
      f.base64_encoded_text = true;
    if (bad_iso_charset(cs)) f.bad_iso_charset = true;
    if (std::any_of(cs.begin(), cs.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }))
      f.charsets.push_back(cs);

    if (!p.leaf) continue;
    // _check_base64_length (leaves; its content type is the same parse)
    if (ctype != "application/ics" && cte == "base64")
      for (const Line& l : p.raw) f.base64_length = std::max(f.base64_length, l.perl_len());

    bool attached = contains(cd, "attachment");
    parts.push_back({ctype, attached ? std::nullopt : std::optional<std::size_t>(0)});
    bool count_bytes = !attached && (ctype == "text/plain" || ctype == "text/html");
    bool qp = cte == "quoted-printable";
    bool ascii = ctype == "text/plain" && (!charset || *charset == "us-ascii");
    bool unicode = ctype == "text/plain" && (cte.empty() || cte == "7bit" || cte == "8bit");
    for (const Line& l : p.raw) {
      std::size_t len = l.perl_len();
      if (f.multipart_alternative && count_bytes) *parts.back().second += len;
      if (qp && !starts_with(l.text(), "SPAM: ")) {
        if (len > 78 + 1) f.qp_long_line = true;  // RFC 5322's 78, as bug 5491 settled
        qp_bytes += len;
        if (contains(l.text(), "=")) qp_count += excess_qp(l.text());
      }
      if (ascii) {
        std::string_view t = l.text();
        if (std::any_of(t.begin(), t.end(), [](char c) {
              auto u = static_cast<unsigned char>(c);
              return u == 0 || u == 0x0d || u >= 0x80;
            }))
          ++f.ascii_text_illegal;
      }
      if (unicode) {
        auto [subs, rest] = unicode_entities(l);
        normal_chars += rest;
        unicode_chars += subs;
      }
    }
  }

  if (qp_bytes) {
    f.qp_ratio = static_cast<double>(qp_count) / static_cast<double>(qp_bytes);
    f.qp_count = static_cast<int>(qp_count);
    f.qp_bytes = qp_bytes;
  }
  if (normal_chars) f.text_unicode_ratio = static_cast<double>(unicode_chars) / static_cast<double>(normal_chars);
  if (f.multipart_alternative) {
    // The sizes of the last text/plain and text/html parts (bug 4207).
    std::optional<std::size_t> text, html;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      if (!it->second) continue;
      if (!html && it->first == "text/html") html = it->second;
      else if (!text && it->first == "text/plain") text = it->second;
      if (html && text) break;
    }
    if (text && html && *html > 0) f.multipart_ratio = static_cast<double>(*text) / static_cast<double>(*html);
  }
  return f;
}

const MimeFacts& facts(EvalContext& ctx) {
  return ctx.fact<MimeFacts>([&] { return analyse(ctx); });
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string expect_args(const std::vector<std::string>& args, std::size_t min, std::size_t max) {
  if (args.size() < min || args.size() > max)
    return min == max ? "expects " + std::to_string(min) + " argument(s)"
                      : "expects " + std::to_string(min) + " to " + std::to_string(max) + " arguments";
  return "";
}

std::string numeric_args(const std::vector<std::string>& args, std::size_t min, std::size_t max) {
  if (auto e = expect_args(args, min, max); !e.empty()) return e;
  for (const auto& a : args)
    if (!eval_number(a)) return "'" + a + "' is not a number";
  return "";
}

// check_for_mime(key): the keys _check_attachments leaves in the scan. Any other
// key reads as 0, as in SpamAssassin (mimepart_limit_exceeded is one: see above).
EvalResult check_for_mime(EvalContext& ctx, EvalArgs args) {
  if (args.empty()) return std::nullopt;
  const MimeFacts& f = facts(ctx);
  const std::string& key = args[0];
  auto count = [](int n, const char* what) -> EvalResult {
    if (n <= 0) return std::nullopt;
    return std::to_string(n) + " " + what;
  };
  auto flag = [](bool b, const char* what) -> EvalResult {
    if (!b) return std::nullopt;
    return std::string(what);
  };
  if (key == "mime_base64_count") return count(f.base64_count, "base64 part(s)");
  if (key == "mime_qp_count") return count(f.qp_count, "QP-encoded characters that needed no encoding");
  if (key == "mime_base64_encoded_text") return flag(f.base64_encoded_text, "base64-encoded ASCII text part");
  if (key == "mime_body_html_count") return count(f.html_count, "text/html part(s)");
  if (key == "mime_body_text_count") return count(f.text_count, "text part(s)");
  if (key == "mime_missing_boundary") return flag(f.missing_boundary, "a multipart boundary opened but not closed");
  if (key == "mime_multipart_alternative") return flag(f.multipart_alternative, "multipart/alternative");
  if (key == "mime_multipart_ratio")
    return f.multipart_ratio != 0 ? EvalResult("text/html size ratio " + number(f.multipart_ratio)) : std::nullopt;
  if (key == "mime_qp_long_line") return flag(f.qp_long_line, "quoted-printable line over 78 characters");
  if (key == "mime_qp_ratio")
    return f.qp_ratio != 0 ? EvalResult("QP ratio " + number(f.qp_ratio)) : std::nullopt;
  if (key == "mime_qp_bytes")
    return f.qp_bytes ? EvalResult(std::to_string(f.qp_bytes) + " QP bytes") : std::nullopt;
  if (key == "mime_ascii_text_illegal") return count(f.ascii_text_illegal, "us-ascii line(s) with 8-bit, NUL or CR");
  if (key == "mime_text_unicode_ratio")
    return f.text_unicode_ratio != 0 ? EvalResult("&#x entity ratio " + number(f.text_unicode_ratio)) : std::nullopt;
  if (key == "mime_attachment") return count(f.attachment, "attachment(s)");
  if (key == "mime_bad_iso_charset") return flag(f.bad_iso_charset, "unknown iso- charset");
  if (key == "mime_html_charsets") {
    if (f.charsets.empty()) return std::nullopt;
    std::string all;
    for (const auto& c : f.charsets) all += (all.empty() ? "" : " ") + c;
    return all == "0" ? std::nullopt : EvalResult(all);
  }
  if (key == "mime_checked_attachments") return std::string();
  return std::nullopt;  // mime_faraway_charset (ok_locales all), unknown keys
}

// The top-level Content-Type starts with text/html (SpamAssassin's get() joins
// the fields; only the first one's start counts).
bool top_html(EvalContext& ctx) {
  auto ct = ctx.get("Content-Type");
  return ct && istarts_with(*ct, "text/html");
}

// get_charset_from_ct_line
std::optional<std::string> charset_from_ct_line(std::string_view ct) {
  std::string low = lower(ct);
  for (char q : {'"', '\''}) {
    for (std::size_t p = low.find("charset="); p != std::string::npos; p = low.find("charset=", p + 1)) {
      std::size_t s = p + 8;
      if (s < ct.size() && ct[s] == q) {
        std::size_t e = ct.find(q, s + 1);
        if (e != std::string_view::npos && e > s + 1) return std::string(ct.substr(s + 1, e - s - 1));
      }
    }
  }
  std::size_t p = low.find("charset=");
  if (p == std::string::npos) return std::nullopt;
  std::size_t s = p + 8, e = s;
  while (e < ct.size() && !is_space(ct[e])) ++e;
  if (e == s) {
    for (p = low.find("charset=", p + 1); p != std::string::npos; p = low.find("charset=", p + 1)) {
      s = p + 8;
      e = s;
      while (e < ct.size() && !is_space(ct[e])) ++e;
      if (e > s) break;
    }
    if (e == s) return std::nullopt;
  }
  return std::string(ct.substr(s, e - s));
}

// CHARSETS_LIKELY_TO_FP_AS_CAPS, anchored.
bool caps_charset(std::string_view cs) {
  std::string low = lower(cs);
  if (low.empty()) return false;
  for (char c : low)
    if (!is_word(c) && c != '-') return false;
  for (std::string_view k : {"koi", "jp", "jis", "euc", "gb", "big5", "isoir", "cp1251", "windows-1251", "georgianps",
                             "pt154", "tis"})
    if (contains(low, k)) return true;
  return false;
}

struct UppercaseFact {
  double percent = 0;
};

// check_for_uppercase: the share of capitals among letters and digits in the body
// paragraphs with words, once there are 200 characters of them. It reads the body
// text mxgate renders (ScanTexts), so it differs where that text does; SpamAssassin
// also cuts long paragraphs into short lines first, which we do not. Below 200
// characters SpamAssassin's first call answers no whatever the range; we read the
// share as 0 for every call (the same for every stock range, all above 0).
double uppercase_percent(EvalContext& ctx) {
  const MimeFacts& f = facts(ctx);
  std::vector<std::string> charsets;
  if (auto ct = ctx.get("Content-Type"))
    if (auto cs = charset_from_ct_line(*ct)) charsets.push_back(*cs);
  for (const auto& c : f.charsets) charsets.push_back(c);
  for (const auto& c : charsets)
    if (caps_charset(c)) return 0;
  std::string_view body = ctx.texts.body.text;
  std::size_t len = 0, lower_n = 0, upper_n = 0;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t e = body.find('\n', pos);
    if (e == std::string_view::npos) e = body.size();
    std::string_view line = body.substr(pos, e - pos);
    bool nl = e < body.size();
    pos = e + 1;
    // only lines with two words (/\S\s+\S/)
    bool words = false;
    for (std::size_t i = 1; i + 1 < line.size() && !words; ++i)
      if (is_space(line[i]) && !is_space(line[i - 1])) {
        std::size_t j = i;
        while (j < line.size() && is_space(line[j])) ++j;
        words = j < line.size();
      }
    if (!words) continue;
    // base64 left in forwarded messages: /^(?:[A-Za-z0-9+\/=]{60,76} ){2}/
    auto b64run = [&](std::size_t at) -> std::size_t {
      std::size_t j = at;
      while (j < line.size() && j - at < 77 && (is_word(line[j]) ? line[j] != '_' : (line[j] == '+' || line[j] == '/' || line[j] == '='))) ++j;
      std::size_t n = j - at;
      return (n >= 60 && n <= 76 && j < line.size() && line[j] == ' ') ? n + 1 : 0;
    };
    if (std::size_t a = b64run(0))
      if (b64run(a)) continue;
    // Shift-JIS escapes out: s/\x1b\$B.*\x1b\(B//gs (greedy, within the line)
    std::string copy;
    std::size_t esc = line.find("\x1b$B");
    if (esc != std::string_view::npos) {
      std::size_t end = line.rfind("\x1b(B");
      if (end != std::string_view::npos && end >= esc + 3) {
        copy = std::string(line.substr(0, esc)) + std::string(line.substr(end + 3));
        line = copy;
      }
    }
    len += line.size() + (nl ? 1 : 0);
    for (char c : line) {
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) ++lower_n;
      else if (c >= 'A' && c <= 'Z') ++upper_n;
    }
  }
  if (len < 200 || upper_n + lower_n == 0) return 0;
  return static_cast<double>(upper_n) / static_cast<double>(upper_n + lower_n) * 100;
}

}  // namespace

void add_mime_evals(EvalTable& t) {
  using rules::Scope;
  const std::vector<Scope> kBody{Scope::Body, Scope::RawBody};

  t["check_for_mime"] = {check_for_mime, kBody,
                         [](const std::vector<std::string>& a) { return expect_args(a, 1, 1); }};

  t["check_for_mime_html"] = {[](EvalContext& ctx, EvalArgs) -> EvalResult {
                                if (top_html(ctx)) return std::string("Content-Type: text/html");
                                int n = facts(ctx).html_count;
                                if (n > 0) return std::to_string(n) + " text/html part(s)";
                                return std::nullopt;
                              },
                              kBody, [](const std::vector<std::string>& a) { return expect_args(a, 0, 0); }};

  t["check_for_mime_html_only"] = {[](EvalContext& ctx, EvalArgs) -> EvalResult {
                                     if (top_html(ctx)) return std::string("Content-Type: text/html");
                                     const MimeFacts& f = facts(ctx);
                                     if (f.html_count > 0 && f.text_count == 0)
                                       return std::to_string(f.html_count) + " text/html part(s), no other text";
                                     return std::nullopt;
                                   },
                                   kBody, [](const std::vector<std::string>& a) { return expect_args(a, 0, 0); }};

  t["check_mime_multipart_ratio"] = {[](EvalContext& ctx, EvalArgs a) -> EvalResult {
                                       auto lo = eval_number(a.size() > 0 ? a[0] : "");
                                       auto hi = eval_number(a.size() > 1 ? a[1] : "");
                                       if (!lo || !hi) return std::nullopt;
                                       double r = facts(ctx).multipart_ratio;
                                       if (r >= *lo && r < *hi) return "text/plain is " + number(r) + " of text/html";
                                       return std::nullopt;
                                     },
                                     kBody, [](const std::vector<std::string>& a) { return numeric_args(a, 2, 2); }};

  // Registered by MIMEEval with a rule type Conf.pm does not know, so SpamAssassin
  // accepts it from header and body rules alike (HEAD_LONG, MISSING_MIME_HB_SEP).
  t["check_msg_parse_flags"] = {[](EvalContext& ctx, EvalArgs a) -> EvalResult {
                                  if (a.empty()) return std::nullopt;
                                  const MimeFacts& f = facts(ctx);
                                  const std::string& k = a[0];
                                  bool on = (k == "missing_head_body_separator" && f.missing_head_body_separator) ||
                                            (k == "truncated_header" && f.truncated_header) ||
                                            (k == "missing_mime_head_body_separator" &&
                                             f.missing_mime_head_body_separator) ||
                                            (k == "missing_mime_headers" && f.missing_mime_headers) ||
                                            (k == "mime_epilogue_exists" && f.mime_epilogue_exists) ||
                                            (k == "mimepart_limit_exceeded" && f.mimepart_limit_exceeded);
                                  if (on) return k;
                                  return std::nullopt;
                                },
                                {Scope::Header, Scope::Body, Scope::RawBody},
                                [](const std::vector<std::string>& a) { return expect_args(a, 1, 1); }};

  t["check_for_ascii_text_illegal"] = {[](EvalContext& ctx, EvalArgs) -> EvalResult {
                                         int n = facts(ctx).ascii_text_illegal;
                                         if (n > 0) return std::to_string(n) + " us-ascii line(s) with 8-bit, NUL or CR";
                                         return std::nullopt;
                                       },
                                       kBody, [](const std::vector<std::string>& a) { return expect_args(a, 0, 0); }};

  // The ratio must look like 0.02 (SpamAssassin silently never hits otherwise;
  // we refuse the rule at load instead).
  auto ratio_ok = [](std::string_view r) {
    std::size_t dot = r.find('.');
    if (dot == std::string_view::npos || dot > 3 || r.size() - dot - 1 < 1 || r.size() - dot - 1 > 3) return false;
    for (std::size_t i = 0; i < r.size(); ++i)
      if (i != dot && !(r[i] >= '0' && r[i] <= '9')) return false;
    return true;
  };
  t["check_abundant_unicode_ratio"] = {
      [ratio_ok](EvalContext& ctx, EvalArgs a) -> EvalResult {
        if (a.empty() || !ratio_ok(a[0])) return std::nullopt;
        double min = eval_number(a[0]).value_or(0);
        double r = facts(ctx).text_unicode_ratio;
        if (r >= min) return "&#x entity ratio " + number(r);
        return std::nullopt;
      },
      kBody, [ratio_ok](const std::vector<std::string>& a) -> std::string {
        if (auto e = expect_args(a, 1, 1); !e.empty()) return e;
        return ratio_ok(a[0]) ? "" : "ratio '" + a[0] + "' is not like 0.02";
      }};

  // ok_locales "all": never hits (see the top of this file).
  t["check_for_faraway_charset"] = {[](EvalContext&, EvalArgs) -> EvalResult { return std::nullopt; }, kBody,
                                    [](const std::vector<std::string>& a) { return expect_args(a, 0, 0); }};

  t["check_for_uppercase"] = {[](EvalContext& ctx, EvalArgs a) -> EvalResult {
                                auto lo = eval_number(a.size() > 0 ? a[0] : "");
                                auto hi = eval_number(a.size() > 1 ? a[1] : "");
                                if (!lo || !hi) return std::nullopt;
                                double pct = ctx.fact<UppercaseFact>([&] { return UppercaseFact{uppercase_percent(ctx)}; }).percent;
                                if (pct > *lo && pct <= *hi) {
                                  char buf[32];
                                  std::snprintf(buf, sizeof buf, "%.2f%% capitals", pct);
                                  return std::string(buf);
                                }
                                return std::nullopt;
                              },
                              kBody, [](const std::vector<std::string>& a) { return numeric_args(a, 2, 2); }};

  t["check_ma_non_text"] = {[](EvalContext& ctx, EvalArgs) -> EvalResult {
                              const MimeFacts& f = facts(ctx);
                              if (f.ma_non_text) return "multipart/alternative holds " + f.ma_non_text_type;
                              return std::nullopt;
                            },
                            kBody, [](const std::vector<std::string>& a) { return expect_args(a, 0, 0); }};

  t["check_base64_length"] = {[](EvalContext& ctx, EvalArgs a) -> EvalResult {
                                auto min = eval_number(a.size() > 0 ? a[0] : "");
                                if (!min) return std::nullopt;
                                double len = static_cast<double>(facts(ctx).base64_length);
                                if (a.size() > 1)
                                  if (auto max = eval_number(a[1]); max && len > *max) return std::nullopt;
                                if (len >= *min) return "base64 line of " + number(len) + " characters";
                                return std::nullopt;
                              },
                              kBody, [](const std::vector<std::string>& a) { return numeric_args(a, 1, 2); }};

  t["check_qp_ratio"] = {[](EvalContext& ctx, EvalArgs a) -> EvalResult {
                           auto min = eval_number(a.size() > 0 ? a[0] : "");
                           if (!min) return std::nullopt;
                           double r = facts(ctx).qp_ratio;
                           if (r >= *min) return "QP ratio " + number(r);
                           return std::nullopt;
                         },
                         kBody, [](const std::vector<std::string>& a) { return numeric_args(a, 1, 1); }};
}

}  // namespace mxgate
