#include "filters/dkim/dkim_filter.hpp"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <exception>

#include "filters/config_node.hpp"
#include "filters/auth/dkim_signature.hpp"
#include "filters/auth/dkim_verify.hpp"
#include "filters/dns/resolver.hpp"
#include "filters/filter_state.hpp"
#include "filters/dns/query_all.hpp"

namespace mxgate {

namespace {

// RFC 6008: b= prefixes of at least 8 characters, longer where needed to be unique.
constexpr std::size_t kMinBPrefix = 8;

// One DKIM-Signature field as we track it through DNS and verification.
struct Item {
  const HeaderField* field = nullptr;  // in the message
  DkimSignature sig;
  DkimOutcome out;
  DkimKey key;          // usable once looked up
  bool verify = false;  // still to be decided by verification
};

void decide(Item& it, AuthResult r, std::string reason) {
  it.verify = false;
  it.out.result = r;
  it.out.reason = std::move(reason);
}

// Verifies every Item still marked verify (dkim_verify.hpp). Synchronous CPU work,
// no DNS: the keys were looked up before.
void verify_items(const Message& msg, std::vector<Item>& items) {
  std::optional<std::string> canon_body[2];  // simple, relaxed: shared by the signatures
  for (auto& it : items) {
    if (!it.verify) continue;
    DkimVerdict v = verify_dkim_signature(msg, *it.field, it.sig, it.key, canon_body);
    if (it.key.testing && !v.reason.empty()) v.reason += "; key in testing mode (t=y)";
    else if (it.key.testing) v.reason = "key in testing mode (t=y)";
    decide(it, v.result, std::move(v.reason));
  }
}

// Every distinct key name at once, as TXT questions.
std::vector<DnsQuestion> key_questions(const std::vector<std::string>& names) {
  std::vector<DnsQuestion> qs;
  for (const auto& n : names) qs.push_back({n, RrType::TXT});
  return qs;
}

std::string detail_of(const DkimOutcome& o) {
  std::string s = "d=" + (o.domain.empty() ? std::string("?") : o.domain) +
                  " s=" + (o.selector.empty() ? std::string("?") : o.selector);
  if (o.result != AuthResult::Pass) s += std::string(" ") + auth_result_name(o.result);
  if (!o.reason.empty()) s += " (" + o.reason + ")";
  return s;
}

}  // namespace

Task<std::vector<DkimOutcome>> verify_dkim(const Message& msg, DnsLookup* dns, const DkimConfig& cfg) {
  auto fields = msg.fields("DKIM-Signature");
  std::vector<Item> items(fields.size());
  std::vector<DkimOutcome> out;
  if (items.empty()) co_return out;

  DkimSyntaxOptions opt;
  opt.allow_sha1 = cfg.allow_sha1;
  opt.now = static_cast<std::uint64_t>(std::time(nullptr));
  for (std::size_t i = 0; i < fields.size(); ++i) {
    Item& it = items[i];
    it.field = fields[i];
    it.sig = parse_dkim_signature(fields[i]->value, opt);
    it.out.domain = it.sig.domain;
    it.out.selector = it.sig.selector;
    it.out.identity = it.sig.identity;
    it.out.algorithm = it.sig.algorithm.size() <= 32 ? it.sig.algorithm : it.sig.algorithm.substr(0, 32);
    it.out.result = it.sig.result;
    it.out.reason = it.sig.reason;
    it.verify = it.sig.result == AuthResult::None;
    if (it.verify && i >= cfg.max_signatures)
      decide(it, AuthResult::Policy, "not verified: more than " + std::to_string(cfg.max_signatures) + " signatures");
  }
  // RFC 6008: a b= prefix long enough to tell the signatures apart. Only among the
  // signatures we verify (at most max_signatures), so that thousands of hostile
  // DKIM-Signature fields cost linear, not quadratic, work; the rest get the minimum.
  const std::size_t compared = std::min<std::size_t>(items.size(), cfg.max_signatures);
  for (std::size_t i = 0; i < items.size(); ++i) {
    Item& it = items[i];
    const std::string& b = it.sig.b;
    std::size_t n = std::min(b.size(), kMinBPrefix);
    for (bool unique = i >= compared; !unique && n < b.size();) {
      unique = true;
      for (std::size_t j = 0; j < compared; ++j) {
        const std::string& other = items[j].sig.b;
        if (j != i && other != b && other.compare(0, n, b, 0, n) == 0) unique = false;
      }
      if (!unique) ++n;
    }
    it.out.b_prefix = b.substr(0, n);
  }

  // One query per distinct key name, all at once.
  std::vector<std::string> names;
  std::vector<std::size_t> name_of(items.size(), 0);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!items[i].verify) continue;
    std::string k = items[i].sig.key_name();
    auto pos = std::find(names.begin(), names.end(), k);
    name_of[i] = static_cast<std::size_t>(pos - names.begin());
    if (pos == names.end()) names.push_back(std::move(k));
  }
  if (names.empty()) {
    // Nothing left to look up.
  } else if (!dns) {
    for (auto& it : items)
      if (it.verify) decide(it, AuthResult::TempError, "no resolver");
  } else {
    std::vector<DnsResult> answers = co_await query_all(*dns, key_questions(names));
    for (std::size_t i = 0; i < items.size(); ++i) {
      Item& it = items[i];
      if (!it.verify) continue;
      const DnsResult& r = answers[name_of[i]];
      const std::string& name = names[name_of[i]];
      if (r.temporary()) {
        decide(it, AuthResult::TempError, std::string("key lookup ") + dns_status_name(r.status) + " for " + name);
        continue;
      }
      if (r.status != DnsStatus::Answer || r.records.empty()) {  // RFC 6376 6.1.2 step 3
        decide(it, AuthResult::PermError, std::string("no key for signature (") + dns_status_name(r.status) + ")");
        continue;
      }
      DkimKey key = choose_dkim_key(r.records, it.sig.algorithm);
      it.out.key_bits = key.bits;
      if (key.result != AuthResult::None) {
        decide(it, key.result, key.reason);
      } else if (key.type == "rsa" && key.bits < cfg.min_rsa_bits) {
        decide(it, AuthResult::Policy, "RSA key too small (" + std::to_string(key.bits) + " bits)");  // RFC 8301 3.2
      } else if (key.same_domain && !it.sig.identity.empty() &&
                 lower(it.sig.identity.substr(it.sig.identity.rfind('@') + 1)) != it.sig.domain) {
        // RFC 6376 3.6.1 t=s: "the "i=" domain MUST NOT be a subdomain of "d="".
        decide(it, AuthResult::PermError, "key t=s forbids an i= subdomain");
      } else {
        it.key = std::move(key);
      }
    }
  }
  verify_items(msg, items);

  out.reserve(items.size());
  for (auto& it : items) out.push_back(std::move(it.out));
  co_return out;
}

