#include "filters/spf/spf_filter.hpp"

#include "filters/config_node.hpp"
#include "filters/dns/lookup.hpp"
#include "filters/filter_state.hpp"

namespace mxgate {

const char* spf_symbol(AuthResult r) {
  switch (r) {
    case AuthResult::Pass: return "SPF_PASS";
    case AuthResult::Fail: return "SPF_FAIL";
    case AuthResult::SoftFail: return "SPF_SOFTFAIL";
    case AuthResult::Neutral: return "SPF_NEUTRAL";
    case AuthResult::TempError: return "SPF_TEMPERROR";
    case AuthResult::PermError: return "SPF_PERMERROR";
    default: return "SPF_NONE";
  }
}

namespace {
// Text from a sender's DNS goes into our SMTP reply: printable ASCII only, bounded.
std::string reply_safe(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= 200) break;
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  return out;
}

std::string substitute(std::string text, const std::string& key, const std::string& value) {
  for (auto pos = text.find(key); pos != std::string::npos; pos = text.find(key, pos + value.size()))
    text.replace(pos, key.size(), value);
  return text;
}
}  // namespace

Verdict SpfFilter::verdict_for(const SpfOutcome& o, const std::string& receiver) const {
  Verdict v;
  const char* sym = spf_symbol(o.result);
  std::string detail = o.domain + " ip=" + o.client_ip;
  if (!o.mechanism.empty()) detail += " mechanism=" + o.mechanism;
  if (o.result != AuthResult::Pass && !o.reason.empty()) detail += " (" + o.reason + ")";
  v.symbols.push_back({sym, cfg_->scores.at(sym), detail});
  HeaderField h{"Received-SPF", " " + received_spf_value(o, receiver)};
  if (h.valid_to_add()) v.add_headers.push_back(std::move(h));
  if (o.result == AuthResult::Fail && cfg_->reject_on_fail) {
    std::string exp = o.explanation.empty()
                          ? o.domain + " does not designate " + o.client_ip + " as permitted sender"
                          : reply_safe(o.explanation);
    // The configured reply was checked at load time, and the explanation we put in is
    // printable ASCII, so this cannot fail.
    v.action = Action::Reject;
    v.reply = SmtpReply(cfg_->fail_reply.code(), cfg_->fail_reply.enhanced(),
                        substitute(cfg_->fail_reply.plain_text(), "{explanation}", exp));
  } else if (o.result == AuthResult::TempError && cfg_->tempfail_on_temperror) {
    v.action = Action::Tempfail;
    v.reply = cfg_->temperror_reply;
  }
  return v;
}

Task<Verdict> SpfFilter::on_mail_from(const Envelope& env) {
  FilterState* state = env.state.get();
  const std::uint64_t generation = state ? state->auth.generation : 0;
  SpfOutcome o;
  if (!state || !state->dns) {
    o.result = AuthResult::TempError;
    o.identity = env.mail_from && !env.mail_from->is_null() ? "mailfrom" : "helo";
    o.client_ip = env.client.ip;
    o.helo = env.client.helo;
    o.reason = "no DNS resolver";
  } else {
    SpfRequest req;
    req.ip = env.client.ip;
    req.sender = env.mail_from ? env.mail_from->address : "";
    req.helo = env.client.helo;
    req.receiver = state->hostname;
    auto dns = state->dns;  // held for the whole evaluation
    o = co_await check_spf(*dns, req, cfg_->limits);
  }
  if (state && state->auth.generation == generation) state->auth.spf = o;
  co_return verdict_for(o, state ? state->hostname : std::string("unknown"));
}

FilterPtr make_spf_filter(ConfigMap& cfg) {
  auto c = std::make_shared<SpfConfig>();
  cfg.get("reject_on_fail", c->reject_on_fail);
  cfg.get_reply("fail_reply", c->fail_reply);
  if (!c->fail_reply.permanent()) cfg.error("fail_reply", "must be a 5xx reply");
  cfg.get("tempfail_on_temperror", c->tempfail_on_temperror);
  cfg.get_reply("temperror_reply", c->temperror_reply);
  if (!c->temperror_reply.transient())
    cfg.error("temperror_reply", "must be a 4xx reply");
  cfg.get_duration("timeout", c->limits.max_time, std::chrono::milliseconds(100), std::chrono::milliseconds(300'000));
  cfg.get_scores("scores", c->scores);
  return std::make_shared<SpfFilter>(std::move(c));
}

}  // namespace mxgate
