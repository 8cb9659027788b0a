#include "filters/content/network_tests.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <set>

#include "base/text.hpp"
#include "filters/content/relays.hpp"
#include "filters/content/uri_detail.hpp"
#include "filters/content/uri_list.hpp"
#include "filters/dns/reverse.hpp"

namespace mxgate {
namespace {

constexpr std::size_t kNumCheckReceived = 9;  // SpamAssassin's num_check_received
// The URIDNSBL address rules' bounds: a domain can name any number of name servers
// and a name any number of addresses, and each becomes a question per list.
constexpr std::size_t kMaxNsPerDomain = 8;
constexpr std::size_t kMaxNsNames = 40;      // name servers looked up per message
constexpr std::size_t kMaxAddrsPerName = 8;
constexpr std::size_t kMaxUriAddresses = 50;  // addresses asked about per message, per tflags kind

std::vector<std::string> uniq_strip_private(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& ip : in) {
    if (ip.empty() || !seen.insert(ip).second || ip_is_private(ip)) continue;
    out.push_back(ip);
  }
  return out;
}

bool ends_with(const std::string& s, std::string_view suffix) { return s.size() >= suffix.size() && s.ends_with(suffix); }

// Dotted IPv4 addresses in a header value (SpamAssassin's $IP_ADDRESS, IPv4 part).
std::vector<std::string> ipv4s_in(std::string_view v) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < v.size()) {
    if (!(v[i] >= '0' && v[i] <= '9') || (i > 0 && ((v[i - 1] >= '0' && v[i - 1] <= '9') || v[i - 1] == '.'))) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < v.size() && ((v[j] >= '0' && v[j] <= '9') || v[j] == '.')) ++j;
    std::string cand(v.substr(i, j - i));
    while (!cand.empty() && cand.back() == '.') cand.pop_back();
    in_addr a{};
    if (inet_pton(AF_INET, cand.c_str(), &a) == 1) out.push_back(cand);
    i = j;
  }
  return out;
}

std::optional<std::uint32_t> uri_subtest_number(std::string_view t) {
  std::string v(t);
  if (!v.empty() && v.size() <= 10 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return static_cast<std::uint32_t>(std::strtoull(v.c_str(), nullptr, 10));
  if (v.size() > 2 && v.size() <= 10 && (v.starts_with("0x") || v.starts_with("0X")) &&
      std::all_of(v.begin() + 2, v.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }))
    return static_cast<std::uint32_t>(std::strtoull(v.c_str() + 2, nullptr, 16));
  in_addr a{};
  if (inet_pton(AF_INET, v.c_str(), &a) == 1) return ntohl(a.s_addr);
  return std::nullopt;
}

std::vector<std::string> words_of(std::string_view v) {
  std::vector<std::string> w;
  std::size_t i = 0;
  while (i < v.size()) {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < v.size() && v[j] != ' ' && v[j] != '\t') ++j;
    if (j > i) w.emplace_back(v.substr(i, j - i));
    i = j;
  }
  return w;
}

// The pieces of `s` between `sep`s, trimmed, empty ones dropped.
std::vector<std::string> pieces(std::string_view s, char sep) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const std::size_t i = s.find(sep);
    std::string_view p = trim(s.substr(0, i));
    if (!p.empty()) out.emplace_back(p);
    if (i == std::string_view::npos) break;
    s.remove_prefix(i + 1);
  }
  return out;
}

// DNSEval's default rbl_headers (check_rbl_headers without its own list).
constexpr const char* kRblHeaders = "EnvelopeFrom,Reply-To,Disposition-Notification-To,X-WebmasterMail,X-MailFrom";

bool has_tflag(const rules::Rule& r, std::string_view flag) {
  return std::find(r.tflags.begin(), r.tflags.end(), flag) != r.tflags.end();
}

