// DmarcFilter: DMARC (RFC 7489, RFC 9091 np=; RFC 9989 discovery as an option) at end of data, on the SPF and DKIM
// outcomes that the spf and dkim filters left in FilterState::auth. The evaluation
// itself is filters/dmarc/dmarc.hpp; this is the seam: it writes auth.dmarc for the
// Authentication-Results header and turns the outcome into symbols.
//
// Order: spf and dkim must come before dmarc in `filters` (enforced where the chain
// is built, not here); with neither result present the outcome is temperror.
//
// Config (filters: - dmarc: {...}):
//   discovery (rfc7489)       rfc7489: Public Suffix List; rfc9989: DNS Tree Walk, psd=, t=
//   public_suffix_list (/usr/share/publicsuffix/public_suffix_list.dat)  .dat or .dafsa
//   reject_on_policy (false)  reject when the disposition after pct is reject;
//                             otherwise only symbols, and policy/ decides
//   reject_reply ("550 5.7.1 Message rejected: DMARC policy of {domain} says reject")
//                             {domain}: the policy domain, {from}: the From domain
//   scores: { SYMBOL: n }     override a default score (DmarcConfig::scores)
//
// Symbols (one result symbol, the strictest author domain's, plus the disposition
// and the From's problems where there are any):
//   DMARC_PASS, DMARC_FAIL, DMARC_NONE (no usable record), DMARC_TEMPERROR,
//   DMARC_PERMERROR (a From that is not clean and nothing stricter),
//   DMARC_POLICY_REJECT / DMARC_POLICY_QUARANTINE / DMARC_POLICY_NONE (on fail: the
//   disposition after pct), DMARC_BAD_FROM (no From, a syntax error, a group, an
//   author without a usable domain; whatever the result), DMARC_MULTI_FROM (more than
//   one author mailbox or From field; every author domain was evaluated). Details
//   name the deciding From domain and the other authors' results.
// More than kMaxAuthorDomains author domains: refused here (550 5.7.1), whatever
// the policy says of a bad From, since the domains past the bound were not looked up.
#pragma once
#include <memory>

#include "filters/dmarc/dmarc.hpp"
#include "filters/filter.hpp"

namespace mxgate {

class ConfigMap;

class DmarcFilter final : public Filter {
 public:
  explicit DmarcFilter(std::shared_ptr<const DmarcConfig> cfg) : cfg_(std::move(cfg)) {}
  const char* name() const override { return "dmarc"; }
  Task<Verdict> on_end_of_data(const Envelope& env, const Message& msg) override;
  // The verdict for an outcome: symbols, and a reject if configured. For tests and
  // `mxgate check`.
  Verdict verdict_for(const DmarcOutcome& o) const;
  const DmarcConfig& config() const { return *cfg_; }

 private:
  std::shared_ptr<const DmarcConfig> cfg_;
};

// Reads the keys above; a list that cannot be loaded is a config error.
FilterPtr make_dmarc_filter(ConfigMap& cfg);

}  // namespace mxgate
