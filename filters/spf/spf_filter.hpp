// SpfFilter: SPF (RFC 7208) at MAIL FROM, for the MAIL FROM identity, or for the
// HELO identity when the reverse-path is null (2.4). The evaluation is spf.hpp; this
// is the seam: it records the outcome in FilterState::auth (for DMARC and the
// Authentication-Results header), adds Received-SPF (9.1) and a symbol.
//
// The client address is the one the session trusts: the TCP peer, or the address a
// trusted XCLIENT presented. Results are cached by the resolver, so a repeat sender
// costs no DNS round trip.
//
// Config (filters: - spf: {...}):
//   reject_on_fail (false)        refuse MAIL FROM on fail with fail_reply; otherwise
//                                 only the symbol, and policy/ decides
//   fail_reply ("550 5.7.23 ...") {explanation} is the domain's exp= text or our own
//   tempfail_on_temperror (false) answer temperror_reply instead of going on
//   temperror_reply ("451 4.7.24 SPF check failed temporarily, try again later")
//   timeout (15s)                 the whole evaluation; then temperror (keep it below
//                                 smtp.filter_timeout)
//   scores: { SYMBOL: n }
//
// Symbols: SPF_PASS, SPF_FAIL, SPF_SOFTFAIL, SPF_NEUTRAL, SPF_NONE, SPF_TEMPERROR,
//          SPF_PERMERROR (exactly one per transaction; detail: domain and ip).
#pragma once
#include <map>
#include <memory>
#include <string>

#include "filters/filter.hpp"
#include "filters/smtp_reply.hpp"
#include "filters/spf/spf.hpp"

namespace mxgate {

class ConfigMap;

struct SpfConfig {
  bool reject_on_fail = false;
  SmtpReply fail_reply{550, "5.7.23", "SPF: {explanation}"};
  bool tempfail_on_temperror = false;
  SmtpReply temperror_reply{451, "4.7.24", "SPF check failed temporarily, try again later"};
  SpfLimits limits;
  // Defaults in the spirit of SpamAssassin's: SPF says little on its own; DMARC
  // carries the weight of a domain's published policy.
  std::map<std::string, double> scores{
      {"SPF_PASS", -0.1},    {"SPF_FAIL", 2.0},      {"SPF_SOFTFAIL", 0.8}, {"SPF_NEUTRAL", 0.1},
      {"SPF_NONE", 0.2},     {"SPF_TEMPERROR", 0.0}, {"SPF_PERMERROR", 0.5},
  };
};

class SpfFilter final : public Filter {
 public:
  explicit SpfFilter(std::shared_ptr<const SpfConfig> cfg) : cfg_(std::move(cfg)) {}
  const char* name() const override { return "spf"; }
  Task<Verdict> on_mail_from(const Envelope& env) override;
  // The verdict for an outcome (symbol, Received-SPF, refusal if configured); for tests
  // and `mxgate check`.
  Verdict verdict_for(const SpfOutcome& o, const std::string& receiver) const;

 private:
  std::shared_ptr<const SpfConfig> cfg_;
};

FilterPtr make_spf_filter(ConfigMap& cfg);
const char* spf_symbol(AuthResult r);

}  // namespace mxgate
