// SpamAssassin's URI list: see uri_list.hpp.
#include "filters/content/uri_list.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <unordered_set>

#include "base/text.hpp"
#include "filters/content/eval_tests.hpp"

namespace mxgate {
namespace {

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return hex_value(c) >= 0; }

// The TLDs as one alternation, shaped as a trie (PCRE2 does not build one itself, and
// 1,500 plain alternatives would pass its compiled-size limit); bytes other than
// letters and digits escaped.
struct Trie {
  std::map<char, Trie> kids;
  bool end = false;
};

void emit(const Trie& t, std::string& out) {
  auto piece = [&](char c) {
    if (is_alnum(c)) {
      out += c;
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", static_cast<unsigned char>(c));
      out += b;
    }
  };
  if (t.kids.empty()) return;
  if (t.kids.size() == 1 && !t.end) {
    piece(t.kids.begin()->first);
    emit(t.kids.begin()->second, out);
    return;
  }
  out += "(?:";
  bool first = true;
  for (const auto& [c, k] : t.kids) {
    if (!first) out += '|';
    first = false;
    piece(c);
    emit(k, out);
  }
  out += t.end ? ")?" : ")";
}

std::string tld_alternation(const std::set<std::string, std::less<>>& tlds) {
  Trie root;
  for (const auto& t : tlds) {
    Trie* n = &root;
    for (char c : t) n = &n->kids[c];
    n->end = true;
  }
  std::string out;
  emit(root, out);
  return out;
}

// PerMsgStatus.pm _tbirdurire: a hybrid of Thunderbird's and Outlook Express's
// URI finders. Group 1 a URL with a scheme or www./ftp. prefix, 2 an address, 3 a
// schemeless URI, 4 its host.
std::string text_uri_pattern(const std::set<std::string, std::less<>>& tlds) {
  const std::string end = R"(><"`}\]{[|\s\x1b\xa0)";
  const std::string start = R"(><"'`,{[(|\s\x1b\xa0)";
  const std::string end_email = end + R"(,(\'\x80-\xff)";
  const std::string end_email_at = end_email + "@";
  const std::string sc_start = R"([!"#$&'()*+,/:;<=>?@\[\\\]^`{|}~\s\x1b\xa0])";
  const std::string tld = "(?<![a-zA-Z0-9-])(?:" + tld_alternation(tlds) + ")(?!(?:[a-zA-Z0-9-]|\\.[a-zA-Z0-9]))";
  const std::string schemeless =
      "([a-z\\d][a-z\\d._-]{0,251}\\." + tld + ")\\.?(?::\\d{1,5})?(?:/[^" + end + "]{1,2048})?";
  const std::string known = "(?:(?:https?|ftp)://|(?:www\\d{0,2}|ftp)\\.)[^" + end + "]{1,2048}";
  const std::string mail =
      "(?:mailto:[^" + end_email + "]{1,2048}|[^" + end_email_at + "]{1,251}@[^" + end_email + "]{1,251})";
  return "(?:\\b|(?<=\\x1b\\(.)|(?<=[" + start + "]))(?:(?:(" + known + ")(?=[" + end + "]|\\z))|(?:(" + mail +
         ")(?=[" + end_email + "]|\\z))|(?:(?:^|(?<=" + sc_start + "))(" + schemeless + ")(?=[" + end + "]|\\z)))";
}

// Util.pm url_encode, which decodes: %xx of 0x21-0x7e (but %7f) becomes the
// character; 0x00-0x20, 0x7f-0xff, '"', '%', '<', '>' elsewhere get encoded.
std::string url_encode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
      char a = s[i + 1], b = ascii_lower(s[i + 2]);
      bool keep = (a == '2' && b == '0') || (a == '7' && b == 'f') || !(a >= '2' && a <= '7');
      if (keep) out.append(s.substr(i, 3));
      else out += static_cast<char>(hex_value(a) * 16 + hex_value(b));  // a is 2-7: printable
      i += 2;
      continue;
    }
    auto u = static_cast<unsigned char>(s[i]);
    if (u <= 0x20 || u >= 0x7f || s[i] == '"' || s[i] == '%' || s[i] == '<' || s[i] == '>') {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02x", u);
      out += b;
    } else {
      out += s[i];
    }
  }
  return out;
}

