#include "filters/arc/arc_filter.hpp"

#include <yaml-cpp/yaml.h>

#include "filters/config_node.hpp"
#include "filters/auth/dkim_signature.hpp"
#include "filters/filter_state.hpp"

namespace mxgate {

std::vector<Symbol> arc_symbols(const ArcOutcome& o, const ArcConfig& cfg) {
  auto score = [&](const char* s) {
    auto it = cfg.scores.find(s);
    return it == cfg.scores.end() ? 0.0 : it->second;
  };
  switch (o.result) {
    case AuthResult::Pass: {
      std::string d = "i=" + std::to_string(o.instances) + " sealed by";
      for (const auto& s : o.sealers) d += " " + s;
      d += ", oldest-pass=" + std::to_string(o.oldest_pass);
      return {{"ARC_PASS", score("ARC_PASS"), d}};
    }
    case AuthResult::None: return {};  // the norm: no symbol (arc=none in Authentication-Results)
    default: return {{"ARC_FAIL", score("ARC_FAIL"), o.reason}};
  }
}

Task<Verdict> ArcFilter::on_end_of_data(const Envelope& env, const Message& msg) {
  std::shared_ptr<DnsLookup> dns = env.state ? env.state->dns : nullptr;  // alive across the await
  std::shared_ptr<const ArcConfig> cfg = cfg_;
  const std::uint64_t generation = env.state ? env.state->auth.generation : 0;
  ArcOutcome o = co_await verify_arc(msg, dns.get(), *cfg);
  Verdict v;
  v.symbols = arc_symbols(o, *cfg);
  if (env.state && env.state->auth.generation == generation) env.state->auth.arc = std::move(o);
  co_return v;
}

FilterPtr make_arc_filter(ConfigMap& cfg) {
  auto c = std::make_shared<ArcConfig>();
  cfg.get("allow_sha1", c->allow_sha1);
  cfg.get_uint("min_rsa_bits", c->min_rsa_bits, 512, 16384);
  cfg.get_scores("scores", c->scores);
  return std::make_shared<ArcFilter>(std::move(c));
}

}  // namespace mxgate
