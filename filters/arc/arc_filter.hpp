// ArcFilter: validates the message's ARC chain (arc.hpp) at end of data and leaves
// the outcome in FilterState::auth.arc, for the Authentication-Results header
// (arc=pass/fail/none), the content rules' check_arc_signed / check_arc_valid
// (SpamAssassin's ARC_SIGNED, ARC_VALID) and the policy, which may take a trusted
// sealer's word over a DMARC failure (policy.dmarc, docs/policy.md). List it after
// dkim and before dmarc.
//
// Config (filters: - arc: {...}):
//   allow_sha1 (false), min_rsa_bits (1024)   as for dkim
//   scores: { ARC_PASS: 0, ARC_FAIL: 0 }
//
// Symbols: ARC_PASS (detail: the sealers, oldest first, and oldest-pass), ARC_FAIL
// (the reason); none without ARC sets (the norm; arc=none in the header). Neither
// scores by default: anyone can seal, and a broken chain is as often a list's own
// change as a forgery.
#pragma once
#include <memory>

#include "filters/arc/arc.hpp"
#include "filters/filter.hpp"

namespace mxgate {

class ConfigMap;

class ArcFilter final : public Filter {
 public:
  explicit ArcFilter(std::shared_ptr<const ArcConfig> cfg) : cfg_(std::move(cfg)) {}
  const char* name() const override { return "arc"; }
  Task<Verdict> on_end_of_data(const Envelope& env, const Message& msg) override;
  const ArcConfig& config() const { return *cfg_; }

 private:
  std::shared_ptr<const ArcConfig> cfg_;
};

// The symbols for an outcome.
std::vector<Symbol> arc_symbols(const ArcOutcome& o, const ArcConfig& cfg);

FilterPtr make_arc_filter(ConfigMap& cfg);

}  // namespace mxgate
