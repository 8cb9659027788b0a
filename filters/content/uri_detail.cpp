#include "filters/content/uri_detail.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "base/text.hpp"
#include "filters/content/eval_tests.hpp"
#include "filters/content/uri_list.hpp"
#include "filters/mime/mime.hpp"

namespace mxgate {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_word(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }
bool is_hex(char c) { return hex_value(c) >= 0; }

// HTML.pm _parse_uri: m|^(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?|,
// an absent part unset (not empty).
struct UriParts {
  std::optional<std::string> scheme, authority, query, fragment;
  std::string path;
};

UriParts parse_uri(std::string_view u) {
  UriParts p;
  std::size_t i = u.find_first_of(":/?#");
  if (i != std::string_view::npos && i > 0 && u[i] == ':') {
    p.scheme = std::string(u.substr(0, i));
    u.remove_prefix(i + 1);
  }
  if (u.starts_with("//")) {
    std::size_t e = u.find_first_of("/?#", 2);
    if (e == std::string_view::npos) e = u.size();
    p.authority = std::string(u.substr(2, e - 2));
    u.remove_prefix(e);
  }
  std::size_t e = u.find_first_of("?#");
  if (e == std::string_view::npos) e = u.size();
  p.path = std::string(u.substr(0, e));
  u.remove_prefix(e);
  if (u.starts_with('?')) {
    std::size_t h = u.find('#');
    if (h == std::string_view::npos) h = u.size();
    p.query = std::string(u.substr(1, h - 1));
    u.remove_prefix(h);
  }
  if (u.starts_with('#')) p.fragment = std::string(u.substr(1));
  return p;
}

// Perl's truth of a string: "" and "0" are false.
bool truthy(std::string_view s) { return !s.empty() && s != "0"; }

// HTML.pm _remove_dot_segments. Each of its rewrites of the input's front ("./x"
// -> "/x", "/./x" -> "/x", "/." -> "/", ...) keeps a suffix of the input, so a view
// moving forward does it (erasing from a string's front is quadratic on long paths).
std::string remove_dot_segments(std::string_view input) {
  std::string output;
  if (input.starts_with("./")) input.remove_prefix(1);
  else if (input.starts_with("../")) input.remove_prefix(2);
  auto seg_end = [&](std::size_t at) { return at == input.size() || input[at] == '/'; };
  while (truthy(input)) {
    if (input.starts_with("/.") && seg_end(2)) {
      input = input.size() == 2 ? input.substr(0, 1) : input.substr(2);
    } else if (input.starts_with("/..") && seg_end(3)) {
      input = input.size() == 3 ? input.substr(0, 1) : input.substr(3);
      std::size_t slash = output.rfind('/');  // s@/?[^/]*$@@
      output.erase(slash == std::string::npos ? 0 : slash);
    } else {
      std::size_t e = input.find('/', input[0] == '/' ? 1 : 0);
      if (e == std::string_view::npos) e = input.size();
      output.append(input.substr(0, e));
      input.remove_prefix(e);
    }
  }
  return output;
}

// HTML.pm _merge_uri.
std::string merge_uri(const std::optional<std::string>& base_authority, std::string base_path,
                      std::string_view r_path) {
  if (base_authority && !truthy(base_path)) return "/" + std::string(r_path);
  std::size_t slash = base_path.rfind('/');
  base_path = slash == std::string::npos ? "" : base_path.substr(0, slash + 1);
  return base_path + std::string(r_path);
}

// Constants.pm IS_IP_ADDRESS: a bare IPv4 or IPv6 address ("[1.2.3.4]" is not).
bool ip_address(std::string_view host) {
  std::string h(host);
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

// Perl's \s at s[i] in UTF-8 text: its length in bytes, 0 if not white space.
std::size_t perl_space_at(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return is_space(static_cast<char>(c)) ? 1 : 0;
  auto at = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
  if (c == 0xC2 && (at(1) == 0x85 || at(1) == 0xA0)) return 2;                          // U+0085, U+00A0
  if (c == 0xE1 && at(1) == 0x9A && at(2) == 0x80) return 3;                            // U+1680
  if (c == 0xE2 && at(1) == 0x80 && (at(2) <= 0x8A || at(2) == 0xA8 || at(2) == 0xA9 || at(2) == 0xAF))
    return 3;                                                                           // U+2000-200A, 2028, 2029, 202F
  if (c == 0xE2 && at(1) == 0x81 && at(2) == 0x9F) return 3;                            // U+205F
  if (c == 0xE3 && at(1) == 0x80 && at(2) == 0x80) return 3;                            // U+3000
  return 0;
}

// add_uri_detail_list: the URI's cleaned forms, domains and hosts merged into its
// entry with `types`; false (nothing added) without a cleaned form, or, when
// `valid_domain`, without a domain.
bool add_uri(UriDetailList& list, const std::string& uri, const std::set<std::string>& types, bool valid_domain,
             const UriSettings* us, const WlblSettings* ws) {
  std::vector<std::string> forms;
  canonicalize_uri(uri, us, forms);
  std::set<std::string> cleaned, domains, hosts;
  for (auto& f : forms) {
    if (f.size() > kMaxUriLength) f.resize(kMaxUriLength);
    cleaned.insert(f);
    if (auto d = uri_to_domain(f, us, ws)) {
      domains.insert(d->domain);
      hosts.insert(d->host);
    }
  }
  if (cleaned.empty()) return false;
  if (valid_domain && domains.empty()) return false;
  UriDetail& e = list[uri];
  for (auto& c : cleaned)
    if (std::find(e.cleaned.begin(), e.cleaned.end(), c) == e.cleaned.end()) e.cleaned.push_back(c);
  e.domains.insert(domains.begin(), domains.end());
  e.hosts.insert(hosts.begin(), hosts.end());
  e.types.insert(types.begin(), types.end());
  return true;
}

UriDetailList build(EvalContext& ctx) {
  UriDetailList list;
  const UriSettings* us = ctx.settings.uri.get();
  const WlblSettings* ws = ctx.settings.wlbl.get();
  // _process_text_uri_list: the rendered body's lines (Subject first).
  std::string_view body = ctx.texts.body.text;
  std::vector<TextUri> found;
  for (std::size_t p = 0; p < body.size();) {
    std::size_t nl = body.find('\n', p);
    std::size_t e = nl == std::string_view::npos ? body.size() : nl;
    if (us && !us->tlds.empty()) {
      text_uri_details(body.substr(p, e - p), *us, found);
    } else {  // without TLDs, MimeView's URL finder (uri_list.hpp)
      std::vector<std::string> urls;
      find_urls(body.substr(p, e - p), urls, true);
      for (auto& u : urls) found.push_back({std::move(u), false, false});
    }
    p = e + 1;
  }
  for (const auto& t : found) {
    std::set<std::string> types{"parsed"};
    if (t.schemeless) types.insert("schemeless");
    if (t.unlinked) types.insert("unlinked");
    add_uri(list, t.uri, types, true, us, ws);
  }
  // _process_dkim_uri_list (parse_dkim_uris, on by default): each d= of a
  // DKIM-Signature or DomainKey-Signature, as "domainkeys:DOMAIN", with its domain
  // and host but no cleaned form (noclean: `uri` rules do not read it).
  for (const auto& h : ctx.msg.headers()) {
    if (!iequals(h.name, "DKIM-Signature") && !iequals(h.name, "DomainKey-Signature")) continue;
    std::string v = h.unfolded();
    for (std::size_t at = 0; (at = v.find('d', at)) != std::string::npos; ++at) {
      if (at > 0 && is_word(v[at - 1])) continue;  // \bd\s*=\s*([^;]+)
      std::size_t k = at + 1;
      while (k < v.size() && is_space(v[k])) ++k;
      if (k >= v.size() || v[k] != '=') continue;
      ++k;
      std::size_t e = std::min(v.find(';', k), v.size());
      std::string d;
      for (std::size_t i = k; i < e; ++i)
        if (!is_space(v[i])) d += v[i];
      at = e;
      if (d.empty()) continue;
      const std::string raw = "domainkeys:" + d;
      auto dom = uri_to_domain(raw, us, ws);
      if (!dom) continue;  // valid_domain
      UriDetail& entry = list[raw];
      entry.types.insert({"domainkeys", "nocanon", "noclean"});
      entry.domains.insert(dom->domain);
      entry.hosts.insert(dom->host);
      if (at >= v.size()) break;
    }
  }
  // _process_html_uri_list: each part's URIs, an href seen only as an anchor
  // "parsed" (add_uri_detail_list's default types), with its anchor texts, each once.
  for (const HtmlUris* part : html_uris(ctx)) {
    for (const auto& [uri, info] : *part) {
      static const std::set<std::string> kParsed{"parsed"};
      if (!add_uri(list, uri, info.types.empty() ? kParsed : info.types, false, us, ws)) continue;
      std::vector<std::string>& texts = list[uri].anchor_text;
      std::set<std::string> seen;
      for (const auto& t : info.anchor_text)
        if (seen.insert(t).second) texts.push_back(t);
    }
  }
  return list;
}

// URIDetail.pm check_uri_detail: {key, op, /re/} triples; a URI hits when each
// key has a value that matches (=~) or does not match (!~).
std::string check_args(const std::vector<std::string>& args) {
  if (args.empty() || args.size() % 3 != 0) return "uri_detail takes key, operator and regexp triples";
  for (std::size_t i = 0; i < args.size(); i += 3) {
    std::string err;
    if (!EvalRegex::get(args[i + 2], &err)) return "invalid regexp " + args[i + 2] + ": " + err;
  }
  return {};
}

template <class Values>
bool any_matches(const Values& values, const EvalRegex& re, bool negate) {
  for (const auto& v : values)
    if (re.search(v) != negate) return true;
  return false;
}

EvalResult check_uri_detail(EvalContext& ctx, EvalArgs args) {
  if (args.empty() || args.size() % 3 != 0) return std::nullopt;
  struct Criterion {
    std::string_view key;
    bool negate;
    std::shared_ptr<const EvalRegex> re;
  };
  std::vector<Criterion> crit;
  for (std::size_t i = 0; i < args.size(); i += 3) {
    auto re = EvalRegex::get(args[i + 2]);
    if (!re) return std::nullopt;
    crit.push_back({args[i], args[i + 1] == "!~", std::move(re)});
  }
  for (const auto& [raw, info] : uri_detail_list(ctx)) {
    bool all = true;
    for (const auto& c : crit) {
      bool ok = false;
      if (c.key == "raw") ok = c.re->search(raw) != c.negate;
      else if (c.key == "type") ok = any_matches(info.types, *c.re, c.negate);
      else if (c.key == "cleaned") ok = any_matches(info.cleaned, *c.re, c.negate);
      else if (c.key == "text") ok = any_matches(info.anchor_text, *c.re, c.negate);
      else if (c.key == "domain") ok = any_matches(info.domains, *c.re, c.negate);
      else if (c.key == "host") ok = any_matches(info.hosts, *c.re, c.negate);
      if (!ok) {
        all = false;
        break;
      }
    }
    if (all) return "uri " + raw.substr(0, 200);
  }
  return std::nullopt;
}

// HTTPSMismatch.pm check_https_http_mismatch(min, max): in one text/html part, an
// http(s) link to one domain whose anchor text names https:// of another; `min`
// to `max` (exclusive) such links with text in the part. IP addresses are left to
// other rules.
EvalResult check_https_http_mismatch(EvalContext& ctx, EvalArgs args) {
  auto number = [](const std::string& a) -> std::optional<long> {
    if (a.empty() || a.find_first_not_of("0123456789") != std::string::npos || a.size() > 9) return std::nullopt;
    return std::stol(a);
  };
  long min_anchors = args.size() > 0 ? number(args[0]).value_or(0) : 0;
  if (min_anchors == 0) min_anchors = 1;  // $minanchors ||= 1
  std::optional<long> max_anchors = args.size() > 1 ? number(args[1]) : std::nullopt;
  const UriSettings* us = ctx.settings.uri.get();
  const WlblSettings* ws = ctx.settings.wlbl.get();
  auto valid = [&](const std::string& d) { return us && us->domain_valid(d); };
  for (const HtmlUris* part : html_uris(ctx)) {
    std::optional<std::pair<std::string, std::string>> hit;  // link domain, anchor text's https domain
    long anchors = 0;
    for (const auto& [k, v] : *part) {
      if (v.anchor_text.empty()) continue;
      // m@^https?://([^/:?#]+)@i
      std::size_t at = istarts_with(k, "http://") ? 7 : istarts_with(k, "https://") ? 8 : 0;
      if (at == 0) continue;
      std::string host = k.substr(at, k.find_first_of("/:?#", at) - at);
      if (host.empty() || ip_address(host)) continue;
      std::string uri = registrable_domain(ws, host);
      auto d = uri_to_domain(uri, us, ws);
      if (!d || !valid(d->domain)) continue;
      ++anchors;
      for (const auto& text : v.anchor_text) {
        // m@https://([^\s/:?#]+)@i: the first https:// with a host after it.
        std::string low = lower(text);
        std::string https;
        for (std::size_t h = low.find("https://"); h != std::string::npos && https.empty();
             h = low.find("https://", h + 1)) {
          std::size_t b = h + 8, e = b;
          while (e < text.size() && !perl_space_at(text, e) &&
                 std::string_view("/:?#").find(text[e]) == std::string_view::npos)
            ++e;
          https = text.substr(b, e - b);
        }
        if (https.empty()) continue;
        if (!ip_address(https)) {
          https = registrable_domain(ws, https);
          if (!valid(https)) continue;
        }
        if (https == uri) continue;
        if (!hit) hit.emplace(uri, https);
        break;
      }
    }
    if (hit && anchors >= min_anchors && (!max_anchors || anchors < *max_anchors))
      return "link to " + hit->first + " reads https://" + hit->second;
  }
  return std::nullopt;
}

}  // namespace

std::string target_uri(std::string_view base_text, std::string_view r_text) {
  UriParts r = parse_uri(r_text), base = parse_uri(base_text);
  UriParts t;
  if (r.scheme && base.scheme && *r.scheme == *base.scheme) r.scheme.reset();  // not URI_STRICT
  if (r.scheme) {
    t.scheme = r.scheme;
    t.authority = r.authority;
    t.path = remove_dot_segments(r.path);
    t.query = r.query;
  } else {
    if (r.authority) {
      t.authority = r.authority;
      t.path = remove_dot_segments(r.path);
      t.query = r.query;
    } else {
      if (r.path.empty()) {
        t.path = base.path;
        t.query = r.query ? r.query : base.query;
      } else {
        t.path = remove_dot_segments(r.path.starts_with('/') ? r.path : merge_uri(base.authority, base.path, r.path));
        t.query = r.query;
      }
      t.authority = base.authority;
    }
    t.scheme = base.scheme;
  }
  t.fragment = r.fragment;
  std::string out;
  if (t.scheme && truthy(*t.scheme)) {
    out += *t.scheme + ":";
  } else if (t.authority) {
    // Not in the RFC: a scheme-less www./ftp. host.
    auto numbered = [&](std::string_view prefix) {
      if (!istarts_with(*t.authority, prefix)) return false;
      std::size_t k = prefix.size();
      while (k < t.authority->size() && is_digit((*t.authority)[k])) ++k;
      return k < t.authority->size() && (*t.authority)[k] == '.';
    };
    if (numbered("www")) out += "http:";
    else if (numbered("ftp")) out += "ftp:";
  }
  if (t.authority) out += "//" + *t.authority;
  out += t.path;
  if (t.query) out += "?" + *t.query;
  if (t.fragment) out += "#" + *t.fragment;
  return out;
}

std::string base_without_file(std::string_view uri) {
  // s@^([a-z]+:/{0,2}[^/]+/.*?)[^/\.]+\.[^/\.]{2,4}$@$1@i: the last segment is
  // name.ext (2 to 4 characters, neither "/" nor "."), after a host and a "/".
  std::size_t dot = uri.rfind('.');
  if (dot == std::string_view::npos) return std::string(uri);
  std::string_view ext = uri.substr(dot + 1);
  if (ext.size() < 2 || ext.size() > 4 || ext.find('/') != std::string_view::npos) return std::string(uri);
  std::size_t name = uri.find_last_of("/.", dot - 1 < uri.size() ? dot - 1 : 0);
  name = name == std::string_view::npos ? 0 : name + 1;
  if (name >= dot) return std::string(uri);
  std::size_t k = 0;
  while (k < uri.size() && is_alpha(uri[k])) ++k;
  if (k == 0 || k >= uri.size() || uri[k] != ':') return std::string(uri);
  std::size_t j = k + 1;
  for (int s = 0; s < 2 && j < uri.size() && uri[j] == '/'; ++s) ++j;
  if (j >= uri.size() || uri[j] == '/') return std::string(uri);
  std::size_t slash = uri.find('/', j);
  if (slash == std::string_view::npos || slash >= name) return std::string(uri);
  return std::string(uri.substr(0, name));
}

std::optional<std::string> refresh_url(std::string_view content) {
  // /\burl\s*=/i anywhere; then s/^.*\burl\s*=\s*//i, whose `.` stops at a line
  // break (only a url= on the first line is cut, the last one there), and
  // s/\s*;.*// (from the first `;` with the white space before it, to its line end).
  auto url_eq = [&](std::size_t at, std::size_t* after) {  // \burl\s*= at `at`
    if (at > 0 && is_word(content[at - 1])) return false;
    if (!istarts_with(content.substr(at), "url")) return false;
    std::size_t k = at + 3;
    while (k < content.size() && is_space(content[k])) ++k;
    if (k >= content.size() || content[k] != '=') return false;
    *after = k + 1;
    return true;
  };
  bool any = false;
  std::optional<std::size_t> cut;
  const std::size_t first_line = std::min(content.find('\n'), content.size());
  for (std::size_t at = 0, after = 0; at < content.size(); ++at) {
    if (!url_eq(at, &after)) continue;
    any = true;
    if (at < first_line) cut = after;
  }
  if (!any) return std::nullopt;
  std::string u(content);
  if (cut) {
    std::size_t k = *cut;
    while (k < u.size() && is_space(u[k])) ++k;
    u.erase(0, k);
  }
  if (std::size_t semi = u.find(';'); semi != std::string::npos) {
    std::size_t b = semi;
    while (b > 0 && is_space(u[b - 1])) --b;
    std::size_t e = u.find('\n', semi);
    u.erase(b, (e == std::string::npos ? u.size() : e) - b);
  }
  return u;
}

std::optional<UriDomain> uri_to_domain(std::string_view uri_in, const UriSettings* us, const WlblSettings* ws) {
  std::string uri = lower(uri_in);
  if (uri.starts_with("javascript:") || uri.starts_with("cid:") || uri.starts_with("file:")) return std::nullopt;
  if (uri.starts_with("mailto:")) {
    uri.erase(0, 7);
    uri = uri.substr(0, uri.find('?'));
    std::size_t at = uri.find('@');
    if (at == std::string::npos) return std::nullopt;
    if (uri.find('@', at + 1) != std::string::npos) return std::nullopt;  // /\@.*?\@/
    uri.erase(0, uri.rfind('@') + 1);
  } else {
    std::size_t k = 0;  // s{^[a-z]+:/{0,2}}{}
    while (k < uri.size() && uri[k] >= 'a' && uri[k] <= 'z') ++k;
    if (k > 0 && k < uri.size() && uri[k] == ':') {
      ++k;
      for (int s = 0; s < 2 && k < uri.size() && uri[k] == '/'; ++s) ++k;
      uri.erase(0, k);
    }
    uri = uri.substr(0, uri.find_first_of("/?#"));
    if (std::size_t at = uri.rfind('@'); at != std::string::npos) uri.erase(0, at + 1);  // s{^[^/]*\@}{}
    std::size_t colon = uri.rfind(':');  // s{:\d*$}{}
    if (colon != std::string::npos &&
        uri.find_first_not_of("0123456789", colon + 1) == std::string::npos)
      uri.erase(colon);
  }
  // %xx of a printable character left undecoded: the decoded form is listed too.
  for (std::size_t k = 0; k + 2 < uri.size(); ++k) {
    if (uri[k] != '%' || !is_hex(uri[k + 1]) || !is_hex(uri[k + 2])) continue;
    int v = std::stoi(uri.substr(k + 1, 2), nullptr, 16);
    if (v >= 0x21 && v <= 0x7e && v != 0x7f) return std::nullopt;
  }
  if (ip_address(uri)) return UriDomain{uri, uri};
  if (!fqdn_valid(uri)) return std::nullopt;
  if (!us || !us->domain_valid(uri)) return std::nullopt;
  return UriDomain{registrable_domain(ws, uri), uri};
}

const UriDetailList& uri_detail_list(EvalContext& ctx) {
  return ctx.fact<UriDetailList>([&] { return build(ctx); });
}

void add_uridetail_evals(EvalTable& t) {
  t.emplace(std::string(rules::kUriDetailEval), EvalFunction{check_uri_detail, {rules::Scope::Body}, check_args});
  t["check_https_http_mismatch"] = {check_https_http_mismatch, {rules::Scope::Body}, nullptr};
}

}  // namespace mxgate
