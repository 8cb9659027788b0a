#include "filters/dnsbl/dnsbl_filter.hpp"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "base/text.hpp"
#include "filters/auth/from_authors.hpp"
#include "filters/config_node.hpp"
#include "filters/dns/query_all.hpp"
#include "filters/filter_state.hpp"
#include "filters/mime/mime_view.hpp"

namespace mxgate {
namespace {

constexpr std::chrono::minutes kErrorLogEvery{10};

bool is_ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

// Addresses no public list knows: RFC 1918, shared (RFC 6598), link-local, ULA.
bool is_private(const std::string& ip) {
  in_addr a4{};
  if (inet_pton(AF_INET, ip.c_str(), &a4) == 1) {
    const std::uint32_t a = ntohl(a4.s_addr);
    return (a >> 24) == 10 || (a >> 20) == 0xAC1 || (a >> 16) == 0xC0A8 || (a >> 22) == (100u << 2 | 1u) ||
           (a >> 16) == 0xA9FE;
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, ip.c_str(), &a6) == 1)
    return (a6.s6_addr[0] & 0xfe) == 0xfc || (a6.s6_addr[0] == 0xfe && (a6.s6_addr[1] & 0xc0) == 0x80);
  return false;
}

// The fallback code of a list without codes of its own: its name and score.
DnsblCode fallback_code(const DnsblList& l) {
  DnsblCode c;
  c.symbol = l.name;
  c.score = l.score;
  c.text = "any";
  return c;
}

// `what` listed on l (answered `code` for `query`): the symbol.
Symbol listed_symbol(const DnsblCode& c, const DnsblList& l, const std::string& item, const std::string& answer,
                     const std::string& from) {
  Symbol s{c.symbol, c.score, item + " listed on " + l.zone + " (" + answer + ")"};
  if (!from.empty()) s.where = from;
  return s;
}

}  // namespace

std::vector<DomainQuestion> domain_questions(const DnsblConfig& cfg, const DnsblList& l, const Envelope& env,
                                             const Message& msg, const MimeView& view) {
  std::vector<DomainQuestion> out;
  std::set<std::string> asked;
  auto add_host = [&](const std::string& host, const char* from) {
    if (out.size() >= cfg.max_domain_lookups || host.empty()) return;
    std::string item, query;
    if (is_ipv4(host)) {
      if (!l.ips) return;
      item = host;
      query = dnsbl_query_for_ip(l, host);
    } else {
      std::string d = normalize_domain(host);
      if (d.empty() || !cfg.psl) return;
      item = cfg.psl->registrable(d);  // "" for a public suffix itself: nothing to ask
      if (item.empty()) return;
      query = dnsbl_query_for_domain(l, item);
    }
    if (query.empty() || !asked.insert(query).second) return;
    out.push_back({query, item, from});
  };
  if (l.mail_from && env.mail_from && !env.mail_from->is_null()) add_host(env.mail_from->domain(), "mail-from");
  if (l.from)
    for (const auto& d : authors_of(env, msg)->domains()) add_host(d, "from");
  if (l.reply_to)
    for (const auto* f : msg.fields("Reply-To"))
      for (const auto& d : domains_seen_in(f->value)) add_host(d, "reply-to");
  if (l.urls)
    for (const auto& u : view.urls) add_host(url_host(u), "url");
  return out;
}

void DnsblFilter::error_answer(const DnsblList& l, const std::string& query, const std::string& answer) {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  std::uint64_t& n = error_count_[l.zone];
  ++n;
  auto it = error_logged_.find(l.zone);
  if (it != error_logged_.end() && now - it->second < kErrorLogEvery) return;
  error_logged_[l.zone] = now;
  spdlog::warn("dnsbl: {} answered {} for {}: an error code, not a listing ({} error answers so far; Spamhaus "
               "refuses public resolvers: use your own, or a DQS key)",
               l.zone, answer, query, n);
}