// decode_ulong_to_ip: the number's hex digits (at least 8), the first four bytes.
std::string ulong_to_ip(std::string_view digits, int base) {
  std::uint64_t v = 0;
  for (char c : digits) {
    int d = base == 16 ? hex_value(c) : c - '0';
    if (v > (UINT64_MAX - static_cast<std::uint64_t>(d)) / static_cast<std::uint64_t>(base)) return {};
    v = v * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(d);
  }
  char hex[24];
  std::snprintf(hex, sizeof hex, "%08llx", static_cast<unsigned long long>(v));
  std::string out;
  for (int i = 0; i < 4; ++i) {
    if (i) out += '.';
    out += std::to_string(hex_value(hex[2 * i]) * 16 + hex_value(hex[2 * i + 1]));
  }
  return out;
}

// One dotted-quad chunk as the canonicalizer rewrites it: 0x.. as decimal, a
// leading-zero octal as decimal, leading zeros dropped (the trailing "." kept).
std::string octet(std::string s) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    std::size_t j = 2;
    while (j < s.size() && is_hex(s[j])) ++j;
    std::uint64_t v = 0;
    for (std::size_t k = 2; k < j && v < (1ULL << 56); ++k) v = v * 16 + static_cast<std::uint64_t>(hex_value(s[k]));
    s = std::to_string(v) + s.substr(j);
  }
  // s/^0+([1-3][0-7]{0,2}|[4-7][0-7]?)\b/oct($1)/e
  std::size_t z = 0;
  while (z < s.size() && s[z] == '0') ++z;
  if (z > 0 && z < s.size()) {
    std::size_t j = z;
    std::size_t max = (s[z] >= '1' && s[z] <= '3') ? 3 : (s[z] >= '4' && s[z] <= '7') ? 2 : 0;
    if (max) {
      ++j;
      while (j < s.size() && j - z < max && s[j] >= '0' && s[j] <= '7') ++j;
      // \b: a word character must not follow; backtrack shorter runs as the regex would.
      for (std::size_t e = j; e > z; --e) {
        if (e < s.size() && (is_alnum(s[e]) || s[e] == '_')) continue;
        int v = 0;
        for (std::size_t k = z; k < e; ++k) v = v * 8 + (s[k] - '0');
        s = std::to_string(v) + s.substr(e);
        break;
      }
    }
  }
  z = 0;
  while (z < s.size() && s[z] == '0') ++z;
  return s.substr(z);
}

// The host chunks of /^((?:0x[0-9a-f]+|\d+)\.){3}(0x[0-9a-f]+|\d+)$/i, dots kept.
bool dotted_number(std::string_view h, std::vector<std::string>& chunks) {
  chunks.clear();
  std::size_t i = 0;
  for (int n = 0; n < 4; ++n) {
    std::size_t b = i;
    if (i + 1 < h.size() && h[i] == '0' && (h[i + 1] == 'x' || h[i + 1] == 'X')) {
      i += 2;
      std::size_t d = i;
      while (i < h.size() && is_hex(h[i])) ++i;
      if (i == d) return false;
    } else {
      std::size_t d = i;
      while (i < h.size() && is_digit(h[i])) ++i;
      if (i == d) return false;
    }
    if (n < 3) {
      if (i >= h.size() || h[i] != '.') return false;
      ++i;
    }
    chunks.emplace_back(h.substr(b, i - b));
  }
  return i == h.size();
}

}  // namespace