// DNSEval's _check_rbl_addresses / check_rbl_headers host test: what a host is
// asked as in a name list ("" to skip it): an address reversed (unless the rule is
// domains_only), a valid name with a known TLD as itself (unless ips_only).
std::string rbl_host_item(std::string host, const rules::Rule& r, const UriSettings* uri) {
  while (!host.empty() && host.front() == '.') host.erase(host.begin());
  while (!host.empty() && host.back() == '.') host.pop_back();
  host.erase(std::unique(host.begin(), host.end(), [](char x, char y) { return x == '.' && y == '.'; }), host.end());
  host = lower(host);
  if (host.find('.') == std::string::npos) return {};
  in_addr a4{};
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) return has_tflag(r, "domains_only") ? "" : reversed_address(host);
  if (has_tflag(r, "ips_only") || !fqdn_valid(host) || !uri || !uri->domain_valid(host)) return {};
  return host;
}

std::string host_of(const std::string& addr) {
  const std::size_t at = addr.rfind('@');
  return at == std::string::npos ? std::string() : addr.substr(at + 1);
}

}  // namespace

std::set<std::string, std::less<>> uridnsbl_setting_keys() {
  return {"urirhssub", "urirhsbl", "uridnssub", "uridnsbl", "uridnsbl_skip_domain", "uridnsbl_max_domains"};
}

std::optional<std::string> canonical_uridnsbl_subtest(std::string_view subtest) {
  // URIDNSBL's parse_and_canonicalize_subtest: N (a mask), A-B, V/M; a dotted
  // address alone is the range A-A.
  std::size_t sep = subtest.find_first_of("-/");
  auto n1 = uri_subtest_number(subtest.substr(0, sep));
  if (!n1) return std::nullopt;
  if (sep == std::string_view::npos) {
    const bool dotted = subtest.find('.') != std::string_view::npos;
    return dotted ? std::to_string(*n1) + "-" + std::to_string(*n1) : std::to_string(*n1);
  }
  auto n2 = uri_subtest_number(subtest.substr(sep + 1));
  if (!n2) return std::nullopt;
  return std::to_string(*n1) + subtest[sep] + std::to_string(*n2);
}

bool uridnsbl_subtest_matches(const std::string& canonical, const std::string& answer) {
  in_addr a{};
  if (inet_pton(AF_INET, answer.c_str(), &a) != 1) return false;
  const std::uint32_t v = ntohl(a.s_addr);
  std::size_t sep = canonical.find_first_of("-/");
  const std::uint32_t n1 = static_cast<std::uint32_t>(std::strtoull(canonical.c_str(), nullptr, 10));
  if (sep == std::string::npos) return (v & n1) != 0 && (v & 0xff000000u) == 0x7f000000u;  // a mask, 127/8 only
  const std::uint32_t n2 = static_cast<std::uint32_t>(std::strtoull(canonical.c_str() + sep + 1, nullptr, 10));
  return canonical[sep] == '-' ? v >= n1 && v <= n2 : (v & n2) == (n1 & n2);
}

Result<std::shared_ptr<const UriDnsblSettings>> parse_uridnsbl_settings(const std::vector<rules::Setting>& settings) {
  Result<std::shared_ptr<const UriDnsblSettings>> out;
  auto s = std::make_shared<UriDnsblSettings>();
  for (const auto& st : settings) {
    auto err = [&](const std::string& what) { out.errors.push_back({st.loc.file, st.loc.line, st.key, what}); };
    const std::vector<std::string> w = words_of(st.value);
    if (st.key == "urirhssub" || st.key == "urirhsbl" || st.key == "uridnssub" || st.key == "uridnsbl") {
      const bool sub = st.key.ends_with("sub");
      if (w.size() != (sub ? 4u : 3u)) {
        err(sub ? "expects a rule name, a zone, a query type and a subtest" : "expects a rule name, a zone and a query type");
        continue;
      }
      UriDnsblSettings::Rhs r;
      r.rule = w[0];
      r.zone = lower(w[1]);
      while (!r.zone.empty() && r.zone.back() == '.') r.zone.pop_back();
      const std::string type = upper(w[2]);
      if (type != "A" && type != "TXT") {
        err("query type must be A or TXT (got \"" + w[2] + "\")");
        continue;
      }
      r.type = type == "TXT" ? RrType::TXT : RrType::A;
      if (sub) {
        auto c = canonical_uridnsbl_subtest(w[3]);
        if (!c) {
          err("subtest must be an address, a number, a range a-b or value/mask (got \"" + w[3] + "\")");
          continue;
        }
        r.subtest = *c;
      }
      // A later definition of the same rule replaces the earlier one, of either kind.
      auto same = [&](const UriDnsblSettings::Rhs& x) { return x.rule == r.rule; };
      std::erase_if(s->rhs, same);
      std::erase_if(s->rev, same);
      (st.key.starts_with("urirhs") ? s->rhs : s->rev).push_back(std::move(r));
    } else if (st.key == "uridnsbl_skip_domain") {
      for (const auto& d : w) s->skip.insert(lower(d));
    } else if (st.key == "uridnsbl_max_domains") {
      auto n = w.size() == 1 ? uri_subtest_number(w[0]) : std::nullopt;
      if (!n || w[0].find('.') != std::string::npos) err("expects a number");
      else s->max_domains = *n;
    }
  }
  out.value = std::move(s);
  return out;
}

