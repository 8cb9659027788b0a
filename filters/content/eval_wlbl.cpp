// SpamAssassin's welcome and block lists: the WLBLEval plugin (welcomelist_from,
// blocklist_from, welcomelist_from_rcvd and their defaults, the To lists, named
// address lists, URI host lists, check_mailfrom_matches_rcvd), the list halves of
// the SPF and DKIM plugins (welcomelist_auth, welcomelist_from_spf,
// welcomelist_from_dkim and the def_ variants, answered from mxgate's own SPF and
// DKIM results), and the WelcomeListSubject plugin (welcomelist_subject).
//
// Follows SpamAssassin 4.0.1 (Plugin/WLBLEval.pm, Conf.pm, Conf/Parser.pm's
// add_to_addrlist*, PerMsgStatus all_from_addrs/all_to_addrs, SPF.pm and DKIM.pm's
// welcomelist checks, WelcomeListSubject.pm, RegistryBoundaries split_domain):
// - An address pattern is a glob, lower-cased: `*` any run (dots and '@' included),
//   `?` one character, everything else literal ("\", "(" and NUL read as "_", as
//   SpamAssassin's paranoia step does), matched against the whole address.
// - Settings apply in file order: an un* line removes only entries listed before it,
//   written exactly as they were listed (a wildcard removes only the same wildcard).
// - The stock scores are huge (-100, +100, -15): every doubt resolves to "no hit".
//
// Differences:
// - Non-ASCII domains are compared as written; SpamAssassin converts them to
//   punycode first (idn_to_ascii), which only matters for IDN relays and senders.
// - all_to_addrs also reads the live SMTP recipients (RCPT TO): SpamAssassin behind
//   an MX sees them in that MX's Received "for" clause, which mxgate does not add.
// - check_uri_host_listed reads the hosts of the URI list the uri rules read
//   (uri_list.hpp: schemeless hosts and redirect targets included; scheme, userinfo
//   and port stripped); SpamAssassin walks its per-URI detail list, which holds the
//   same URIs grouped differently.
// - An IPv4-compatible IPv6 relay address does not match an IPv4 welcomelist_from_rcvd
//   entry (NetAddr::IP lets it).
// - check_from_in_auto_welcomelist (AWL) needs SpamAssassin's history database: not here.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <unordered_set>

#include "base/text.hpp"
#include "filters/auth/auth_results.hpp"
#include "filters/cidr.hpp"
#include "filters/content/eval_tests.hpp"
#include "filters/content/relays.hpp"
#include "filters/content/uri_list.hpp"
#include "filters/filter_state.hpp"

namespace mxgate {

// One address list (SpamAssassin's ADDRLIST): the patterns as listed (lower case)
// and their glob form.
struct WlblAddrList {
  struct Entry {
    std::string glob;    // the pattern with SpamAssassin's paranoia substitutions
    std::string suffix;  // the literal tail after the last wildcard: a cheap pre-check
  };
  std::map<std::string, Entry, std::less<>> entries;
};

// welcomelist_from_rcvd / welcomelist_from_dkim style: pattern -> its second fields
// (relay names or [ip], or signing domains; "" = an author domain signature).
struct WlblPairList {
  struct Entry {
    WlblAddrList::Entry pattern;
    std::vector<std::string> second;
  };
  std::map<std::string, Entry, std::less<>> entries;
};

struct WlblSettings {
  // Every plain list by its SpamAssassin name: welcomelist_from, blocklist_from,
  // welcomelist_to, more_spam_to, all_spam_to, blocklist_to, welcomelist_auth,
  // def_welcomelist_auth, welcomelist_allows_relays, welcomelist_from_spf,
  // def_welcomelist_from_spf, and the enlist_addrlist names (BANKS, GOV, ...):
  // check_from_in_list('welcomelist_from') reads the welcomelist, as in SpamAssassin.
  std::map<std::string, WlblAddrList, std::less<>> lists;
  WlblPairList from_rcvd, def_from_rcvd, from_dkim, def_from_dkim;
  // enlist_uri_host lists: host or domain -> true, or false for a "!" entry.
  std::map<std::string, std::map<std::string, bool, std::less<>>, std::less<>> uri_hosts;
  // WelcomeListSubject: lower-cased strings with * and ?, matched anywhere.
  std::map<std::string, std::string, std::less<>> subject_welcome, subject_block;
  // RegistryBoundaries: two- and three-label public suffixes (util_rb_2tld, _3tld).
  std::unordered_set<std::string> two_level, three_level;
  unsigned dkim_minimum_key_bits = 1024;
};

namespace {

// The settings we read, each with the list it adds to (aliases included).
const std::map<std::string, std::string, std::less<>>& addrlist_keys() {
  static const std::map<std::string, std::string, std::less<>> k = {
      {"welcomelist_from", "welcomelist_from"},
      {"whitelist_from", "welcomelist_from"},
      {"blocklist_from", "blocklist_from"},
      {"blacklist_from", "blocklist_from"},
      {"welcomelist_to", "welcomelist_to"},
      {"whitelist_to", "welcomelist_to"},
      {"more_spam_to", "more_spam_to"},
      {"all_spam_to", "all_spam_to"},
      {"blocklist_to", "blocklist_to"},
      {"blacklist_to", "blocklist_to"},
      {"welcomelist_auth", "welcomelist_auth"},
      {"whitelist_auth", "welcomelist_auth"},
      {"def_welcomelist_auth", "def_welcomelist_auth"},
      {"def_whitelist_auth", "def_welcomelist_auth"},
      {"welcomelist_allows_relays", "welcomelist_allows_relays"},
      {"whitelist_allows_relays", "welcomelist_allows_relays"},
      {"welcomelist_from_spf", "welcomelist_from_spf"},
      {"whitelist_from_spf", "welcomelist_from_spf"},
      {"def_welcomelist_from_spf", "def_welcomelist_from_spf"},
      {"def_whitelist_from_spf", "def_welcomelist_from_spf"},
      {"welcomelist_bounce_relays", "welcomelist_bounce_relays"},  // VBounce
      {"whitelist_bounce_relays", "welcomelist_bounce_relays"},
  };
  return k;
}

// un* settings: the lists they remove from.
const std::map<std::string, std::vector<std::string>, std::less<>>& remove_keys() {
  static const std::map<std::string, std::vector<std::string>, std::less<>> k = {
      {"unwelcomelist_from", {"welcomelist_from"}},
      {"unwhitelist_from", {"welcomelist_from"}},
      {"unblocklist_from", {"blocklist_from"}},
      {"unblacklist_from", {"blocklist_from"}},
      {"unwelcomelist_auth", {"welcomelist_auth", "def_welcomelist_auth"}},
      {"unwhitelist_auth", {"welcomelist_auth", "def_welcomelist_auth"}},
      {"unwelcomelist_from_spf", {"welcomelist_from_spf", "def_welcomelist_from_spf"}},
      {"unwhitelist_from_spf", {"welcomelist_from_spf", "def_welcomelist_from_spf"}},
  };
  return k;
}

const std::set<std::string, std::less<>>& other_keys() {
  static const std::set<std::string, std::less<>> k = {
      "welcomelist_from_rcvd",   "whitelist_from_rcvd",     "def_welcomelist_from_rcvd", "def_whitelist_from_rcvd",
      "unwelcomelist_from_rcvd", "unwhitelist_from_rcvd",   "welcomelist_from_dkim",     "whitelist_from_dkim",
      "def_welcomelist_from_dkim", "def_whitelist_from_dkim", "unwelcomelist_from_dkim", "unwhitelist_from_dkim",
      "enlist_addrlist",         "enlist_uri_host",         "delist_uri_host",           "blocklist_uri_host",
      "blacklist_uri_host",      "welcomelist_uri_host",    "whitelist_uri_host",        "welcomelist_subject",
      "whitelist_subject",       "blocklist_subject",       "blacklist_subject",         "util_rb_2tld",
      "util_rb_3tld",            "clear_util_rb",           "dkim_minimum_key_bits"};
  return k;
}

std::vector<std::string> split_ws(std::string_view v) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < v.size()) {
    while (i < v.size() && is_space(v[i])) ++i;
    std::size_t b = i;
    while (i < v.size() && !is_space(v[i])) ++i;
    if (i > b) out.emplace_back(v.substr(b, i - b));
  }
  return out;
}