Task<Verdict> DnsblFilter::check_client(const Envelope& env, bool at_rcpt) {
  Verdict v;
  if (!env.state || !env.state->dns) co_return v;
  const std::string ip = env.client.ip;
  if (ip.empty() || (cfg_->skip_private && is_private(ip))) co_return v;
  std::vector<const DnsblList*> lists;
  std::vector<DnsQuestion> questions;
  for (const auto& l : cfg_->lists) {
    if (l.target != DnsblList::Target::Client || (l.reject && l.reject_at_rcpt) != at_rcpt) continue;
    if (!l.ipv6 && !is_ipv4(ip)) continue;
    std::string q = dnsbl_query_for_ip(l, ip);
    if (q.empty()) continue;
    lists.push_back(&l);
    questions.push_back({q, RrType::A});
  }
  if (questions.empty()) co_return v;
  std::shared_ptr<DnsLookup> dns = env.state->dns;
  std::vector<DnsResult> answers = co_await query_all(*dns, questions);
  for (std::size_t i = 0; i < lists.size(); ++i) {
    const DnsblList& l = *lists[i];
    const DnsResult& r = answers[i];
    if (r.status != DnsStatus::Answer) {
      if (r.temporary()) spdlog::debug("dnsbl: {} for {}: {} ({})", l.zone, ip, dns_status_name(r.status), r.error);
      continue;
    }
    const DnsblCode fallback = fallback_code(l);
    DnsblAnswer a = interpret_dnsbl_answer(l, r.records, fallback);
    if (a.error) error_answer(l, questions[i].name, *a.error);
    for (std::size_t k = 0; k < a.listed.size(); ++k) {
      v.symbols.push_back(listed_symbol(*a.listed[k], l, ip, a.listed_as[k], ""));
      if (l.reject && v.action == Action::Continue) {
        v.reply = dnsbl_reply(l, ip);
        v.action = v.reply->klass() == 4 ? Action::Tempfail : Action::Reject;  // a 4xx reply: the client retries
      }
    }
  }
  co_return v;
}

Task<Verdict> DnsblFilter::on_connect(const Envelope& env) { co_return co_await check_client(env, false); }

Task<Verdict> DnsblFilter::on_rcpt_to(const Envelope& env, const Mailbox&) {
  // Asked again for each recipient: the resolver's cache answers after the first.
  Verdict v = co_await check_client(env, true);
  // The symbols of a refusal at RCPT are for the log of that refusal only.
  if (v.action == Action::Continue) v.symbols.clear();
  co_return v;
}

Task<Verdict> DnsblFilter::on_end_of_data(const Envelope& env, const Message& msg) {
  Verdict v;
  if (!env.state || !env.state->dns) co_return v;
  const std::shared_ptr<const MimeView> view = co_await mime_view(env, msg);
  struct Asked {
    const DnsblList* list;
    DomainQuestion q;
  };
  std::vector<Asked> asked;
  std::vector<DnsQuestion> questions;
  for (const auto& l : cfg_->lists) {
    if (l.target != DnsblList::Target::Domains) continue;
    for (auto& q : domain_questions(*cfg_, l, env, msg, *view)) {
      questions.push_back({q.query, RrType::A});
      asked.push_back({&l, std::move(q)});
    }
  }
  if (questions.empty()) co_return v;
  std::shared_ptr<DnsLookup> dns = env.state->dns;
  std::vector<DnsResult> answers = co_await query_all(*dns, questions);
  std::set<std::string> said;  // a symbol once per message (the first item that earned it)
  for (std::size_t i = 0; i < asked.size(); ++i) {
    const DnsblList& l = *asked[i].list;
    const DnsResult& r = answers[i];
    if (r.status != DnsStatus::Answer) continue;
    const DnsblCode fallback = fallback_code(l);
    DnsblAnswer a = interpret_dnsbl_answer(l, r.records, fallback);
    if (a.error) error_answer(l, asked[i].q.query, *a.error);
    for (std::size_t k = 0; k < a.listed.size(); ++k)
      if (said.insert(a.listed[k]->symbol).second)
        v.symbols.push_back(listed_symbol(*a.listed[k], l, asked[i].q.item, a.listed_as[k], asked[i].q.from));
  }
  co_return v;
}

namespace {

void read_codes(ConfigMap& m, const std::string& key, std::vector<DnsblCode>& out, bool need_symbol) {
  YAML::Node n = m.node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  if (!n.IsSequence()) {
    m.error(key, "expected a list");
    return;
  }
  out.clear();
  std::size_t i = 0;
  for (const auto& item : n) {
    const std::string where = key + "[" + std::to_string(i++) + "]";
    DnsblCode c;
    if (item.IsScalar()) {  // errors: [127.0.0.1, 127.255.255.0/24]
      if (need_symbol || !parse_dnsbl_range(item.Scalar(), &c))
        m.error_at(item, where, need_symbol ? "expected {code: ..., symbol: ..., score: ...}"
                                            : "expected an address, a range a-b or a network a/n (got \"" + item.Scalar() + "\")");
      else out.push_back(c);
      continue;
    }
    auto cm = m.map_at(item, where);
    std::string code;
    std::uint64_t bits = 0;
    cm->get("code", code);
    cm->get_uint("bits", bits, 1, 255);
    if (!code.empty() == (bits != 0)) {
      cm->error("code", "give code (an address, a-b or a/n) or bits (of the last octet), one of them");
      continue;
    }
    if (!code.empty() && !parse_dnsbl_range(code, &c)) {
      cm->error("code", "expected an address, a range a-b or a network a/n (got \"" + code + "\")");
      continue;
    }
    if (bits) {
      c.kind = DnsblCode::Kind::Bits;
      c.bits = static_cast<std::uint32_t>(bits);
      c.text = "bits " + std::to_string(bits);
    }
    cm->get("symbol", c.symbol);
    cm->get_number("score", c.score, -100, 100);
    if (need_symbol && c.symbol.empty()) cm->error("symbol", "needs the symbol this answer is reported as");
    out.push_back(c);
  }
}

}  // namespace