bool dnsbl_subtest_matches(const std::string& subtest, const std::string& answer) {
  if (subtest.empty()) return true;
  const bool digits = std::all_of(subtest.begin(), subtest.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {  // a bit mask over the whole address
    in_addr a{};
    if (answer.rfind("127.", 0) != 0 || inet_pton(AF_INET, answer.c_str(), &a) != 1) return false;
    return (ntohl(a.s_addr) & std::strtoul(subtest.c_str(), nullptr, 10)) != 0;
  }
  in_addr x{};
  if (inet_pton(AF_INET, subtest.c_str(), &x) == 1) return subtest == answer;
  auto re = EvalRegex::compile(subtest, 0);
  return re && re->search(answer);
}

namespace {

// URIDNSBL's choice of hosts: by the kind of URI (SpamAssassin's priority), at most
// max_domains, skip-listed domains and hosts left out. host -> its domain.
std::vector<std::pair<std::string, std::string>> uridnsbl_hosts(EvalContext& ctx, const UriDnsblSettings& u,
                                                                const EvalSettings& settings) {
  std::vector<std::map<std::string, std::string>> ordered(6);
  for (const auto& [raw, d] : uri_detail_list(ctx)) {
    if (istarts_with(raw, "mailto:")) continue;  // uridnsbl_skip_mailto, on by default
    std::size_t entry = 3;
    if (d.types.count("a")) {
      entry = std::any_of(d.anchor_text.begin(), d.anchor_text.end(), [](const std::string& t) { return !t.empty(); })
                  ? 0 : 5;
    } else if (d.types.count("form")) {
      entry = 1;
    } else if (d.types.count("img")) {
      entry = 2;
    } else if (d.types.count("parsed") && d.types.size() == 1) {
      entry = 4;
    }
    for (const auto& c : d.cleaned) {
      auto hd = uri_to_domain(c, settings.uri.get(), settings.wlbl.get());
      if (!hd || hd->host.empty() || hd->domain.empty()) continue;
      if (u.skip.count(hd->domain) || u.skip.count(hd->host)) continue;
      ordered[entry].emplace(lower(hd->host), lower(hd->domain));
    }
  }
  std::vector<std::pair<std::string, std::string>> out;
  std::set<std::string> seen;
  for (const auto& group : ordered) {
    // SpamAssassin picks at random among the group that overflows; the first ones
    // in order here, so the same message always asks the same questions.
    for (const auto& [host, domain] : group) {
      if (out.size() >= u.max_domains) return out;
      if (seen.insert(host).second) out.emplace_back(host, domain);
    }
  }
  return out;
}

}  // namespace

namespace {

// The envelope sender's domain, as DNSEval's check_dns_sender and check_rbl_ns_from
// read it: the part after '@' with runs of dots squeezed, when it has a dot.
std::string envelope_domain(EvalContext& ctx, const RelayPath& path) {
  auto e = envelope_sender(&path, ctx.view, ctx.msg, ctx.env);
  if (!e) return {};
  for (const auto& addr : addresses_in(*e)) {
    std::string host = lower(host_of(addr));
    host.erase(std::unique(host.begin(), host.end(), [](char x, char y) { return x == '.' && y == '.'; }), host.end());
    if (host.find('.') != std::string::npos && host.find_first_of(" \t") == std::string::npos) return host;
  }
  return {};
}

// DNSEval's name and address lists other than the relays' (check_rbl_envfrom,
// check_rbl_from_host, check_rbl_from_domain, check_rbl_headers, check_rbl_rcvd),
// its check_rbl_ns_from (round 1: the sender domain's name servers) and
// check_dns_sender (round 1: the sender domain's A and MX). False: not one of them.
bool plan_address_rbl(NetworkPlan& plan, const rules::Rule& r, EvalContext& ctx, const RelayPath& path,
                      const EvalSettings& settings) {
  const std::string& fn = r.eval.function;
  const auto& a = r.eval.args;
  if (fn == "check_dns_sender") {
    const std::string domain = envelope_domain(ctx, path);
    if (!domain.empty())
      plan.dns_senders.push_back({r.name, domain, plan.question(domain, RrType::A), plan.question(domain, RrType::MX)});
    return true;
  }
  static const std::set<std::string, std::less<>> kFunctions = {"check_rbl_envfrom", "check_rbl_from_host",
                                                                "check_rbl_from_domain", "check_rbl_headers",
                                                                "check_rbl_rcvd", "check_rbl_ns_from"};
  if (!kFunctions.count(fn)) return false;
  if (a.size() < 2) return true;
  std::string zone = lower(a[1]);
  while (!zone.empty() && zone.back() == '.') zone.pop_back();
  const std::string subtest = a.size() >= 3 ? a[2] : "";
  if (fn == "check_rbl_ns_from") {
    const std::string domain = envelope_domain(ctx, path);
    if (!domain.empty())
      plan.ns_froms.push_back({r.name, a[0], subtest, zone, domain, plan.question(domain, RrType::NS)});
    return true;
  }
  const UriSettings* uri = settings.uri.get();
  std::vector<std::string> hosts;  // before rbl_host_item
  auto add_addr_hosts = [&](const std::vector<std::string>& addrs) {
    for (const auto& addr : addrs) hosts.push_back(host_of(addr));
  };
  if (fn == "check_rbl_envfrom") {
    if (auto e = envelope_sender(&path, ctx.view, ctx.msg, ctx.env)) add_addr_hosts(addresses_in(*e));
  } else if (fn == "check_rbl_from_host") {
    add_addr_hosts(all_from_addrs(ctx));
  } else if (fn == "check_rbl_from_domain") {
    for (const auto& addr : all_from_addrs(ctx)) {
      std::string host = host_of(addr);
      hosts.push_back(host.empty() ? host : registrable_domain(settings.wlbl.get(), host));
    }
  } else if (fn == "check_rbl_headers") {
    std::string list = a.size() >= 4 ? a[3] : kRblHeaders;
    for (const auto& field : pieces(list, ',')) {
      std::vector<std::string> addrs;
      if (iequals(field, "EnvelopeFrom")) {
        if (auto e = envelope_sender(&path, ctx.view, ctx.msg, ctx.env)) addrs = addresses_in(*e);
      } else if (auto raw = ctx.raw(field); !raw.empty()) {
        addrs = addresses_in(raw.front());
      }
      if (!addrs.empty() && !host_of(addrs.front()).empty()) {  // get('Name:addr'): the first address
        hosts.push_back(host_of(addrs.front()));
      } else if (auto v = ctx.get(field)) {  // else each line of the value is a host
        for (auto& line : pieces(*v, '\n')) hosts.push_back(std::move(line));
      }
    }
  } else if (fn == "check_rbl_rcvd" && !path.untrusted.empty()) {
    const Relay& origin = path.untrusted.back();  // the oldest untrusted relay
    for (const std::string* v : {&origin.ip, &origin.by, &origin.helo, &origin.rdns}) hosts.push_back(*v);
  }
  std::set<std::string> seen;
  for (const auto& h : hosts) {
    const std::string item = rbl_host_item(h, r, uri);
    if (item.empty() || !seen.insert(item).second) continue;
    NetworkPlan::Ask ask{r.name, a[0], subtest, lower(h), zone, 0, false};
    ask.question = plan.question(item + "." + zone, RrType::A);
    plan.asks.push_back(std::move(ask));
  }
  return true;
}

}  // namespace

std::size_t NetworkPlan::question(const std::string& name, RrType type) {
  auto [it, fresh] = index.emplace(std::make_pair(name, static_cast<int>(type)), questions.size());
  if (fresh) questions.push_back({name, type});
  return it->second;
}

NetworkPlan plan_network_tests(const rules::RuleSet& rs, const RelayPath& path, const EvalSettings& settings,
                               const MimeView& view, EvalContext* ctx) {
  NetworkPlan plan;
  auto ask = [&](NetworkPlan::Ask a, const std::string& name, RrType type) {
    a.question = plan.question(name, type);
    plan.asks.push_back(std::move(a));
  };
  // URIDNSBL: the URI hosts' domains (an address reversed), for each rhs rule that
  // a network score set scores; the address rules' first round.
  if (ctx && settings.uridnsbl && (!settings.uridnsbl->rhs.empty() || !settings.uridnsbl->rev.empty())) {
    auto scored = [&](const std::string& name) -> const rules::Rule* {
      const rules::Rule* rule = rs.find(name);
      if (rule && (rule->scores[rules::kSetNet] != 0 || rule->scores[rules::kSetBayesNet] != 0 || name.starts_with("__")))
        return rule;
      return nullptr;
    };
    std::vector<const UriDnsblSettings::Rhs*> active;
    for (const auto& r : settings.uridnsbl->rhs)
      if (scored(r.rule)) active.push_back(&r);
    for (const auto& r : settings.uridnsbl->rev) {
      const rules::Rule* rule = scored(r.rule);
      if (!rule) continue;
      const bool a = std::find(rule->tflags.begin(), rule->tflags.end(), "a") != rule->tflags.end();
      const bool ns = std::find(rule->tflags.begin(), rule->tflags.end(), "ns") != rule->tflags.end();
      if (a) plan.a_rules.push_back(r);
      if (ns || !a) plan.ns_rules.push_back(r);
    }
    if (!active.empty() || !plan.a_rules.empty() || !plan.ns_rules.empty())
      for (const auto& [host, domain] : uridnsbl_hosts(*ctx, *settings.uridnsbl, settings)) {
        in_addr a4{};
        const bool ip = inet_pton(AF_INET, host.c_str(), &a4) == 1;
        if (ip && ip_is_private(host)) continue;
        const std::string item = ip ? host : domain;
        const std::string lookup = ip ? reversed_address(host) : item;
        for (const auto* r : active)
          ask({r->rule, "", r->subtest, item, r->zone, 0, true}, lookup + "." + r->zone, r->type);
        if (ip || host.find(':') != std::string::npos) continue;  // an address link: rhs rules only
        NetworkPlan::UriHost h{host, domain};
        if (!plan.ns_rules.empty()) h.ns_question = plan.question(domain, RrType::NS);
        if (!plan.a_rules.empty()) h.a_question = plan.question(host, RrType::A);
        if (h.ns_question != NetworkPlan::kNone || h.a_question != NetworkPlan::kNone)
          plan.uri_hosts.push_back(std::move(h));
      }
  }
  const RelaySettings defaults;
  const RelaySettings& rel = settings.relay ? *settings.relay : defaults;
  // DNSEval's parsed_metadata: the untrusted relays' addresses, the external ones
  // (trusted but not internal, then untrusted), and the originating-IP headers'.
  std::vector<std::string> fullips, fullexternal, originating;
  for (const auto& r : path.untrusted) fullips.push_back(r.ip);
  for (const auto& r : path.trusted)
    if (!r.internal) fullexternal.push_back(r.ip);
  fullexternal.insert(fullexternal.end(), fullips.begin(), fullips.end());
  for (const auto& h : rel.originating_ip_headers)
    if (const MimeHeader* f = view.header(h))
      for (auto& ip : ipv4s_in(f->decoded)) originating.push_back(std::move(ip));
  const std::vector<std::string> untrusted_ips = uniq_strip_private(fullips);
  if (untrusted_ips.empty() && originating.empty()) return plan;  // every relay trusted: nothing to ask
  std::vector<std::string> tips;  // originating addresses that are not trusted
  for (const auto& ip : originating)
    if (!rel.trusted.contains(ip)) tips.push_back(ip);

  // A rule no network score set scores (and no meta reads) is not run, as
  // SpamAssassin runs no rule scored 0; each question is asked once.
  const std::vector<char> off = rules::disabled_rules(rs.rules());
  auto scored_on_net = [](const rules::Rule& r) {
    return r.name.starts_with("__") || r.scores[rules::kSetNet] != 0 || r.scores[rules::kSetBayesNet] != 0;
  };
  for (std::size_t ri = 0; ri < rs.rules().size(); ++ri) {
    const rules::Rule& r = rs.rules()[ri];
    if (r.scope != rules::Scope::Eval || off[ri]) continue;
    const std::string& fn = r.eval.function;
    const auto& a = r.eval.args;
    if (fn == "check_rbl_sub" && a.size() >= 2) {
      if (scored_on_net(r)) plan.subs[a[0]].emplace_back(a[1], r.name);
      continue;
    }
    if (ctx && plan_address_rbl(plan, r, *ctx, path, settings)) continue;
    if ((fn != "check_rbl" && fn != "check_rbl_txt") || a.size() < 2) continue;
    const std::string& set = a[0];
    std::string zone = lower(a[1]);
    while (!zone.empty() && zone.back() == '.') zone.pop_back();
    const std::string subtest = a.size() >= 3 ? a[2] : "";
    std::vector<std::string> ips = untrusted_ips;
    if (ends_with(set, "-lastexternal") || ends_with(set, "-notfirsthop")) {
      ips = uniq_strip_private(fullexternal);
      if (ends_with(set, "-lastexternal")) ips.resize(std::min<std::size_t>(ips.size(), 1));
      else if (ips.size() > 1) ips.pop_back();
    } else if (ends_with(set, "-firsttrusted") || ends_with(set, "-untrusted")) {
      std::vector<std::string> all = untrusted_ips;
      all.insert(all.end(), tips.begin(), tips.end());
      ips = uniq_strip_private(all);
      if (ends_with(set, "-firsttrusted")) ips.resize(std::min<std::size_t>(ips.size(), 1));
      else if (!ips.empty()) ips.erase(ips.begin());
    } else {
      std::vector<std::string> all = untrusted_ips;
      all.insert(all.end(), tips.begin(), tips.end());
      ips = uniq_strip_private(all);
      std::reverse(ips.begin(), ips.end());
    }
    if (ips.size() > kNumCheckReceived) ips.resize(kNumCheckReceived);
    // Trusted relays only for nice rules (welcome lists).
    if (!r.nice)
      while (!ips.empty() && rel.trusted.contains(ips.front())) ips.erase(ips.begin());
    for (const auto& ip : ips) {
      std::string rev = reversed_address(ip);
      if (rev.empty()) continue;
      // Rules sharing a question share its answer: asked once, read by each.
      ask({r.name, set, subtest, ip, zone, 0, false}, rev + "." + zone, fn == "check_rbl_txt" ? RrType::TXT : RrType::A);
    }
  }
  return plan;
}

namespace {

const std::vector<std::string>* records_of(const std::vector<DnsResult>& answers, std::size_t q) {
  if (q == NetworkPlan::kNone || q >= answers.size() || answers[q].status != DnsStatus::Answer) return nullptr;
  return &answers[q].records;
}

// A public IPv4 address (what an address list can be asked about).
bool listable_ipv4(const std::string& ip) {
  in_addr a{};
  return inet_pton(AF_INET, ip.c_str(), &a) == 1 && !ip_is_private(ip);
}

}  // namespace

bool extend_network_plan(NetworkPlan& plan, const std::vector<DnsResult>& answers) {
  const std::size_t before = plan.questions.size();
  if (plan.round == 1) {
    plan.round = 2;
    // The link domains' name servers, each looked up once (a name server that is an
    // address is a misconfiguration SpamAssassin skips for these rules).
    std::set<std::string> seen;
    for (const auto& h : plan.uri_hosts) {
      const auto* ns = records_of(answers, h.ns_question);
      if (!ns) continue;
      std::size_t n = 0;
      for (const auto& raw : *ns) {
        if (n >= kMaxNsPerDomain || seen.size() >= kMaxNsNames) break;
        const std::string name = lower(raw);
        in_addr a4{};
        if (name.empty() || inet_pton(AF_INET, name.c_str(), &a4) == 1 || name.find(':') != std::string::npos) continue;
        ++n;
        if (!seen.insert(name + " " + h.domain).second) continue;
        plan.ns_names.push_back({name, h.domain, plan.question(name, RrType::A)});
      }
    }
    // check_rbl_ns_from: each of the sender domain's name servers in the name list.
    for (const auto& nf : plan.ns_froms) {
      const auto* ns = records_of(answers, nf.ns_question);
      if (!ns) continue;
      std::size_t n = 0;
      for (const auto& raw : *ns) {
        const std::string name = lower(raw);
        if (n >= kMaxNsPerDomain) break;
        if (!fqdn_valid(name)) continue;
        ++n;
        NetworkPlan::Ask a{nf.rule, nf.set, nf.subtest, name + " (name server of " + nf.domain + ")", nf.zone, 0, false};
        a.question = plan.question(name + "." + nf.zone, RrType::A);
        plan.asks.push_back(std::move(a));
      }
    }
    if (plan.questions.size() > before) return true;
  }
  if (plan.round == 2) {
    plan.round = 3;
    std::size_t asked_a = 0, asked_ns = 0;
    std::set<std::pair<std::string, std::string>> seen;  // (rule, address): SpamAssassin's seen lookups
    auto ask_lists = [&](const std::vector<UriDnsblSettings::Rhs>& rules, const std::string& ip,
                         const std::string& item) {
      for (const auto& r : rules) {
        if (!seen.emplace(r.rule, ip).second) continue;
        NetworkPlan::Ask a{r.rule, "", r.subtest, item, r.zone, 0, true};
        a.question = plan.question(reversed_address(ip) + "." + r.zone, r.type);
        plan.asks.push_back(std::move(a));
      }
    };
    // Each name's public addresses, at most kMaxAddrsPerName, kMaxUriAddresses of a kind.
    auto ask_addresses = [&](std::size_t q, std::size_t& asked, const std::vector<UriDnsblSettings::Rhs>& rules,
                             const std::string& what) {
      const auto* addrs = records_of(answers, q);
      if (!addrs) return;
      std::size_t n = 0;
      for (const auto& ip : *addrs) {
        if (n >= kMaxAddrsPerName || asked >= kMaxUriAddresses) break;
        if (!listable_ipv4(ip)) continue;
        ++n, ++asked;
        ask_lists(rules, ip, ip + " (" + what + ")");
      }
    };
    for (const auto& h : plan.uri_hosts) ask_addresses(h.a_question, asked_a, plan.a_rules, "address of " + h.host);
    for (const auto& ns : plan.ns_names)
      ask_addresses(ns.a_question, asked_ns, plan.ns_rules, "name server " + ns.name + " of " + ns.domain);
    return plan.questions.size() > before;
  }
  return false;
}

NetworkHits network_hits(const NetworkPlan& plan, const std::vector<DnsResult>& answers) {
  NetworkHits out;
  out.asked = true;
  // check_dns_sender: no A and no MX, both answered for certain (a timeout or a
  // SERVFAIL is no evidence).
  auto none = [&](std::size_t q) {
    return q < answers.size() && (answers[q].status == DnsStatus::NxDomain || answers[q].status == DnsStatus::NoData);
  };
  for (const auto& d : plan.dns_senders)
    if (none(d.a_question) && none(d.mx_question)) out.hits.emplace(d.rule, d.domain + " has no A and no MX record");
  for (const auto& ask : plan.asks) {
    if (ask.question >= answers.size()) continue;
    const DnsResult& r = answers[ask.question];
    if (r.status != DnsStatus::Answer) continue;
    for (const auto& rec : r.records) {
      // Bug 6803: an A answer outside 127/8 is no listing (a resolver's rewrite).
      if (plan.questions[ask.question].type == RrType::A && rec.rfind("127.", 0) != 0) continue;
      const std::string detail = ask.ip + " listed in " + ask.zone + " (" + rec + ")";
      const bool match = ask.uri ? ask.subtest.empty() || uridnsbl_subtest_matches(ask.subtest, rec)
                                 : dnsbl_subtest_matches(ask.subtest, rec);
      if (match) out.hits.emplace(ask.rule, detail);
      if (auto s = plan.subs.find(ask.set); s != plan.subs.end())
        for (const auto& [subtest, rule] : s->second)
          if (dnsbl_subtest_matches(subtest, rec)) out.hits.emplace(rule, detail);
    }
  }
  return out;
}

void add_network_evals(EvalTable& t) {
  // The answers were asked before the scan; these read them.
  auto read = [](EvalContext& ctx, EvalArgs) -> EvalResult {
    if (!ctx.network || !ctx.rule) return std::nullopt;
    auto it = ctx.network->hits.find(ctx.rule->name);
    if (it == ctx.network->hits.end()) return std::nullopt;
    return it->second;
  };
  auto two_or_three = [](const std::vector<std::string>& a) -> std::string {
    if (a.size() < 2 || a.size() > 3) return "takes a set name, a zone and optionally a subtest";
    return {};
  };
  t["check_rbl"] = {read, {rules::Scope::Header}, two_or_three};
  t["check_rbl_txt"] = {read, {rules::Scope::Header}, two_or_three};
  t["check_rbl_sub"] = {read, {rules::Scope::Header}, [](const std::vector<std::string>& a) -> std::string {
                          return a.size() == 2 ? "" : "takes a set name and a subtest";
                        }};
  for (const char* fn : {"check_rbl_envfrom", "check_rbl_from_host", "check_rbl_from_domain", "check_rbl_rcvd",
                         "check_rbl_ns_from"})
    t[fn] = {read, {rules::Scope::Header}, two_or_three};
  t["check_rbl_headers"] = {read, {rules::Scope::Header}, [](const std::vector<std::string>& a) -> std::string {
                              return a.size() >= 2 && a.size() <= 4
                                         ? ""
                                         : "takes a set name, a zone, optionally a subtest and a list of fields";
                            }};
  t["check_dns_sender"] = {read, {rules::Scope::Header}, [](const std::vector<std::string>& a) -> std::string {
                             return a.empty() ? "" : "takes no arguments";
                           }};
  // body NAME eval:check_uridnsbl('NAME'): the urirhssub/urirhsbl rule of that name.
  t["check_uridnsbl"] = {[](EvalContext& ctx, EvalArgs args) -> EvalResult {
                           if (!ctx.network || args.empty()) return std::nullopt;
                           auto it = ctx.network->hits.find(args[0]);
                           if (it == ctx.network->hits.end()) return std::nullopt;
                           return it->second;
                         },
                         {rules::Scope::Body},
                         [](const std::vector<std::string>& a) -> std::string {
                           return a.size() == 1 ? "" : "takes the name of a urirhssub, urirhsbl, uridnssub or uridnsbl rule";
                         }};
}

}  // namespace mxgate