bool UriSettings::domain_valid(std::string_view host) const {
  std::string d = lower(host);
  if (std::any_of(d.begin(), d.end(), [](char c) { return is_space(c); })) return false;
  std::size_t dot = d.rfind('.');
  if (dot == std::string::npos || dot + 1 == d.size()) return false;
  return tlds.count(std::string_view(d).substr(dot + 1)) > 0;
}

bool fqdn_valid(std::string_view host) {
  std::string h = lower(host);
  while (!h.empty() && h.back() == '.') h.pop_back();
  if (h.size() > 253) return false;
  std::vector<std::string_view> labels;
  for (std::size_t p = 0;;) {
    std::size_t d = h.find('.', p);
    labels.push_back(std::string_view(h).substr(p, d == std::string::npos ? std::string::npos : d - p));
    if (d == std::string::npos) break;
    p = d + 1;
  }
  if (labels.size() < 2) return false;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    std::string_view l = labels[i];
    if (l.empty() || l.size() > 63) return false;
    auto ok = [](char c) { return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_'; };
    if (!ok(l.front()) || !ok(l.back())) return false;
    if (!std::all_of(l.begin(), l.end(), [&](char c) { return ok(c) || c == '-'; })) return false;
    if (i + 2 >= labels.size() && l.find('_') != std::string_view::npos) return false;  // the last two
  }
  return true;
}

std::set<std::string, std::less<>> uri_setting_keys() { return {"util_rb_tld", "redirector_pattern"}; }

Result<std::shared_ptr<const UriSettings>> parse_uri_settings(const std::vector<rules::Setting>& settings) {
  Result<std::shared_ptr<const UriSettings>> out;
  auto s = std::make_shared<UriSettings>();
  for (const auto& st : settings) {
    if (st.key == "util_rb_tld") {
      // /^[^\s.]+(?:\s+[^\s.]+)*$/, each lower-cased (idn_to_ascii without libidn).
      bool bad = st.value.empty();
      for (std::size_t p = 0; p < st.value.size();) {
        while (p < st.value.size() && is_space(st.value[p])) ++p;
        std::size_t e = p;
        while (e < st.value.size() && !is_space(st.value[e])) ++e;
        if (e == p) break;
        std::string t = lower(std::string_view(st.value).substr(p, e - p));
        if (t.find('.') != std::string::npos) bad = true;
        else s->tlds.insert(t);
        p = e;
      }
      if (bad) out.errors.push_back({st.loc.file, st.loc.line, st.key, "expects TLDs without dots, separated by spaces"});
    } else if (st.key == "redirector_pattern") {
      std::string err;
      auto re = EvalRegex::get(st.value, &err);
      if (!re || (st.value.front() != '/' && st.value.front() != 'm')) {
        out.errors.push_back({st.loc.file, st.loc.line, st.key,
                              "invalid regexp '" + st.value + "'" + (err.empty() ? ": missing delimiters" : ": " + err)});
        continue;
      }
      s->redirectors.push_back(std::move(re));
    }
  }
  if (!s->tlds.empty()) {
    std::string err;
    s->text_uri_re = EvalRegex::compile(text_uri_pattern(s->tlds), PCRE2_CASELESS, &err);
    if (!s->text_uri_re) out.errors.push_back({"", 0, "util_rb_tld", "the URI parser does not compile: " + err});
  }
  out.value = std::move(s);
  return out;
}

void text_uris(std::string_view line, const UriSettings& s, std::vector<std::string>& out) {
  std::vector<TextUri> found;
  text_uri_details(line, s, found);
  for (auto& t : found) out.push_back(std::move(t.uri));
}