WlblAddrList::Entry make_glob(const std::string& lowered) {
  WlblAddrList::Entry e;
  e.glob = lowered;
  for (char& c : e.glob)
    if (c == '\0' || c == '\\' || c == '(') c = '_';
  std::size_t w = e.glob.find_last_of("*?");
  e.suffix = w == std::string::npos ? e.glob : e.glob.substr(w + 1);
  return e;
}

// The whole of `s` matches the glob `p` (`*` any run, `?` one character). Linear
// backtracking over the last `*` only, which is exact for these two wildcards.
bool glob_whole(std::string_view p, std::string_view s) {
  std::size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi;
      ++si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

// SpamAssassin's /^re$/ on a (lower-case) address: its `.` never matches a line end,
// and our patterns hold none, so an address with one never matches.
bool entry_matches(const WlblAddrList::Entry& e, std::string_view addr) {
  if (addr.find('\n') != std::string_view::npos) return false;
  if (!addr.ends_with(e.suffix)) return false;
  return glob_whole(e.glob, addr);
}

// _check_welcomelist: the address as listed, or any pattern matching it.
const std::string* list_match(const WlblAddrList& list, const std::string& addr) {
  if (auto it = list.entries.find(addr); it != list.entries.end()) return &it->first;
  for (const auto& [pattern, e] : list.entries)
    if (entry_matches(e, addr)) return &pattern;
  return nullptr;
}

void add_pair(WlblPairList& list, const std::string& addr, const std::string& second) {
  auto it = list.entries.find(addr);
  if (it == list.entries.end()) it = list.entries.emplace(addr, WlblPairList::Entry{make_glob(addr), {}}).first;
  it->second.second.push_back(second);
}

bool valid_tld_words(const std::vector<std::string>& words, std::size_t dots) {
  for (const auto& w : words)
    if (static_cast<std::size_t>(std::count(w.begin(), w.end(), '.')) != dots || w.front() == '.' ||
        w.back() == '.' || w.find("..") != std::string::npos)
      return false;
  return true;
}

}  // namespace

std::set<std::string, std::less<>> wlbl_setting_keys() {
  std::set<std::string, std::less<>> keys = other_keys();
  for (const auto& [k, _] : addrlist_keys()) keys.insert(k);
  for (const auto& [k, _] : remove_keys()) keys.insert(k);
  return keys;
}

