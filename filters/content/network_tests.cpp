#include "filters/content/network_tests.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "base/text.hpp"
#include "filters/content/relays.hpp"
#include "filters/dns/reverse.hpp"

namespace mxgate {
namespace {

constexpr std::size_t kNumCheckReceived = 9;  // SpamAssassin's num_check_received

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

}  // namespace

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

NetworkPlan plan_network_tests(const rules::RuleSet& rs, const RelayPath& path, const EvalSettings& settings,
                               const MimeView& view, const Message& msg) {
  (void)msg;
  NetworkPlan plan;
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
  std::map<std::pair<std::string, int>, std::size_t> asked;  // question -> its index
  for (std::size_t ri = 0; ri < rs.rules().size(); ++ri) {
    const rules::Rule& r = rs.rules()[ri];
    if (r.scope != rules::Scope::Eval || off[ri]) continue;
    const std::string& fn = r.eval.function;
    const auto& a = r.eval.args;
    if (fn == "check_rbl_sub" && a.size() >= 2) {
      if (scored_on_net(r)) plan.subs[a[0]].emplace_back(a[1], r.name);
      continue;
    }
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
      DnsQuestion q{rev + "." + zone, fn == "check_rbl_txt" ? RrType::TXT : RrType::A};
      // Rules sharing a question share its answer: asked once, read by each.
      auto [it, fresh] = asked.emplace(std::make_pair(q.name, static_cast<int>(q.type)), plan.questions.size());
      if (fresh) plan.questions.push_back(q);
      plan.asks.push_back({r.name, set, subtest, ip, zone, it->second});
    }
  }
  return plan;
}

NetworkHits network_hits(const NetworkPlan& plan, const std::vector<DnsResult>& answers) {
  NetworkHits out;
  out.asked = true;
  for (const auto& ask : plan.asks) {
    if (ask.question >= answers.size()) continue;
    const DnsResult& r = answers[ask.question];
    if (r.status != DnsStatus::Answer) continue;
    for (const auto& rec : r.records) {
      // Bug 6803: an A answer outside 127/8 is no listing (a resolver's rewrite).
      if (plan.questions[ask.question].type == RrType::A && rec.rfind("127.", 0) != 0) continue;
      const std::string detail = ask.ip + " listed in " + ask.zone + " (" + rec + ")";
      if (dnsbl_subtest_matches(ask.subtest, rec)) out.hits.emplace(ask.rule, detail);
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
}

}  // namespace mxgate