std::vector<Symbol> dkim_symbols(const std::vector<DkimOutcome>& outcomes, const Message& msg,
                                 const DkimConfig& cfg) {
  std::vector<Symbol> out;
  auto score = [&](const char* s) {
    auto it = cfg.scores.find(s);
    return it == cfg.scores.end() ? 0.0 : it->second;
  };
  if (outcomes.empty()) {
    out.push_back({"DKIM_NONE", score("DKIM_NONE"), ""});
    return out;
  }
  // Author-domain alignment for our own symbol only; DMARC does the organisational
  // domain comparison itself. Relaxed: d= is the From domain or one of its parents.
  std::string from;
  if (msg.count("From") == 1) from = from_header_domain(msg.first("From")->unfolded());
  std::string valid, valid_au, invalid, temperror;
  auto add = [](std::string& list, const std::string& d) { list += (list.empty() ? "" : ", ") + d; };
  for (const auto& o : outcomes) {
    switch (o.result) {
      case AuthResult::Pass:
        add(valid, detail_of(o));
        if (!from.empty() && domain_within(from, o.domain)) add(valid_au, detail_of(o));
        break;
      case AuthResult::TempError: add(temperror, detail_of(o)); break;
      default: add(invalid, detail_of(o)); break;
    }
  }
  if (!valid.empty()) out.push_back({"DKIM_VALID", score("DKIM_VALID"), valid});
  if (!valid_au.empty()) out.push_back({"DKIM_VALID_AU", score("DKIM_VALID_AU"), valid_au});
  if (!invalid.empty()) out.push_back({"DKIM_INVALID", score("DKIM_INVALID"), invalid});
  if (!temperror.empty()) out.push_back({"DKIM_TEMPERROR", score("DKIM_TEMPERROR"), temperror});
  return out;
}

