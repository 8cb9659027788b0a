// The eval tests of SpamAssassin's SPF, DKIM and DMARC plugins, answered from
// mxgate's own verification (FilterState::auth), not from a second lookup: the
// spf, dkim and dmarc filters have already checked the message, through the one
// resolver, before the content filter runs (list them before `content` in
// `filters`; a filter that did not run reads as "no result", so none of these hit).
//
// Where SpamAssassin differs:
// - Its SPF plugin checks the HELO identity for every message; mxgate checks HELO
//   only when it is the identity SPF uses (null reverse path, RFC 7208 2.4) or when
//   `spf` is configured to check it (AuthResults::spf_helo).
// - check_dkim_dependable: SpamAssassin sets it when signature checks were not cut
//   short; here, when at least one signature was checked and none ended in temperror.
// - ARC (check_arc_signed/valid) is not verified by mxgate: not registered.
#include <algorithm>

#include "base/text.hpp"
#include "filters/auth/auth_results.hpp"
#include "filters/content/eval_tests.hpp"
#include "filters/filter_state.hpp"

namespace mxgate {
namespace {

const AuthResults* auth_of(const EvalContext& ctx) {
  return ctx.env.state ? &ctx.env.state->auth : nullptr;
}

EvalFunction spf_result(AuthResult want, bool helo) {
  return {[want, helo](EvalContext& ctx, EvalArgs) -> EvalResult {
            const AuthResults* a = auth_of(ctx);
            if (!a) return std::nullopt;
            const SpfOutcome* o = nullptr;
            if (helo) {
              if (a->spf_helo) o = &*a->spf_helo;
              else if (a->spf && a->spf->identity == "helo") o = &*a->spf;
            } else if (a->spf && a->spf->identity == "mailfrom") {
              o = &*a->spf;
            }
            if (!o || o->result != want) return std::nullopt;
            return std::string("spf=") + auth_result_name(o->result) + " " + (helo ? "helo=" : "smtp.mailfrom=") +
                   (helo ? o->helo : o->sender);
          },
          {rules::Scope::Header}, nullptr};
}

// d= of a signature is in `domains` (none given: any domain).
bool signed_by(const DkimOutcome& d, EvalArgs domains) {
  if (domains.empty()) return true;
  return std::any_of(domains.begin(), domains.end(), [&](const std::string& want) { return iequals(d.domain, want); });
}

std::string dkim_detail(const DkimOutcome& d) {
  return std::string("dkim=") + auth_result_name(d.result) + " header.d=" + d.domain + " header.s=" + d.selector;
}

std::string domain_of(std::string_view address) {
  std::size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : lower(address.substr(at + 1));
}

std::string dmarc_detail(const DmarcOutcome& d) {
  std::string out = std::string("dmarc=") + auth_result_name(d.result);
  if (!d.policy.empty()) out += " p=" + d.policy;
  if (!d.from_domain.empty()) out += " header.from=" + d.from_domain;
  return out;
}

EvalFunction dmarc_check(std::function<bool(const DmarcOutcome&)> test) {
  return {[test = std::move(test)](EvalContext& ctx, EvalArgs) -> EvalResult {
            const AuthResults* a = auth_of(ctx);
            if (!a || !a->dmarc || !test(*a->dmarc)) return std::nullopt;
            return dmarc_detail(*a->dmarc);
          },
          {rules::Scope::Header}, nullptr};
}

}  // namespace

void add_auth_evals(EvalTable& t) {
  const std::pair<const char*, AuthResult> kSpf[] = {
      {"pass", AuthResult::Pass},         {"neutral", AuthResult::Neutral},   {"none", AuthResult::None},
      {"fail", AuthResult::Fail},         {"softfail", AuthResult::SoftFail}, {"permerror", AuthResult::PermError},
      {"temperror", AuthResult::TempError}};
  for (const auto& [name, result] : kSpf) {
    t[std::string("check_for_spf_") + name] = spf_result(result, false);
    t[std::string("check_for_spf_helo_") + name] = spf_result(result, true);
  }
  // `none` needs a check that ran: a missing SPF filter must not read as "no record".
  // spf_result only sees outcomes the filter wrote, so that holds.

  // DKIM (Plugin/DKIM.pm): signed / valid, optionally by one of the listed domains.
  t["check_dkim_signed"] = {[](EvalContext& ctx, EvalArgs args) -> EvalResult {
                              const AuthResults* a = auth_of(ctx);
                              if (!a) return std::nullopt;
                              for (const auto& d : a->dkim)
                                if (signed_by(d, args)) return dkim_detail(d);
                              return std::nullopt;
                            },
                            {rules::Scope::Full, rules::Scope::Header}, nullptr};
  t["check_dkim_valid"] = {[](EvalContext& ctx, EvalArgs args) -> EvalResult {
                             const AuthResults* a = auth_of(ctx);
                             if (!a) return std::nullopt;
                             for (const auto& d : a->dkim)
                               if (d.result == AuthResult::Pass && signed_by(d, args)) return dkim_detail(d);
                             return std::nullopt;
                           },
                           {rules::Scope::Full, rules::Scope::Header}, nullptr};
  // ARC (Plugin/DKIM.pm's check_arc_signed / check_arc_valid): the arc filter's
  // outcome. Signed: the message carries ARC sets (whatever their state); valid: the
  // chain passed. SpamAssassin's optional domain arguments are not supported there
  // either (its code ignores them for ARC).
  t["check_arc_signed"] = {[](EvalContext& ctx, EvalArgs) -> EvalResult {
                             const AuthResults* a = auth_of(ctx);
                             if (!a || !a->arc || a->arc->result == AuthResult::None) return std::nullopt;
                             return std::string("i=") + std::to_string(a->arc->instances);
                           },
                           {rules::Scope::Full, rules::Scope::Header}, nullptr};
  t["check_arc_valid"] = {[](EvalContext& ctx, EvalArgs) -> EvalResult {
                            const AuthResults* a = auth_of(ctx);
                            if (!a || !a->arc || a->arc->result != AuthResult::Pass) return std::nullopt;
                            std::string d = "i=" + std::to_string(a->arc->instances);
                            if (!a->arc->sealers.empty()) d += " sealer " + a->arc->sealers.back();
                            return d;
                          },
                          {rules::Scope::Full, rules::Scope::Header}, nullptr};
  // A valid signature by an author's domain (each From mailbox's domain).
  t["check_dkim_valid_author_sig"] = {
      [](EvalContext& ctx, EvalArgs args) -> EvalResult {
        const AuthResults* a = auth_of(ctx);
        if (!a) return std::nullopt;
        std::vector<std::string> authors;
        for (auto v : ctx.raw("From"))
          for (const auto& addr : addresses_in(v)) authors.push_back(domain_of(addr));
        for (const auto& d : a->dkim) {
          if (d.result != AuthResult::Pass || !signed_by(d, args)) continue;
          if (std::any_of(authors.begin(), authors.end(), [&](const std::string& au) { return iequals(au, d.domain); }))
            return dkim_detail(d);
        }
        return std::nullopt;
      },
      {rules::Scope::Full, rules::Scope::Header}, nullptr};
  t["check_dkim_valid_envelopefrom"] = {
      [](EvalContext& ctx, EvalArgs) -> EvalResult {
        const AuthResults* a = auth_of(ctx);
        if (!a || !ctx.env.mail_from || ctx.env.mail_from->is_null()) return std::nullopt;
        std::string want = ctx.env.mail_from->domain();
        for (const auto& d : a->dkim)
          if (d.result == AuthResult::Pass && iequals(d.domain, want)) return dkim_detail(d);
        return std::nullopt;
      },
      {rules::Scope::Full, rules::Scope::Header}, nullptr};
  t["check_dkim_dependable"] = {[](EvalContext& ctx, EvalArgs) -> EvalResult {
                                  const AuthResults* a = auth_of(ctx);
                                  if (!a || a->dkim.empty()) return std::nullopt;
                                  for (const auto& d : a->dkim)
                                    if (d.result == AuthResult::TempError) return std::nullopt;
                                  return std::to_string(a->dkim.size()) + " signature(s) checked";
                                },
                                {rules::Scope::Full, rules::Scope::Header}, nullptr};

  // DMARC (Plugin/DMARC.pm): the evaluated result and the policy it asked for.
  t["check_dmarc_pass"] = dmarc_check([](const DmarcOutcome& d) { return d.result == AuthResult::Pass; });
  t["check_dmarc_reject"] = dmarc_check(
      [](const DmarcOutcome& d) { return d.result == AuthResult::Fail && d.policy == "reject"; });
  t["check_dmarc_quarantine"] = dmarc_check(
      [](const DmarcOutcome& d) { return d.result == AuthResult::Fail && d.policy == "quarantine"; });
  t["check_dmarc_none"] =
      dmarc_check([](const DmarcOutcome& d) { return d.result == AuthResult::Fail && d.policy == "none"; });
  t["check_dmarc_missing"] = dmarc_check([](const DmarcOutcome& d) { return d.result == AuthResult::None; });
}

}  // namespace mxgate