Result<std::shared_ptr<const WlblSettings>> parse_wlbl_settings(const std::vector<rules::Setting>& settings) {
  Result<std::shared_ptr<const WlblSettings>> out;
  auto s = std::make_shared<WlblSettings>();
  for (const auto& st : settings) {
    auto fail = [&](const std::string& why) { out.errors.push_back({st.loc.file, st.loc.line, st.key, why}); };
    const std::string& k = st.key;
    const bool known = other_keys().count(k) || addrlist_keys().count(k) || remove_keys().count(k);
    if (!known) continue;
    if (k != "clear_util_rb" && trim(st.value).empty()) {
      fail("missing value");
      continue;
    }
    const std::vector<std::string> words = split_ws(st.value);
    if (auto a = addrlist_keys().find(k); a != addrlist_keys().end()) {
      auto& list = s->lists[a->second];
      for (const auto& w : words) {
        std::string l = lower(w);
        list.entries.insert_or_assign(l, make_glob(l));
      }
    } else if (auto r = remove_keys().find(k); r != remove_keys().end()) {
      for (const auto& name : r->second)
        for (const auto& w : words) s->lists[name].entries.erase(lower(w));
    } else if (k == "enlist_addrlist") {
      // "(NAME) addr ...": the parentheses are part of the syntax.
      std::string_view v = trim(st.value);
      std::size_t close = v.size() > 2 ? v.find(')', 2) : std::string_view::npos;
      if (v.empty() || v[0] != '(' || close == std::string_view::npos || close < 2 || close + 1 >= v.size() ||
          !is_space(v[close + 1]) || split_ws(v.substr(close + 1)).empty()) {
        fail("expects (LISTNAME) address ...");
        continue;
      }
      auto& list = s->lists[std::string(v.substr(1, close - 1))];
      for (const auto& w : split_ws(v.substr(close + 1))) {
        std::string l = lower(w);
        list.entries.insert_or_assign(l, make_glob(l));
      }
    } else if (k.ends_with("_from_rcvd")) {
      if (k.starts_with("un")) {
        for (const auto& w : words) {
          s->from_rcvd.entries.erase(lower(w));
          s->def_from_rcvd.entries.erase(lower(w));
        }
        continue;
      }
      if (words.size() != 2) {
        fail("expects an address and a relay name or [ip]");
        continue;
      }
      add_pair(k.starts_with("def_") ? s->def_from_rcvd : s->from_rcvd, lower(words[0]), lower(words[1]));
    } else if (k.ends_with("_from_dkim")) {
      if (words.empty() || words.size() > 2) {
        fail("expects an address and an optional signing domain");
        continue;
      }
      std::string addr = lower(words[0]);
      std::string sdid = words.size() > 1 ? lower(words[1]) : "";
      if (k.starts_with("un")) {
        for (WlblPairList* l : {&s->from_dkim, &s->def_from_dkim}) {
          auto it = l->entries.find(addr);
          if (it == l->entries.end()) continue;
          auto& v = it->second.second;
          v.erase(std::remove(v.begin(), v.end(), sdid), v.end());
          if (v.empty()) l->entries.erase(it);
        }
        continue;
      }
      add_pair(k.starts_with("def_") ? s->def_from_dkim : s->from_dkim, addr, sdid);
    } else if (k == "enlist_uri_host" || k == "delist_uri_host") {
      std::string_view v = trim(st.value);
      std::string list_name;
      bool named = false;
      // "(NAME) host ..."; delist_uri_host reads a malformed "(..." as host names.
      if (!v.empty() && v[0] == '(') {
        std::size_t close = v.size() > 2 ? v.find(')', 2) : std::string_view::npos;
        if (close != std::string_view::npos && close + 1 < v.size() && is_space(v[close + 1]) &&
            !split_ws(v.substr(close + 1)).empty()) {
          list_name = std::string(v.substr(1, close - 1));
          named = true;
          v.remove_prefix(close + 1);
        }
      }
      auto hosts = split_ws(v);
      if (hosts.empty() || (k == "enlist_uri_host" && !named)) {
        fail(k == "enlist_uri_host" ? "expects (LISTNAME) host ..." : "expects [(LISTNAME)] host ...");
        continue;
      }
      for (auto& h : hosts) {
        h = lower(h);
        const bool neg = h.starts_with('!');
        if (neg) h.erase(0, 1);
        if (k == "enlist_uri_host") {
          s->uri_hosts[list_name][h] = !neg;
        } else if (named) {
          if (auto it = s->uri_hosts.find(list_name); it != s->uri_hosts.end()) it->second.erase(h);
        } else {
          for (auto& [_, l] : s->uri_hosts) l.erase(h);
        }
      }
    } else if (k.ends_with("_uri_host")) {
      const std::string list_name = k.starts_with("bl") ? "BLOCK" : "WELCOME";
      for (auto h : words) {
        h = lower(h);
        const bool neg = h.starts_with('!');
        if (neg) h.erase(0, 1);
        s->uri_hosts[list_name][h] = !neg;
      }
    } else if (k.ends_with("_subject")) {
      // The whole rest of the line is one string, inner white space included.
      std::string v = lower(trim(st.value));
      (k.starts_with("bl") ? s->subject_block : s->subject_welcome)[v] = v;
    } else if (k == "util_rb_2tld" || k == "util_rb_3tld") {
      const std::size_t dots = k == "util_rb_2tld" ? 1 : 2;
      if (!valid_tld_words(words, dots)) {
        fail(dots == 1 ? "expects names of two labels (co.uk)" : "expects names of three labels (demon.co.uk)");
        continue;
      }
      for (const auto& w : words) (dots == 1 ? s->two_level : s->three_level).insert(lower(w));
    } else if (k == "clear_util_rb") {
      s->two_level.clear();
      s->three_level.clear();
    } else if (k == "dkim_minimum_key_bits") {
      auto n = eval_number(st.value);
      if (!n || *n < 0 || *n > 65536 || *n != static_cast<double>(static_cast<unsigned>(*n))) {
        fail("expects a number of bits");
        continue;
      }
      s->dkim_minimum_key_bits = static_cast<unsigned>(*n);
    }
  }
  out.value = std::move(s);
  return out;
}

namespace {

const WlblSettings& settings_of(const EvalContext& ctx) {
  static const WlblSettings kEmpty;
  return ctx.settings.wlbl ? *ctx.settings.wlbl : kEmpty;
}

const WlblAddrList* named_list(const WlblSettings& s, std::string_view name) {
  auto it = s.lists.find(name);
  return it == s.lists.end() ? nullptr : &it->second;
}

void squeeze_dots(std::string& a) {
  a.erase(std::unique(a.begin(), a.end(), [](char x, char y) { return x == '.' && y == '.'; }), a.end());
}

// Every address of every field `name` (SpamAssassin's get('Name:addr')), lower case.
void field_addrs(EvalContext& ctx, std::string_view name, std::vector<std::string>& out, bool first_only = false) {
  for (auto v : ctx.raw(name)) {
    for (auto& a : addresses_in(v)) out.push_back(lower(a));
    if (first_only) break;
  }
}

void dedup(std::vector<std::string>& v) {
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (auto& a : v)
    if (!a.empty() && seen.insert(a).second) out.push_back(std::move(a));
  v = std::move(out);
}

struct FromAddrs {
  std::vector<std::string> v;
};

}  // namespace

const std::vector<std::string>& all_from_addrs(EvalContext& ctx) {
  return ctx.fact<FromAddrs>([&] {
    FromAddrs out;
    if (!ctx.raw("Resent-From").empty()) {
      field_addrs(ctx, "Resent-From", out.v, true);
    } else {
      for (const char* f : {"From", "Envelope-Sender", "Resent-Sender", "X-Envelope-From"}) field_addrs(ctx, f, out.v);
      if (auto e = envelope_sender(&relay_path(ctx), ctx.view, ctx.msg, ctx.env))
        for (auto& a : addresses_in(*e)) out.v.push_back(lower(a));
      for (auto& a : out.v) squeeze_dots(a);
    }
    dedup(out.v);
    return out;
  }).v;
}

namespace {

// Util::is_fqdn_valid: 2+ labels of [a-z0-9_-] (no '-' at either end, no '_' in the
// last two), at most 253 characters; trailing dots ignored.
bool fqdn_valid(std::string d) {
  d = lower(d);
  while (!d.empty() && d.back() == '.') d.pop_back();
  if (d.empty() || d.size() > 253) return false;
  std::vector<std::string_view> labels;
  std::string_view v(d);
  for (std::size_t p = 0;;) {
    std::size_t dot = v.find('.', p);
    labels.push_back(v.substr(p, dot == std::string_view::npos ? std::string_view::npos : dot - p));
    if (dot == std::string_view::npos) break;
    p = dot + 1;
  }
  if (labels.size() < 2) return false;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    std::string_view l = labels[i];
    if (l.empty() || l.size() > 63 || l.front() == '-' || l.back() == '-') return false;
    for (char c : l)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
    if (i + 2 >= labels.size() && l.find('_') != std::string_view::npos) return false;
  }
  return true;
}