void text_uri_details(std::string_view line, const UriSettings& s, std::vector<TextUri>& out) {
  if (!s.text_uri_re) return;
  std::vector<std::string_view> g;
  std::unordered_set<std::string> seen;
  for (std::size_t at = 0; at <= line.size() && s.text_uri_re->search(line, &g, at);) {
    at = static_cast<std::size_t>(g[0].data() + g[0].size() - line.data());
    if (g[0].empty()) ++at;  // cannot happen (every alternative takes a character)
    std::string raw(!g[1].empty() ? g[1] : !g[2].empty() ? g[2] : g[3]);
    const bool mail = g[1].empty() && !g[2].empty();
    const std::string_view schost = g.size() > 4 ? g[4] : std::string_view();
    // As Thunderbird: a ")" with no "(" before it ends the URI; then trailing
    // punctuation goes.
    if (std::size_t close = raw.find(')'); close != std::string::npos && raw.find('(') > close) raw.resize(close);
    while (!raw.empty() && std::string_view("-~!@#^&*()_+=:;'?,.").find(raw.back()) != std::string_view::npos)
      raw.pop_back();
    if (!seen.insert(raw).second) continue;
    if (mail && raw.find('@') == std::string::npos) continue;
    if (!schost.empty() && !fqdn_valid(schost)) continue;
    if (istarts_with(raw, "cid:") || istarts_with(raw, "mid:")) continue;
    {  // /^\w+:\/{0,2}$/: a scheme alone
      std::size_t k = 0;
      while (k < raw.size() && (is_alnum(raw[k]) || raw[k] == '_')) ++k;
      if (k > 0 && k < raw.size() && raw[k] == ':') {
        std::size_t slashes = raw.size() - k - 1;
        if (slashes <= 2 && raw.find_first_not_of('/', k + 1) == std::string::npos) continue;
      }
    }
    std::string uri = raw;
    bool unlinked = false;
    bool has_scheme = istarts_with(uri, "http:") || istarts_with(uri, "https:") || istarts_with(uri, "ftp:") ||
                      istarts_with(uri, "mailto:");
    if (!has_scheme) {
      std::size_t at_sign = uri.find('@');
      std::size_t slash = uri.find('/');
      bool www = istarts_with(uri, "www") && [&] {
        std::size_t k = 3;
        while (k < uri.size() && k < 5 && is_digit(uri[k])) ++k;
        return k < uri.size() && uri[k] == '.';
      }();
      if (istarts_with(uri, "ftp.")) {
        uri = "ftp://" + uri;
      } else if (www) {
        uri = "http://" + uri;
      } else if (slash != std::string::npos && at_sign != std::string::npos && at_sign > slash + 1) {
        uri = "http://" + uri;  // a "/" before the "@": not an address
      } else if (at_sign != std::string::npos) {
        if (uri.find('.', at_sign + 2) == std::string::npos) continue;  // /\@.+?\./
        if (uri.find("&nbsp;") != std::string::npos) continue;
        std::size_t k = 0;  // s/^(?:skype|e?-?mail)?:+//i
        for (std::string_view pre : {"skype", "e-mail", "email", "-mail", "mail", ""})
          if (istarts_with(uri, pre) && uri.size() > pre.size() && uri[pre.size()] == ':') {
            k = pre.size();
            break;
          }
        if (k < uri.size() && uri[k] == ':') {
          while (k < uri.size() && uri[k] == ':') ++k;
          uri.erase(0, k);
        }
        uri = "mailto:" + uri;
      } else {
        if (uri.find('.') == std::string::npos) continue;
        uri = "http://" + uri;  // schemeless: MUAs do not link it, SpamAssassin lists it
        unlinked = true;
      }
    }
    if (istarts_with(uri, "mailto:")) {
      bool pct = false;
      for (std::size_t k = 0; k + 2 < uri.size(); ++k)
        if (uri[k] == '%' && is_hex(uri[k + 1]) && is_hex(uri[k + 2])) pct = true;
      if (pct) uri = url_encode(uri);
      std::size_t a = uri.find('@');
      if (a == std::string::npos) continue;
      std::string host = uri.substr(a + 1, uri.find_first_of("?&>", a + 1) - a - 1);
      while (host.size() >= 3 && host.ends_with("%20")) host.resize(host.size() - 3);
      if (!s.domain_valid(host)) continue;
    }
    out.push_back({std::move(uri), !has_scheme, unlinked});
  }
}

