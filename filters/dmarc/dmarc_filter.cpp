#include "filters/dmarc/dmarc_filter.hpp"

#include <yaml-cpp/yaml.h>

#include <stdexcept>
#include <string>

#include "filters/config_node.hpp"
#include "filters/filter_state.hpp"

namespace mxgate {
namespace {

const SmtpReply kTooManyAuthors{550, "5.7.1", "Message rejected: too many author domains in From"};

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

// The configured reply with {domain} and {from} filled in. The names come from our
// From parser (LDH, '_', '.', or UTF-8 under SMTPUTF8), so they cannot add a line.
SmtpReply reject_reply_for(const SmtpReply& tpl, const DmarcOutcome& o) {
  std::string enhanced = tpl.enhanced();
  std::string text;
  for (const auto& line : tpl.lines()) {
    std::string_view l = line;
    if (!enhanced.empty() && l.substr(0, enhanced.size() + 1) == enhanced + " ") l.remove_prefix(enhanced.size() + 1);
    if (!text.empty()) text += '\n';
    text += l;
  }
  replace_all(text, "{domain}", o.policy_domain.empty() ? o.from_domain : o.policy_domain);
  replace_all(text, "{from}", o.from_domain);
  try {
    return SmtpReply(tpl.code(), enhanced, text);
  } catch (const std::invalid_argument&) {
    return tpl;
  }
}

}  // namespace

Verdict DmarcFilter::verdict_for(const DmarcOutcome& o) const {
  Verdict v;
  auto add = [&](const char* sym, std::string detail) {
    auto it = cfg_->scores.find(sym);
    v.symbols.push_back({sym, it == cfg_->scores.end() ? 0.0 : it->second, std::move(detail)});
  };
  const std::string& from = o.from_domain;
  std::string where = o.policy_domain.empty() || o.policy_domain == from ? "" : " policy_domain=" + o.policy_domain;
  // With several author domains, the result above is the strictest one's; the
  // others are named so the log shows what was weighed.
  std::string others;
  for (const auto& a : o.authors) {
    if (a.domain == from) continue;
    others += (others.empty() ? "; other authors: " : ", ") + a.domain + "=" + auth_result_name(a.result);
    if (a.result == AuthResult::Fail) others += " dis=" + a.disposition;
  }
  switch (o.result) {
    case AuthResult::Pass:
      add("DMARC_PASS", from + where + " (" + o.reason + ")" + others);
      break;
    case AuthResult::Fail: {
      add("DMARC_FAIL", from + where + " p=" + o.policy + " dis=" + o.disposition + " (" + o.reason + ")" + others);
      const char* sym = o.disposition == "reject"       ? "DMARC_POLICY_REJECT"
                        : o.disposition == "quarantine" ? "DMARC_POLICY_QUARANTINE"
                                                        : "DMARC_POLICY_NONE";
      add(sym, from + where);
      break;
    }
    case AuthResult::TempError:
      add("DMARC_TEMPERROR", (from.empty() ? "" : from + ": ") + o.reason + others);
      break;
    case AuthResult::PermError:
      add("DMARC_PERMERROR", (from.empty() ? "" : from + ": ") + o.reason + others);
      break;
    default:
      add("DMARC_NONE", (from.empty() ? "" : from + ": ") + o.reason + others);
      break;
  }
  if (!o.bad_from.empty()) add("DMARC_BAD_FROM", o.bad_from);
  if (o.multiple_authors()) {
    std::string d = std::to_string(o.mailboxes) + " author" + (o.mailboxes == 1 ? "" : "s");
    if (o.from_fields > 1) d += " in " + std::to_string(o.from_fields) + " From fields";
    add("DMARC_MULTI_FROM", d);
  }
  if (o.too_many_authors) {
    // Whatever the policy says of a bad From: a forger must not bury a p=reject
    // domain behind more authors than we look up. No legitimate mail has them.
    Verdict r = Verdict::reject(kTooManyAuthors);
    r.symbols = std::move(v.symbols);
    return r;
  }
  if (cfg_->reject_on_policy && o.result == AuthResult::Fail && o.disposition == "reject") {
    Verdict r = Verdict::reject(reject_reply_for(cfg_->reject_reply, o));
    r.symbols = std::move(v.symbols);
    return r;
  }
  return v;
}

Task<Verdict> DmarcFilter::on_end_of_data(const Envelope& env, const Message& msg) {
  // Keep the config and the session state alive across the DNS awaits.
  std::shared_ptr<const DmarcConfig> cfg = cfg_;
  std::shared_ptr<FilterState> state = env.state;
  // A copy: this transaction's results, even if the hook overruns into the next one.
  const AuthResults auth = state ? state->auth : AuthResults{};
  DnsLookup* dns = state ? state->dns.get() : nullptr;
  // Parsed once for the transaction, shared with policy and the log.
  const std::shared_ptr<const FromAuthors> authors = authors_of(env, msg);
  DmarcOutcome o = co_await evaluate_dmarc(*authors, auth, dns, *cfg);
  if (state && state->auth.generation == auth.generation) state->auth.dmarc = o;
  co_return verdict_for(o);
}

FilterPtr make_dmarc_filter(ConfigMap& cfg) {
  auto c = std::make_shared<DmarcConfig>();
  cfg.get_mode("discovery", c->discovery, {{"rfc7489", DmarcDiscovery::Rfc7489}, {"rfc9989", DmarcDiscovery::Rfc9989}});
  cfg.get("public_suffix_list", c->public_suffix_list);
  cfg.get("reject_on_policy", c->reject_on_policy);
  cfg.get_reply("reject_reply", c->reject_reply);
  if (!c->reject_reply.permanent()) {
    cfg.error("reject_reply", "must be a 5xx reply with a 5.x.x enhanced code");
    c->reject_reply = DmarcConfig{}.reject_reply;
  }
  YAML::Node scores = cfg.node("scores");
  if (scores.IsDefined() && !scores.IsNull()) {
    if (!scores.IsMap()) {
      cfg.error("scores", "expected a mapping of SYMBOL: score");
    } else {
      for (const auto& kv : scores) {
        auto sym = kv.first.as<std::string>("");
        if (!c->scores.count(sym)) {
          cfg.error_at(kv.first, "scores." + sym, "unknown symbol for this filter");
          continue;
        }
        try {
          c->scores[sym] = kv.second.as<double>();
        } catch (const YAML::Exception&) {
          cfg.error_at(kv.second, "scores." + sym, "expected a number");
        }
      }
    }
  }
  std::string why;
  // RFC 9989 finds Organisational Domains in the DNS: no list needed (one named
  // explicitly is still loaded, and must load).
  if (c->discovery == DmarcDiscovery::Rfc9989 && !cfg.has("public_suffix_list"))
    return std::make_shared<DmarcFilter>(std::move(c));
  c->psl = PublicSuffixList::load(c->public_suffix_list, &why);
  if (!c->psl) {
    cfg.error("public_suffix_list", why + " (install Debian's publicsuffix package, or name a list file)");
    return nullptr;
  }
  return std::make_shared<DmarcFilter>(std::move(c));
}

}  // namespace mxgate