// The recipient of a Received field's " for <rcpt>;" clause, as SpamAssassin's
// / for <?(\S+\@(\S+?))>?;/ finds it (greedy local part, shortest domain).
std::optional<std::string> received_for(std::string_view line) {
  for (std::size_t f = line.find(" for "); f != std::string_view::npos; f = line.find(" for ", f + 1)) {
    const std::size_t p = f + 5;
    for (int lt = 1; lt >= 0; --lt) {
      if (lt && (p >= line.size() || line[p] != '<')) continue;
      const std::size_t s = p + lt;
      std::size_t e = s;
      while (e < line.size() && !is_space(line[e])) ++e;
      for (std::size_t at = e; at-- > s + 1;) {
        if (line[at] != '@') continue;
        for (std::size_t j = at + 2; j < e; ++j) {
          if (line[j] == ';' || (line[j] == '>' && j + 1 < e && line[j + 1] == ';')) {
            if (!fqdn_valid(std::string(line.substr(at + 1, j - at - 1)))) break;
            return std::string(line.substr(s, j - s));
          }
        }
      }
    }
  }
  return std::nullopt;
}

// PerMsgStatus all_to_addrs: the first Resent-To and Resent-Cc fields if any, else
// the "for" recipients of the newest three Received fields and the many To-like
// fields; plus (mxgate) the live SMTP recipients.
struct ToAddrs {
  std::vector<std::string> v;
};
const std::vector<std::string>& all_to_addrs(EvalContext& ctx) {
  return ctx.fact<ToAddrs>([&] {
    ToAddrs out;
    if (!ctx.raw("Resent-To").empty() || !ctx.raw("Resent-Cc").empty()) {
      field_addrs(ctx, "Resent-To", out.v, true);
      field_addrs(ctx, "Resent-Cc", out.v, true);
    } else {
      auto rcvd = ctx.decoded("Received");
      for (std::size_t i = 0; i < rcvd.size() && i < 3; ++i)
        if (auto a = received_for(rcvd[i])) out.v.push_back(lower(*a));
      for (const char* f : {"To", "Apparently-To", "Delivered-To", "Envelope-Recipients", "Apparently-Resent-To",
                            "X-Envelope-To", "Envelope-To", "X-Delivered-To", "X-Original-To", "X-Rcpt-To",
                            "X-Real-To", "Cc"})
        field_addrs(ctx, f, out.v);
    }
    if (!ctx.env.client.ip.empty())
      for (const auto& r : ctx.env.rcpts)
        if (!r.is_null()) out.v.push_back(lower(r.address));
    dedup(out.v);
    return out;
  }).v;
}

EvalResult first_listed(const std::vector<std::string>& addrs, const WlblAddrList* list) {
  if (!list) return std::nullopt;
  for (const auto& a : addrs)
    if (const std::string* p = list_match(*list, a)) return a + (*p == a ? "" : " (" + *p + ")");
  return std::nullopt;
}

// ---- welcomelist_from_rcvd ------------------------------------------------------

// The relays a _rcvd entry may match: the first untrusted one if any (a forger
// controls everything below it), else every trusted one.
std::vector<const Relay*> rcvd_relays(const RelayPath& path) {
  std::vector<const Relay*> out;
  if (!path.untrusted.empty()) out.push_back(&path.untrusted.front());
  else
    for (const auto& r : path.trusted) out.push_back(&r);
  return out;
}

bool dotted_digits(std::string_view s, int parts) {
  int n = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t b = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == b) return false;
    ++n;
    if (i == s.size()) break;
    if (s[i] != '.') return false;
    ++i;
    if (i == s.size()) return parts < 0;  // "10.1." is a classful prefix
  }
  return parts < 0 ? n >= 1 : n == parts;
}