Task<Verdict> DkimFilter::on_end_of_data(const Envelope& env, const Message& msg) {
  // Keep the resolver alive across the awaits, whatever happens to the session.
  std::shared_ptr<DnsLookup> dns = env.state ? env.state->dns : nullptr;
  std::shared_ptr<const DkimConfig> cfg = cfg_;
  const std::uint64_t generation = env.state ? env.state->auth.generation : 0;
  std::vector<DkimOutcome> outcomes = co_await verify_dkim(msg, dns.get(), *cfg);
  Verdict v;
  v.symbols = dkim_symbols(outcomes, msg, *cfg);
  if (env.state && env.state->auth.generation == generation) {  // not a later transaction's
    env.state->auth.dkim = std::move(outcomes);
    env.state->auth.dkim_checked = true;
  }
  co_return v;
}

Task<void> DkimFilter::on_headers(const Envelope& env, const Message& headers) {
  std::shared_ptr<DnsLookup> dns = env.state ? env.state->dns : nullptr;
  if (!dns) co_return;
  DkimSyntaxOptions opt;
  opt.allow_sha1 = cfg_->allow_sha1;
  opt.now = static_cast<std::uint64_t>(std::time(nullptr));
  std::vector<std::string> names;
  for (const HeaderField* f : headers.fields("DKIM-Signature")) {
    if (names.size() >= cfg_->max_signatures) break;
    DkimSignature sig = parse_dkim_signature(f->value, opt);
    if (sig.result != AuthResult::None) continue;  // decided without a key: never looked up
    std::string k = sig.key_name();
    if (std::find(names.begin(), names.end(), k) == names.end()) names.push_back(std::move(k));
  }
  if (!names.empty()) (void)co_await query_all(*dns, key_questions(names));
}

void read_dkim_config(ConfigMap& m, DkimConfig& out) {
  m.get("allow_sha1", out.allow_sha1);
  m.get_uint("min_rsa_bits", out.min_rsa_bits, 512, 16384);
  m.get_uint("max_signatures", out.max_signatures, 1, 100);
  YAML::Node scores = m.node("scores");
  if (!scores.IsDefined() || scores.IsNull()) return;
  if (!scores.IsMap()) {
    m.error("scores", "expected a mapping of SYMBOL: score");
    return;
  }
  for (const auto& kv : scores) {
    auto sym = kv.first.as<std::string>("");
    if (!out.scores.count(sym)) {
      m.error_at(kv.first, "scores." + sym, "unknown symbol for this filter");
      continue;
    }
    try {
      out.scores[sym] = kv.second.as<double>();
    } catch (const YAML::Exception&) {
      m.error_at(kv.second, "scores." + sym, "expected a number");
    }
  }
}

FilterPtr make_dkim_filter(ConfigMap& cfg) {
  auto c = std::make_shared<DkimConfig>();
  read_dkim_config(cfg, *c);
  return std::make_shared<DkimFilter>(std::move(c));
}

}  // namespace mxgate