FilterPtr make_dnsbl_filter(ConfigMap& cfg) {
  auto c = std::make_shared<DnsblConfig>();
  std::uint64_t max = c->max_domain_lookups;
  cfg.get_uint("max_domain_lookups", max, 1, 1000);
  c->max_domain_lookups = static_cast<std::size_t>(max);
  cfg.get("skip_private", c->skip_private);
  cfg.get("public_suffix_list", c->public_suffix_list);
  YAML::Node lists = cfg.node("lists");
  if (!lists.IsDefined() || lists.IsNull() || !lists.IsSequence() || lists.size() == 0) {
    cfg.error("lists", "expected a list of DNS lists ({name, zone, type, ...})");
    return nullptr;
  }
  std::size_t i = 0;
  bool any_domains = false;
  for (const auto& item : lists) {
    const std::string key = "lists[" + std::to_string(i++) + "]";
    if (!item.IsMap()) {
      cfg.error_at(item, key, "expected {name: ..., zone: ..., ...}");
      continue;
    }
    auto m = cfg.map_at(item, key);
    DnsblList l;
    m->get("name", l.name);
    m->get("zone", l.zone);
    while (!l.zone.empty() && l.zone.back() == '.') l.zone.pop_back();
    if (l.zone.empty() || normalize_domain(l.zone).empty()) m->error("zone", "needs the list's DNS zone (zen.spamhaus.org)");
    l.zone = lower(l.zone);
    if (l.name.empty()) {
      // zen.spamhaus.org -> RBL_ZEN_SPAMHAUS_ORG
      l.name = "RBL_" + upper(l.zone);
      std::replace(l.name.begin(), l.name.end(), '.', '_');
      std::replace(l.name.begin(), l.name.end(), '-', '_');
    }
    m->get("key", l.key);
    std::string type = "client";
    m->get_enum("type", type, {"client", "domains"});
    l.target = type == "client" ? DnsblList::Target::Client : DnsblList::Target::Domains;
    any_domains |= l.target == DnsblList::Target::Domains;
    m->get("ipv6", l.ipv6);
    m->get("ips", l.ips);
    std::vector<std::string> check;
    m->get("check", check);
    if (!check.empty()) {
      l.urls = l.from = l.reply_to = l.mail_from = false;
      for (const auto& w : check) {
        if (w == "urls") l.urls = true;
        else if (w == "from") l.from = true;
        else if (w == "reply_to") l.reply_to = true;
        else if (w == "mail_from") l.mail_from = true;
        else m->error("check", "unknown \"" + w + "\" (urls, from, reply_to, mail_from)");
      }
    }
    m->get_number("score", l.score, -100, 100);
    read_codes(*m, "codes", l.codes, true);
    DnsblCode e1, e2;
    parse_dnsbl_range("127.0.0.1", &e1);
    parse_dnsbl_range("127.255.255.0/24", &e2);
    l.errors = {e1, e2};
    read_codes(*m, "errors", l.errors, false);
    std::string action = "score", at = "connect";
    m->get_enum("action", action, {"score", "reject"});
    m->get_enum("reject_at", at, {"connect", "rcpt"});
    l.reject = action == "reject";
    l.reject_at_rcpt = at == "rcpt";
    m->get_reply("reply", l.reply);
    if (l.reply.klass() != 5 && l.reply.klass() != 4) m->error("reply", "must be a 4xx or 5xx reply");
    if (l.reject && l.target == DnsblList::Target::Domains)
      m->error("action", "reject is for client lists; a domain list's listings are scored (policy decides)");
    c->lists.push_back(std::move(l));
  }
  if (any_domains) {
    std::string why;
    c->psl = PublicSuffixList::load(c->public_suffix_list, &why);
    if (!c->psl) cfg.error("public_suffix_list", why);
  }
  return std::make_shared<DnsblFilter>(std::move(c));
}

}  // namespace mxgate