// One second field of a _rcvd entry against one relay.
bool relay_matches(std::string_view want, const Relay& r) {
  if (want.size() >= 2 && want.front() == '[') {
    // [ip], [ip/len] or [ip]/len
    std::size_t close = want.rfind(']');
    if (close == std::string_view::npos) return false;
    std::string ip(want.substr(1, close - 1));
    std::string_view tail = want.substr(close + 1);
    if (!tail.empty()) {
      if (tail.size() < 2 || tail.size() > 4 || tail[0] != '/' ||
          !std::all_of(tail.begin() + 1, tail.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        return false;  // not the bracket form: SpamAssassin reads it as a name no rdns ends with
      ip += std::string(tail);
    }
    if (r.ip.empty()) return false;
    if (dotted_digits(ip, 4)) return ip == r.ip;
    if (std::all_of(ip.begin(), ip.end(), [](char c) { return c == '.' || std::isdigit(static_cast<unsigned char>(c)); })) {
      // classful: "10.1" covers 10.1.*; trailing dots become one
      while (!ip.empty() && ip.back() == '.') ip.pop_back();
      ip += '.';
      return r.ip.starts_with(ip);
    }
    Cidr net;
    if (!Cidr::parse(ip, net)) return false;
    return net.contains(r.ip);
  }
  // A name: the relay's rdns is it or ends in ".name".
  std::string rdns = lower(r.rdns);
  if (rdns.size() < want.size() || !rdns.ends_with(want)) return false;
  return rdns.size() == want.size() || rdns[rdns.size() - want.size() - 1] == '.';
}

// _check_welcomelist_rcvd: 1 a listed address came through a listed relay, -1 a
// listed address came another way (a forgery, unless welcomelist_allows_relays lets
// it), 0 not listed or no relays to judge. `how` gets the matching entry.
int check_rcvd(EvalContext& ctx, const WlblSettings& s, const WlblPairList& list, const std::string& addr,
               std::string* how) {
  if (list.entries.empty()) return 0;
  const RelayPath& path = relay_path(ctx);
  if (path.untrusted.empty() && path.trusted.empty()) return 0;
  const auto relays = rcvd_relays(path);
  bool forged = false;
  for (const auto& [pattern, e] : list.entries) {
    if (!entry_matches(e.pattern, addr)) continue;
    for (const auto& want : e.second)
      for (const Relay* r : relays)
        if (relay_matches(want, *r)) {
          if (how) *how = addr + " via " + (r->rdns.empty() ? r->ip : r->rdns) + " (" + pattern + " " + want + ")";
          return 1;
        }
    forged = true;
  }
  if (forged)
    if (const WlblAddrList* allow = named_list(s, "welcomelist_allows_relays"))
      for (const auto& [_, e] : allow->entries)
        if (entry_matches(e, addr)) return 0;
  return forged ? -1 : 0;
}

// _check_from_in_welcomelist / _check_from_in_default_welcomelist, once per message.
struct FromWelcome {
  int verdict = 0;
  std::string detail;
};
struct FromDefWelcome : FromWelcome {};

// One From address against a *_from_rcvd list: true when it is listed with the relay it
// came through (verdict 1); listed with another relay only sets verdict -1.
bool rcvd_welcome(EvalContext& ctx, const WlblSettings& s, const WlblPairList& list, const std::string& addr,
                  FromWelcome& out) {
  int v = check_rcvd(ctx, s, list, addr, &out.detail);
  if (v == 1) {
    out.verdict = 1;
    return true;
  }
  if (v == -1) {
    out.verdict = -1;
    out.detail = addr + " not via a listed relay";
  }
  return false;
}

const FromWelcome& from_welcome(EvalContext& ctx) {
  return ctx.fact<FromWelcome>([&] {
    FromWelcome out;
    const WlblSettings& s = settings_of(ctx);
    const WlblAddrList* wl = named_list(s, "welcomelist_from");
    for (const auto& a : all_from_addrs(ctx)) {
      if (wl)
        if (const std::string* p = list_match(*wl, a)) {
          out.verdict = 1;
          out.detail = a + (*p == a ? "" : " (" + *p + ")");
          return out;
        }
      if (rcvd_welcome(ctx, s, s.from_rcvd, a, out)) return out;
    }
    return out;
  });
}

const FromDefWelcome& from_def_welcome(EvalContext& ctx) {
  return ctx.fact<FromDefWelcome>([&] {
    FromDefWelcome out;
    const WlblSettings& s = settings_of(ctx);
    for (const auto& a : all_from_addrs(ctx))
      if (rcvd_welcome(ctx, s, s.def_from_rcvd, a, out)) return out;
    return out;
  });
}

// ---- RegistryBoundaries split_domain -----------------------------------------------

bool us_state(std::string_view s) {
  static const std::set<std::string, std::less<>> k = {
      "ak", "al", "ar", "az", "ca", "co", "ct", "dc", "de", "fl", "ga", "gu", "hi", "ia", "id", "il", "in", "ks",
      "ky", "la", "ma", "md", "me", "mi", "mn", "mo", "ms", "mt", "nc", "nd", "ne", "nh", "nj", "nm", "nv", "ny",
      "oh", "ok", "or", "pa", "pr", "ri", "sc", "sd", "tn", "tx", "ut", "va", "vi", "vt", "wa", "wi", "wv", "wy"};
  return k.count(s) > 0;
}

// The registrable domain of a host name: "mail.foo.co.uk" -> "foo.co.uk", with the
// 2- and 3-label suffixes of util_rb_2tld / util_rb_3tld and the .us locality rules.
std::string registrable_domain(const WlblSettings& s, std::string d) {
  d = lower(d);
  squeeze_dots(d);
  while (!d.empty() && d.front() == '.') d.erase(0, 1);
  while (!d.empty() && d.back() == '.') d.pop_back();
  if (d.empty()) return d;
  std::vector<std::string> parts;
  for (std::size_t p = 0;;) {
    std::size_t dot = d.find('.', p);
    parts.push_back(d.substr(p, dot == std::string::npos ? std::string::npos : dot - p));
    if (dot == std::string::npos || parts.size() > 200) break;
    p = dot + 1;
  }
  std::size_t first = 0;  // parts[first..] is the candidate domain
  bool host_taken = false;
  auto joined = [&](std::size_t from) {
    std::string o;
    for (std::size_t i = from; i < parts.size(); ++i) o += (i > from ? "." : "") + parts[i];
    return o;
  };
  while (parts.size() - first > 1) {
    const std::size_t n = parts.size() - first;
    if (n == 2) {
      if (s.two_level.count(joined(first))) break;
    } else if (n == 3) {
      if (parts[first + 2] == "us") {
        if (us_state(parts[first + 1])) break;
      } else if (s.three_level.count(joined(first))) {
        break;
      }
    } else if (n == 4) {
      if (parts[first + 3] == "us" &&
          ((parts[first] == "pvt" && parts[first + 1] == "k12") || parts[first] == "ci" || parts[first] == "co") &&
          us_state(parts[first + 2]))
        break;
    }
    ++first;
    host_taken = true;
  }
  if (host_taken) --first;  // one label back from the suffix
  return joined(first);
}

// ---- SPF / DKIM welcomelists ------------------------------------------------------

const AuthResults* auth_of(const EvalContext& ctx) { return ctx.env.state ? &ctx.env.state->auth : nullptr; }

// SPF.pm: the envelope sender passed SPF and is on one of the lists.
EvalResult spf_welcome(EvalContext& ctx, const char* list_a, const char* list_b) {
  const AuthResults* a = auth_of(ctx);
  if (!a || !a->spf || a->spf->identity != "mailfrom" || a->spf->result != AuthResult::Pass) return std::nullopt;
  const std::string sender = lower(a->spf->sender);
  if (sender.empty()) return std::nullopt;
  const WlblSettings& s = settings_of(ctx);
  for (const char* name : {list_a, list_b})
    if (const WlblAddrList* l = named_list(s, name))
      if (const std::string* p = list_match(*l, sender)) return "spf=pass " + sender + " (" + name + " " + *p + ")";
  return std::nullopt;
}

// DKIM.pm _check_dkim_welcomelist: a valid signature whose signing domain an entry
// matching an author accepts (none given, or a *_auth entry: the author's domain).
struct DkimWelcome {
  std::string user, def;  // the detail of a hit in the user / default lists, or ""
};
const DkimWelcome& dkim_welcome(EvalContext& ctx) {
  return ctx.fact<DkimWelcome>([&] {
    DkimWelcome out;
    const AuthResults* a = auth_of(ctx);
    if (!a || a->dkim.empty()) return out;
    const WlblSettings& s = settings_of(ctx);
    std::vector<std::string> authors;
    field_addrs(ctx, "From", authors);
    if (authors.size() > 20) authors.resize(20);  // bounded work on a hostile From
    struct Tuple {
      std::string author_domain, sdid;
      bool def;
      std::string entry;
    };
    std::vector<Tuple> tuples;
    for (const auto& au : authors) {
      std::size_t at = au.rfind('@');
      std::string dom = at == std::string::npos ? "" : au.substr(at + 1);
      while (!dom.empty() && (dom.back() == ' ' || dom.back() == '\t')) dom.pop_back();
      for (int def = 0; def < 2; ++def) {
        for (const auto& [pattern, e] : (def ? s.def_from_dkim : s.from_dkim).entries)
          if (entry_matches(e.pattern, au))
            for (const auto& sd : e.second) tuples.push_back({dom, sd, def == 1, pattern});
        if (const WlblAddrList* l = named_list(s, def ? "def_welcomelist_auth" : "welcomelist_auth"))
          for (const auto& [pattern, e] : l->entries)
            if (entry_matches(e, au)) tuples.push_back({dom, "", def == 1, pattern});
        if (tuples.size() > 1000) break;
      }
    }
    if (tuples.empty()) return out;
    for (const auto& d : a->dkim) {
      if (d.selector.empty()) continue;
      const bool weak = d.key_bits && s.dkim_minimum_key_bits && d.key_bits < s.dkim_minimum_key_bits;
      if (d.result != AuthResult::Pass || weak) continue;
      std::string sdid;
      if (!d.identity.empty()) {
        std::size_t at = d.identity.find('@');
        if (at != std::string::npos) {
          std::size_t end = at + 1;
          while (end < d.identity.size() && !is_space(d.identity[end])) ++end;
          sdid = d.identity.substr(at + 1, end - at - 1);
        }
      } else {
        sdid = d.domain;
      }
      sdid = lower(sdid);
      if (sdid.empty()) continue;
      for (const auto& t : tuples) {
        bool match = false;
        if (t.sdid.empty()) {
          match = sdid == t.author_domain;
        } else {
          std::string want = t.sdid;
          if (std::size_t at = want.rfind('@'); at != std::string::npos) want.erase(0, at + 1);
          if (want.starts_with("*.")) want.erase(0, 2);
          else if (want.starts_with(".")) want.erase(0, 1);
          else {
            match = sdid == want;
            want.clear();
          }
          if (!want.empty()) match = sdid.size() > want.size() && sdid.ends_with(want) &&
                                     sdid[sdid.size() - want.size() - 1] == '.';
        }
        if (!match) continue;
        std::string& slot = t.def ? out.def : out.user;
        if (slot.empty()) slot = "dkim=pass header.d=" + sdid + " (" + t.entry + ")";
      }
    }
    return out;
  });
}

// ---- URI host lists -------------------------------------------------------------

// The host of a URL: after "scheme://", before the path, without userinfo and port.
std::string url_host(std::string_view u) {
  std::size_t p = u.find("://");
  if (p != std::string_view::npos) u.remove_prefix(p + 3);
  u = u.substr(0, std::min(u.size(), u.find_first_of("/?#\\")));
  if (std::size_t at = u.rfind('@'); at != std::string_view::npos) u.remove_prefix(at + 1);
  if (!u.empty() && u.front() == '[') {
    std::size_t close = u.find(']');
    return close == std::string_view::npos ? std::string() : lower(u.substr(0, close + 1));
  }
  if (std::size_t colon = u.find(':'); colon != std::string_view::npos) u = u.substr(0, colon);
  std::string h = lower(u);
  while (!h.empty() && h.back() == '.') h.pop_back();
  return h;
}

// _check_uri_host_listed: per list name, the first host found on it.
struct UriHostHits {
  std::map<std::string, std::string, std::less<>> by_list;
};
const UriHostHits& uri_host_hits(EvalContext& ctx) {
  return ctx.fact<UriHostHits>([&] {
    UriHostHits out;
    const WlblSettings& s = settings_of(ctx);
    if (s.uri_hosts.empty()) return out;
    std::set<std::string> seen;
    for (const auto& u : ctx.texts.urls) {
      if (istarts_with(u, "mailto:")) continue;
      std::string host = url_host(u);
      if (host.empty() || !seen.insert(host).second) continue;
      std::vector<std::string> keys;
      if (host.front() == '[') {
        keys.push_back(host.substr(1, host.size() - 2));
      } else if (dotted_digits(host, 4)) {
        keys.push_back(host);
      } else {
        std::string h = host;
        for (;;) {
          if (keys.size() > 10) keys.erase(keys.begin());
          keys.push_back(h);
          std::size_t dot = h.find('.');
          if (dot == std::string::npos) break;
          h.erase(0, dot + 1);
        }
      }
      for (const auto& [name, list] : s.uri_hosts) {
        for (const auto& q : keys) {
          auto it = list.find(q);
          if (it == list.end()) continue;
          if (it->second && !out.by_list.count(name)) out.by_list[name] = q == host ? host : host + " (" + q + ")";
          break;
        }
      }
    }
    return out;
  });
}

EvalFunction uri_host_listed(std::string fixed) {
  return {[fixed](EvalContext& ctx, EvalArgs args) -> EvalResult {
            const std::string name = fixed.empty() ? (args.empty() ? "" : args[0]) : fixed;
            const auto& hits = uri_host_hits(ctx).by_list;
            auto it = hits.find(name);
            if (it == hits.end()) return std::nullopt;
            return "URI: " + it->second;
          },
          fixed.empty() ? std::vector<rules::Scope>{rules::Scope::Header} : std::vector<rules::Scope>{},
          fixed.empty() ? std::function<std::string(const std::vector<std::string>&)>(
                              [](const std::vector<std::string>& a) -> std::string {
                                return a.size() == 1 && !a[0].empty() ? "" : "takes a list name";
                              })
                        : nullptr};
}

// ---- Subject lists --------------------------------------------------------------

EvalResult subject_listed(EvalContext& ctx, const std::map<std::string, std::string, std::less<>>& list) {
  if (list.empty()) return std::nullopt;
  auto subject = ctx.get("Subject");
  if (!subject || subject->empty()) return std::nullopt;
  const std::string low = lower(*subject);
  // The pattern may match anywhere in a line, never across one.
  std::size_t p = 0;
  while (p < low.size()) {
    std::size_t nl = low.find('\n', p);
    std::string_view line = std::string_view(low).substr(p, nl == std::string::npos ? std::string::npos : nl - p);
    p = nl == std::string::npos ? low.size() : nl + 1;
    for (const auto& [shown, pattern] : list) {
      std::string glob = "*" + pattern + "*";
      if (glob_whole(glob, line)) return "Subject matches '" + shown + "'";
    }
  }
  return std::nullopt;
}

EvalResult mailfrom_matches_rcvd(EvalContext& ctx) {
  auto env = envelope_sender(&relay_path(ctx), ctx.view, ctx.msg, ctx.env);
  if (!env) return std::nullopt;
  auto addrs = addresses_in(*env);
  if (addrs.empty()) return std::nullopt;
  const std::string& sender = addrs.front();
  std::size_t at = sender.rfind('@');
  if (at == std::string::npos) return std::nullopt;
  // SpamAssassin wants text on both sides of a dot after the last '@'.
  const std::string domain = lower(sender.substr(at + 1));
  bool dotted = false;
  for (std::size_t i = 1; i + 1 < domain.size() && !dotted; ++i) dotted = domain[i] == '.';
  if (!dotted) return std::nullopt;
  const RelayPath& path = relay_path(ctx);
  const WlblSettings& s = settings_of(ctx);
  const std::string want = registrable_domain(s, domain);
  for (const Relay* r : rcvd_relays(path)) {
    if (r->rdns.empty()) continue;
    if (registrable_domain(s, r->rdns) == want) return sender + " matches relay " + lower(r->rdns);
  }
  return std::nullopt;
}

std::string one_list_name(const std::vector<std::string>& a) {
  return a.size() == 1 && !a[0].empty() ? "" : "takes a list name";
}

using AddrsOf = const std::vector<std::string>& (*)(EvalContext&);

// The first of `addrs` in the list named `list`, or with none, the list the rule names.
EvalFunction listed_fn(AddrsOf addrs, const char* list = nullptr) {
  return {[addrs, list](EvalContext& ctx, EvalArgs args) -> EvalResult {
            if (!list && args.empty()) return std::nullopt;
            std::string_view name = list ? std::string_view(list) : std::string_view(args[0]);
            return first_listed(addrs(ctx), named_list(settings_of(ctx), name));
          },
          {rules::Scope::Header}, list ? nullptr : one_list_name};
}

// welcomelist_from (def false) or def_welcomelist_from (def true): a hit when it welcomes
// the sender; with `forged`, when it lists the sender with other relays and the
// other list does not decide.
EvalFunction from_welcome_fn(bool def, bool forged) {
  return {[def, forged](EvalContext& ctx, EvalArgs) -> EvalResult {
            const FromWelcome& f = def ? from_def_welcome(ctx) : from_welcome(ctx);
            if (forged) {
              if (f.verdict >= 0 || (def ? from_welcome(ctx) : from_def_welcome(ctx)).verdict != 0)
                return std::nullopt;
            } else if (f.verdict <= 0) {
              return std::nullopt;
            }
            return f.detail;
          },
          {rules::Scope::Header}, nullptr};
}

// welcomelist_from_dkim & co. (def false) or def_welcomelist_from_dkim & co. (def true).
EvalFunction dkim_welcome_fn(bool def) {
  return {[def](EvalContext& ctx, EvalArgs) -> EvalResult {
            const DkimWelcome& d = dkim_welcome(ctx);
            const std::string& hit = def ? d.def : d.user;
            if (hit.empty()) return std::nullopt;
            return hit;
          },
          {rules::Scope::Header}, nullptr};
}

}  // namespace

// HeaderEval's check_ratware_envelope_from (here for the registrable domain): a
// bulk mailer's envelope sender built from the recipient, "dom.user@...": the one To
// address's user and registrable domain (with a known TLD) inside the envelope
// sender, SRS addresses excepted.
EvalResult ratware_envelope_from(EvalContext& ctx, EvalArgs) {
  auto to = header_text("to:addr", ctx.view, ctx.msg, ctx.env, nullptr);
  auto from = envelope_sender(&relay_path(ctx), ctx.view, ctx.msg, ctx.env);
  if (!to || !from || to->empty() || from->empty()) return std::nullopt;
  if (from->size() > 5 && istarts_with(*from, "srs") && std::isdigit(static_cast<unsigned char>((*from)[3])) &&
      std::string_view("=+-").find((*from)[4]) != std::string_view::npos)
    return std::nullopt;
  // get('To:addr') in scalar context: the first address only. /^([^@]+)\@(.+)$/.
  std::string t = to->substr(0, to->find('\n'));
  std::size_t at = t.find('@');
  if (at == 0 || at == std::string::npos || at + 1 >= t.size()) return std::nullopt;
  const std::string user = t.substr(0, at);
  const std::string dom = registrable_domain(settings_of(ctx), t.substr(at + 1));
  if (!ctx.settings.uri || !ctx.settings.uri->domain_valid(dom)) return std::nullopt;
  // /\b\Qdom\E.\Quser\E@/i
  const std::string f = lower(*from), d = lower(dom), u = lower(user);
  for (std::size_t p = f.find(d); p != std::string::npos; p = f.find(d, p + 1)) {
    bool boundary = p == 0 || !(std::isalnum(static_cast<unsigned char>(f[p - 1])) || f[p - 1] == '_') ||
                    !(std::isalnum(static_cast<unsigned char>(d[0])) || d[0] == '_');
    std::size_t q = p + d.size() + 1;
    if (boundary && q + u.size() < f.size() && f.compare(q, u.size(), u) == 0 && f[q + u.size()] == '@')
      return *from + " carries " + t;
  }
  return std::nullopt;
}

// VBounce (Plugin/VBounce.pm): is a bounce about mail that went out through our own
// relays (welcomelist_bounce_relays)? A "Received:" line of the bounced message, in
// the rendered body or in the body as written (folded lines joined), naming one of
// them. Without any relay listed both tests are false, as there.
bool have_bounce_relays(EvalContext& ctx) {
  const WlblSettings& s = settings_of(ctx);
  auto it = s.lists.find("welcomelist_bounce_relays");
  return it != s.lists.end() && !it->second.entries.empty();
}

EvalResult bounce_relay_in(EvalContext& ctx, std::string_view text, bool fold) {
  const WlblAddrList& list = settings_of(ctx).lists.at("welcomelist_bounce_relays");
  auto received = [](std::string_view l) {  // /^[> ]*Received:/i
    std::size_t k = 0;
    while (k < l.size() && (l[k] == '>' || l[k] == ' ')) ++k;
    return istarts_with(l.substr(k), "received:");
  };
  std::string full;
  bool found = false;
  for (std::size_t p = 0; p <= text.size();) {
    std::size_t nl = text.find('\n', p);
    std::string_view line = text.substr(p, nl == std::string_view::npos ? std::string_view::npos : nl - p);
    p = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    if (!fold) {
      full.assign(line);
    } else {
      if (!found && !received(line)) continue;
      found = true;
      if (!line.empty() && is_space(line[0])) full.append(line);
      else full.assign(line);
    }
    if (!received(full)) continue;
    // / (\S+\.\S+) / (the body) or /\s(\S+\.\S+)\s/ (as written): a word with a dot
    // between white space.
    for (std::size_t k = 0; k < full.size(); ++k) {
      if (!(fold ? is_space(full[k]) : full[k] == ' ')) continue;
      std::size_t b = k + 1, e = b;
      while (e < full.size() && !is_space(full[e])) ++e;
      std::string word = lower(std::string_view(full).substr(b, e - b));
      bool closed = e < full.size() && (fold ? is_space(full[e]) : full[e] == ' ');
      std::size_t dot = word.size() > 2 ? word.find('.', 1) : std::string::npos;
      if (closed && dot != std::string::npos && dot + 1 < word.size()) {
        if (const std::string* m = list_match(list, word)) return "bounced mail relayed by " + word + " (" + *m + ")";
        k = e;  // the match took the white space after it (m//g goes on from there)
      } else {
        k = e - 1;
      }
    }
  }
  return std::nullopt;
}

EvalResult welcomelist_bounce_relays(EvalContext& ctx, EvalArgs) {
  if (!have_bounce_relays(ctx)) return std::nullopt;
  if (auto hit = bounce_relay_in(ctx, ctx.texts.body.text, false)) return hit;
  std::string_view pristine = ctx.msg.body();
  if (pristine.find("eceived:") == std::string_view::npos && pristine.find("ECEIVED:") == std::string_view::npos) {
    std::string low = lower(pristine);
    if (low.find("received:") == std::string::npos) return std::nullopt;
  }
  std::string lf;
  lf.reserve(pristine.size());
  for (char c : pristine)
    if (c != '\r') lf += c;
  return bounce_relay_in(ctx, lf, true);
}

void add_wlbl_evals(EvalTable& t) {
  // VBounce (its functions work from any rule type).
  t["have_any_bounce_relays"] = {[](EvalContext& ctx, EvalArgs) -> EvalResult {
                                   if (!have_bounce_relays(ctx)) return std::nullopt;
                                   return std::string("welcomelist_bounce_relays is set");
                                 },
                                 {},
                                 nullptr};
  for (const char* n : {"check_welcomelist_bounce_relays", "check_whitelist_bounce_relays"})
    t[n] = {welcomelist_bounce_relays, {}, nullptr};
  t["check_ratware_envelope_from"] = {ratware_envelope_from, {rules::Scope::Header}, nullptr};

  const std::vector<rules::Scope> head{rules::Scope::Header};
  // The *_whitelist / *_blacklist names are SpamAssassin's aliases until 4.1.
  for (const char* n : {"check_from_in_blocklist", "check_from_in_blacklist"})
    t[n] = listed_fn(all_from_addrs, "blocklist_from");
  for (const char* n : {"check_to_in_blocklist", "check_to_in_blacklist"})
    t[n] = listed_fn(all_to_addrs, "blocklist_to");
  for (const char* n : {"check_to_in_welcomelist", "check_to_in_whitelist"})
    t[n] = listed_fn(all_to_addrs, "welcomelist_to");
  t["check_to_in_more_spam"] = listed_fn(all_to_addrs, "more_spam_to");
  t["check_to_in_all_spam"] = listed_fn(all_to_addrs, "all_spam_to");

  t["check_from_in_list"] = listed_fn(all_from_addrs);
  t["check_to_in_list"] = listed_fn(all_to_addrs);
  // Reply-To:addr is the first address of the Reply-To fields.
  t["check_replyto_in_list"] = {[](EvalContext& ctx, EvalArgs args) -> EvalResult {
                                  if (args.empty()) return std::nullopt;
                                  std::vector<std::string> r;
                                  field_addrs(ctx, "Reply-To", r);
                                  if (r.empty()) return std::nullopt;
                                  r.resize(1);
                                  return first_listed(r, named_list(settings_of(ctx), args[0]));
                                },
                                head, one_list_name};

  for (const char* n : {"check_from_in_welcomelist", "check_from_in_whitelist"}) t[n] = from_welcome_fn(false, false);
  for (const char* n : {"check_from_in_default_welcomelist", "check_from_in_default_whitelist"})
    t[n] = from_welcome_fn(true, false);
  // Listed with a relay, came through another, and not welcomed by the other list.
  for (const char* n : {"check_forged_in_welcomelist", "check_forged_in_whitelist"})
    t[n] = from_welcome_fn(false, true);
  for (const char* n : {"check_forged_in_default_welcomelist", "check_forged_in_default_whitelist"})
    t[n] = from_welcome_fn(true, true);

  t["check_mailfrom_matches_rcvd"] = {[](EvalContext& ctx, EvalArgs) { return mailfrom_matches_rcvd(ctx); }, head,
                                      nullptr};

  t["check_uri_host_listed"] = uri_host_listed("");
  for (const char* n : {"check_uri_host_in_blocklist", "check_uri_host_in_blacklist"}) t[n] = uri_host_listed("BLOCK");
  for (const char* n : {"check_uri_host_in_welcomelist", "check_uri_host_in_whitelist"})
    t[n] = uri_host_listed("WELCOME");

  // SPF plugin: welcomelist_from_spf / welcomelist_auth, and the def_ lists.
  for (const char* n : {"check_for_spf_welcomelist_from", "check_for_spf_whitelist_from"})
    t[n] = {[](EvalContext& ctx, EvalArgs) { return spf_welcome(ctx, "welcomelist_from_spf", "welcomelist_auth"); },
            head, nullptr};
  for (const char* n : {"check_for_def_spf_welcomelist_from", "check_for_def_spf_whitelist_from"})
    t[n] = {[](EvalContext& ctx, EvalArgs) {
              return spf_welcome(ctx, "def_welcomelist_from_spf", "def_welcomelist_auth");
            },
            head, nullptr};
  // DKIM plugin: welcomelist_from_dkim / welcomelist_auth, and the def_ lists.
  for (const char* n : {"check_for_dkim_welcomelist_from", "check_for_dkim_whitelist_from"})
    t[n] = dkim_welcome_fn(false);
  for (const char* n : {"check_for_def_dkim_welcomelist_from", "check_for_def_dkim_whitelist_from"})
    t[n] = dkim_welcome_fn(true);

  // WelcomeListSubject plugin.
  for (const char* n : {"check_subject_in_welcomelist", "check_subject_in_whitelist"})
    t[n] = {[](EvalContext& ctx, EvalArgs) { return subject_listed(ctx, settings_of(ctx).subject_welcome); }, head,
            nullptr};
  for (const char* n : {"check_subject_in_blocklist", "check_subject_in_blacklist"})
    t[n] = {[](EvalContext& ctx, EvalArgs) { return subject_listed(ctx, settings_of(ctx).subject_block); }, head,
            nullptr};
}

std::string registrable_domain(const WlblSettings* s, std::string_view host) {
  static const WlblSettings kDefaults;
  return registrable_domain(s ? *s : kDefaults, std::string(host));
}

}  // namespace mxgate