void canonicalize_uri(std::string_view input, const UriSettings* s, std::vector<std::string>& out) {
  std::vector<std::string> uris{std::string(input)};
  std::vector<std::string> nuris;
  for (std::size_t n = 0; n < uris.size() && n < 16; ++n) {  // redirect targets add more (bounded)
    // Cleaned in place: the list keeps the cleaned form (redirect targets are added
    // to it as it is walked, so no reference into it is held).
    std::string uri = uris[n];
    uri.erase(std::remove(uri.begin(), uri.end(), '\n'), uri.end());
    uri = std::string(trim(uri));
    uri.erase(std::remove(uri.begin(), uri.end(), '\r'), uri.end());
    uris[n] = uri;
    if (uri.size() <= 1 || uri[0] == '#' || uri[0] == '?' || uri[0] == '&' ||
        (uri[0] == '/' && !(uri.size() > 1 && uri[1] == '/')))
      continue;  // a relative link: listed as it is, nothing to rewrite
    std::string nuri = uri;
    std::size_t colon = nuri.find(':');
    std::size_t at = nuri.find('@');
    if (istarts_with(nuri, "mailto:") || (at != std::string::npos && (colon == std::string::npos || colon > at))) {
      // /^([^\@]+\@[^?]+)\?/, /^([^\@]+\@[^?&]+)\&/, the %20-padded and <...> forms.
      if (at != std::string::npos && at > 0) {
        std::size_t q = nuri.find('?', at + 1);
        if (q != std::string::npos && q > at + 1) nuris.push_back(nuri.substr(0, q));
        std::size_t amp = nuri.find_first_of("?&", at + 1);
        if (amp != std::string::npos && nuri[amp] == '&' && amp > at + 1) nuris.push_back(nuri.substr(0, amp));
      }
      if (nuri.find("%20") != std::string::npos) {
        std::string_view r = nuri;
        if (istarts_with(r, "mailto:")) r.remove_prefix(7);
        while (r.substr(0, 3) == "%20") r.remove_prefix(3);
        std::size_t a = r.find('@');
        if (a != std::string_view::npos && a > 0) {
          std::size_t e = r.find_first_of("?&%", a + 1);
          if ((e == std::string_view::npos ? r.size() : e) > a + 1) nuris.push_back("mailto:" + std::string(r.substr(0, e)));
        }
      }
      std::size_t lt = nuri.find('<');
      if (lt != std::string::npos && nuri.find_first_of("?&") > lt) {
        std::size_t gt = nuri.find('>', lt);
        std::string_view in = std::string_view(nuri).substr(lt + 1, gt == std::string::npos ? 0 : gt - lt - 1);
        std::size_t a = in.find('@');
        if (gt != std::string::npos && a != std::string_view::npos && a > 0 && a + 1 < in.size())
          nuris.push_back("mailto:" + std::string(in));
      }
      continue;
    }
    std::replace(nuri.begin(), nuri.end(), '\\', '/');
    // s{^(https?:)/{0,2}}{$1//}i
    if (istarts_with(nuri, "http:") || istarts_with(nuri, "https:")) {
      std::size_t p = nuri.find(':') + 1, q = p;
      while (q < nuri.size() && q - p < 2 && nuri[q] == '/') ++q;
      nuri = nuri.substr(0, p) + "//" + nuri.substr(q);
    }
    for (std::size_t k = 0; k + 2 < nuri.size(); ++k)
      if (nuri[k] == '%' && is_hex(nuri[k + 1]) && is_hex(nuri[k + 2])) {
        nuri = url_encode(nuri);
        break;
      }
    {  // a scheme for a bare host
      std::size_t k = 0;
      while (k < nuri.size() && (is_alnum(nuri[k]) || nuri[k] == '-' || nuri[k] == '_')) ++k;
      if (k == 0 || k >= nuri.size() || nuri[k] != ':') nuri = (nuri.starts_with("ftp.") ? "ftp://" : "http://") + nuri;
    }
    {  // s{^(https?://[^/?#]+)([?#])}{$1/$2}i
      if (istarts_with(nuri, "http://") || istarts_with(nuri, "https://")) {
        std::size_t p = nuri.find("//") + 2;
        std::size_t e = nuri.find_first_of("/?#", p);
        if (e != std::string::npos && e > p && nuri[e] != '/') nuri.insert(e, "/");
      }
    }
    {  // &#nn; and &#xnn; of printable ASCII, and the encoded dots
      std::string r;
      for (std::size_t k = 0; k < nuri.size(); ++k) {
        if (nuri[k] == '&' && k + 2 < nuri.size() && nuri[k + 1] == '#') {
          bool hex = nuri[k + 2] == 'x' || nuri[k + 2] == 'X';
          std::size_t d = k + (hex ? 3 : 2), e = d;
          while (e < nuri.size() && (hex ? is_hex(nuri[e]) : is_digit(nuri[e]))) ++e;
          if (e > d && e < nuri.size() && nuri[e] == ';' && e - d <= 8) {
            long v = std::strtol(nuri.substr(d, e - d).c_str(), nullptr, hex ? 16 : 10);
            // Decimal 33-126 and hex 21-29, 30-7e (leading zeros allowed); the dots
            // (x2e, 12290, x3002, 65294, xff0e, 65377, xff61) only as written so.
            std::string digits = lower(nuri.substr(d, e - d));
            bool dot = hex ? (digits == "2e" || digits == "3002" || digits == "ff0e" || digits == "ff61")
                           : (digits == "12290" || digits == "65294" || digits == "65377");
            bool printable = hex ? ((v >= 0x21 && v <= 0x29) || (v >= 0x30 && v <= 0x7e)) : (v >= 33 && v <= 126);
            if (printable || dot) {
              r += dot ? '.' : static_cast<char>(v);
              k = e;
              continue;
            }
          }
        }
        r += nuri[k];
      }
      nuri = std::move(r);
    }
    if (nuri != uri) nuris.push_back(nuri);

    // m{^(https?://)([^\@/?#]*\@)?([^/?#:]+)((?::(\d*))?.*)$}i
    if (!(istarts_with(nuri, "http://") || istarts_with(nuri, "https://"))) continue;
    const std::string proto = nuri.substr(0, nuri.find("//") + 2);  // as written: "HTTP://" is not http
    std::size_t p = proto.size();
    std::string auth;
    std::size_t auth_end = nuri.find_first_of("@/?#", p);
    if (auth_end != std::string::npos && nuri[auth_end] == '@') {
      auth = nuri.substr(p, auth_end + 1 - p);
      p = auth_end + 1;
    }
    std::size_t host_end = nuri.find_first_of("/?#:", p);
    if (host_end == p) continue;
    std::string host = nuri.substr(p, host_end == std::string::npos ? std::string::npos : host_end - p);
    std::string rest = host_end == std::string::npos ? std::string() : nuri.substr(host_end);
    std::string port;
    if (!rest.empty() && rest[0] == ':') {
      std::size_t k = 1;
      while (k < rest.size() && is_digit(rest[k])) ++k;
      port = rest.substr(1, k - 1);
    }
    const bool http = proto == "http://";
    if (port.empty()) {
      port = http ? "80" : "443";
    } else {
      std::string default_port = http ? ":80" : ":443";
      if (rest.starts_with(default_port) &&
          (rest.size() == default_port.size() || !(is_alnum(rest[default_port.size()]) || rest[default_port.size()] == '_')))
        nuris.push_back(proto + host + rest.substr(default_port.size()));
    }
    // idn_to_ascii: lower case (IDN conversion needs libidn, which Debian's
    // spamassassin lacks, so the host itself stays as written).
    const std::string nhost = lower(host);
    auto control = [](char c) { return static_cast<unsigned char>(c) <= 0x20; };
    if (std::any_of(host.begin(), host.end(), control)) {
      host.erase(std::remove_if(host.begin(), host.end(), control), host.end());
      nuris.push_back(proto + host + rest);
    }
    // Redirects: the first redirector_pattern that captures a host-like target, else
    // an http(s):// inside the rest.
    bool redirected = false;
    if (s) {
      const std::string whole = proto + host + rest;
      for (const auto& re : s->redirectors) {
        std::vector<std::string_view> g;
        if (!re->search(whole, &g) || g.size() < 2 || g[1].find('.') == std::string_view::npos) continue;
        uris.emplace_back(g[1]);
        redirected = true;
        break;
      }
    }
    if (!redirected) {
      std::string lr = lower(rest);
      for (std::size_t k = lr.find("http"); k != std::string::npos; k = lr.find("http", k + 1)) {
        std::size_t c = k + 4;
        if (c < lr.size() && lr[c] == 's') ++c;
        if (c >= lr.size() || lr[c] != ':') continue;
        ++c;
        for (int slashes = 0; c < lr.size() && slashes < 2 && lr[c] == '/'; ++slashes) ++c;
        std::size_t e = rest.find_first_of("&#", c);
        if (e == c) continue;  // (the regex would give a slash back; such a target has no dot anyway)
        std::string target = rest.substr(k, e == std::string::npos ? std::string::npos : e - k);
        if (target.find('.') != std::string::npos) uris.push_back(std::move(target));
        break;
      }
    }
    if (std::size_t a = host.find('@'); a != std::string::npos && a > 0) {  // s/^[^\@]+\@//
      host = host.substr(a + 1);
      nuris.push_back(proto + host + rest);
    }
    {  // trailing non-alphanumerics of the host
      std::size_t e = host.size();
      while (e > 0 && !is_alnum(host[e - 1])) --e;
      if (e < host.size()) {
        host.resize(e);
        nuris.push_back(proto + host + rest);
      }
    }
    std::vector<std::string> chunks;
    bool all_hex = host.size() > 2 && host[0] == '0' && (host[1] == 'x' || host[1] == 'X') &&
                   std::all_of(host.begin() + 2, host.end(), is_hex);
    bool all_dec = !host.empty() && std::all_of(host.begin(), host.end(), is_digit);
    if (dotted_number(host, chunks)) {
      std::string ip;
      for (auto& c : chunks) ip += octet(c);
      nuris.push_back(proto + ip + rest);
    } else if (all_hex) {
      std::string h = host.substr(2);
      if (h.size() > 8) h = h.substr(h.size() - 8);  // the last 8 hex digits
      if (std::string ip = ulong_to_ip(h, 16); !ip.empty()) nuris.push_back(proto + ip + rest);
    } else if (all_dec) {
      if (std::string ip = ulong_to_ip(host, 10); !ip.empty()) nuris.push_back(proto + ip + rest);
    } else if (http && auth.empty() && nhost != "localhost" && port == "80") {
      // A single label (or www. and one label): what a browser would try, www.X.com.
      std::string_view label = nhost;
      if (label.starts_with("www.")) label.remove_prefix(4);
      if (!label.empty() && label.find('.') == std::string_view::npos && !(s && s->domain_valid(nhost)))
        nuris.push_back(proto + "www." + std::string(label) + ".com" + rest);
    }
  }
  std::unordered_set<std::string> seen;
  for (auto* list : {&uris, &nuris})
    for (auto& u : *list)
      if (seen.insert(u).second) out.push_back(u);
}

}  // namespace mxgate
