#include "filters/arc/arc.hpp"

#include <algorithm>
#include <map>
#include <optional>

#include "base/text.hpp"
#include "filters/auth/dkim_signature.hpp"
#include "filters/auth/dkim_verify.hpp"
#include "filters/dns/query_all.hpp"
#include "filters/dns/resolver.hpp"

namespace mxgate {
namespace {

// One ARC-Message-Signature or ARC-Seal, parsed.
struct ArcSig {
  const HeaderField* field = nullptr;
  DkimSignature sig;  // algorithm, domain, selector, b, tags (c, h, bh, l for the AMS)
  std::string problem;  // a syntax problem that fails the chain
};

std::optional<unsigned> instance_of(const std::string& v) {
  if (v.empty() || v.size() > 3 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return static_cast<unsigned>(std::stoul(v));
}

// RFC 6376 3.2's tag-list allows one ";" at the very end, not an empty tag-spec
// between two (`s=dummy;; t=1`): the suite's as_format_tags_sc. (mxgate's DKIM
// parser tolerates it, as most verifiers do; an ARC chain is held to the grammar.)
bool has_empty_tag_spec(std::string_view v) {
  std::size_t pos = 0;
  while (true) {
    const std::size_t semi = v.find(';', pos);
    if (semi == std::string_view::npos) return false;
    std::string_view piece = v.substr(pos, semi - pos);
    bool blank = true;
    for (char c : piece) blank = blank && (c == ' ' || c == '\t' || c == '\r' || c == '\n');
    if (blank) return true;
    pos = semi + 1;
  }
}

// A field's tags as a DKIM-like signature (RFC 8617 4.1.2 / 4.1.3); `problem` set if
// it cannot be verified at all.
ArcSig parse_arc_sig(const HeaderField& f, bool seal, const ArcConfig& cfg, unsigned* instance) {
  ArcSig out;
  out.field = &f;
  std::string err;
  auto tags = parse_tag_list(f.value, &err);
  if (tags && has_empty_tag_spec(f.value)) {
    tags.reset();
    err = "empty tag-spec";
  }
  if (!tags) {
    out.problem = "malformed " + std::string(seal ? "ARC-Seal" : "ARC-Message-Signature") + ": " + err;
    return out;
  }
  DkimSignature& s = out.sig;
  s.tags = std::move(*tags);
  auto get = [&](const char* t) -> const std::string* {
    auto it = s.tags.find(t);
    return it == s.tags.end() ? nullptr : &it->second;
  };
  const char* what = seal ? "ARC-Seal" : "ARC-Message-Signature";
  auto bad = [&](const std::string& why) {
    out.problem = std::string(what) + " " + why;
    return out;
  };
  auto i = get("i");
  auto n = i ? instance_of(*i) : std::nullopt;
  if (!n || *n == 0) return bad("without a valid i=");
  *instance = *n;
  for (const char* req : seal ? std::vector<const char*>{"a", "b", "cv", "d", "s"}
                              : std::vector<const char*>{"a", "b", "bh", "d", "h", "s"})
    if (!get(req)) return bad(std::string(req) + "= missing");
  if (auto b = get("b")) {
    for (char c : *b)
      if (!std::isspace(static_cast<unsigned char>(c))) s.b += c;
  }
  s.algorithm = lower(*get("a"));
  if (s.algorithm != "rsa-sha256" && s.algorithm != "ed25519-sha256" &&
      !(s.algorithm == "rsa-sha1" && cfg.allow_sha1))
    return bad("algorithm a=" + s.algorithm + " not accepted");
  if (!valid_dkim_domain(*get("d"))) return bad("invalid d=");
  if (!valid_dkim_selector(*get("s"))) return bad("invalid s=");
  s.domain = lower(*get("d"));
  s.selector = lower(*get("s"));
  if (seal) {
    if (get("h")) return bad("has h=, which a seal must not");  // RFC 8617 4.1.3
  } else {
    for (const auto& h : [&] {
           std::vector<std::string> names;
           std::string_view list = *get("h");
           std::size_t pos = 0;
           while (pos <= list.size()) {
             const std::size_t colon = list.find(':', pos);
             names.push_back(lower(trim(list.substr(pos, colon == std::string_view::npos ? std::string_view::npos : colon - pos))));
             pos = colon == std::string_view::npos ? list.size() + 1 : colon + 1;
           }
           return names;
         }())
      if (h == "arc-seal") return bad("signs ARC-Seal");  // RFC 8617 4.1.2
    if (auto l = get("l")) {
      if (l->empty() || l->size() > 18 || !std::all_of(l->begin(), l->end(), [](char c) { return c >= '0' && c <= '9'; }))
        return bad("invalid l=");
      s.body_length = std::stoull(*l);
    }
  }
  return out;
}

struct ArcSet {
  const HeaderField* aar = nullptr;
  ArcSig ams, as;
  bool has_ams = false, has_as = false;
  unsigned aar_count = 0, ams_count = 0, as_count = 0;
};

ArcOutcome failed(unsigned n, std::string why) {
  ArcOutcome o;
  o.result = AuthResult::Fail;
  o.instances = n;
  o.reason = std::move(why);
  return o;
}

}  // namespace

unsigned arc_aar_instance(std::string_view value) {
  std::size_t i = 0;
  auto skip = [&] {
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t' || value[i] == '\r' || value[i] == '\n')) ++i;
  };
  skip();
  if (i >= value.size() || (value[i] != 'i' && value[i] != 'I')) return 0;
  ++i;
  skip();
  if (i >= value.size() || value[i] != '=') return 0;
  ++i;
  skip();
  std::size_t start = i;
  while (i < value.size() && value[i] >= '0' && value[i] <= '9') ++i;
  auto n = instance_of(std::string(value.substr(start, i - start)));
  skip();
  if (!n || i >= value.size() || value[i] != ';') return 0;
  return *n;
}

Task<ArcOutcome> verify_arc(const Message& msg, DnsLookup* dns, const ArcConfig& cfg) {
  // 1. The ARC sets.
  std::map<unsigned, ArcSet> sets;
  std::string problem;
  for (const auto& f : msg.headers()) {
    const bool aar = f.is("ARC-Authentication-Results");
    const bool ams = f.is("ARC-Message-Signature");
    const bool as = f.is("ARC-Seal");
    if (!aar && !ams && !as) continue;
    unsigned n = 0;
    if (aar) {
      n = arc_aar_instance(f.value);
      if (n == 0) {
        if (problem.empty()) problem = "ARC-Authentication-Results without a valid i=";
        continue;
      }
      ArcSet& set = sets[n];
      if (set.aar_count++ == 0) set.aar = &f;
      continue;
    }
    ArcSig parsed = parse_arc_sig(f, as, cfg, &n);
    if (n == 0) {
      if (problem.empty()) problem = parsed.problem;
      continue;
    }
    ArcSet& set = sets[n];
    if (as) {
      if (set.as_count++ == 0) set.as = std::move(parsed), set.has_as = true;
    } else {
      if (set.ams_count++ == 0) set.ams = std::move(parsed), set.has_ams = true;
    }
  }
  if (sets.empty() && problem.empty()) co_return ArcOutcome{};  // "none"
  const unsigned n = sets.empty() ? 0 : sets.rbegin()->first;
  if (!problem.empty()) co_return failed(n, problem);
  if (n > kMaxArcInstances) co_return failed(n, "more than 50 ARC sets");

  // 2. The newest seal's own verdict.
  const ArcSet& newest = sets.rbegin()->second;
  if (newest.has_as) {
    auto cv = newest.as.sig.tags.find("cv");
    if (cv != newest.as.sig.tags.end() && lower(cv->second) == "fail")
      co_return failed(n, "ARC-Seal i=" + std::to_string(n) + " says cv=fail");
  }
  // 3. Structure.
  for (unsigned i = 1; i <= n; ++i) {
    auto it = sets.find(i);
    if (it == sets.end()) co_return failed(n, "ARC set i=" + std::to_string(i) + " missing");
    const ArcSet& s = it->second;
    if (s.aar_count != 1 || s.ams_count != 1 || s.as_count != 1)
      co_return failed(n, "ARC set i=" + std::to_string(i) + " does not have exactly one field of each kind");
    for (const ArcSig* sig : {&s.ams, &s.as})
      if (!sig->problem.empty()) co_return failed(n, sig->problem + " (i=" + std::to_string(i) + ")");
    const std::string cv = lower(s.as.sig.tags.at("cv"));
    if (i == 1 ? cv != "none" : cv != "pass")
      co_return failed(n, "ARC-Seal i=" + std::to_string(i) + " has cv=" + cv);
  }

  // Every key at once.
  std::vector<std::string> names;
  auto name_of = [&](const ArcSig& s) { return s.sig.key_name(); };
  for (const auto& [i, s] : sets)
    for (const ArcSig* sig : {&s.ams, &s.as})
      if (std::find(names.begin(), names.end(), name_of(*sig)) == names.end()) names.push_back(name_of(*sig));
  if (!dns) co_return failed(n, "no resolver for the ARC keys");
  std::vector<DnsQuestion> qs;
  for (const auto& k : names) qs.push_back({k, RrType::TXT});
  const std::vector<DnsResult> answers = co_await query_all(*dns, qs);
  auto key_for = [&](const ArcSig& s, std::string* why) -> std::optional<DkimKey> {
    const std::size_t k = static_cast<std::size_t>(std::find(names.begin(), names.end(), name_of(s)) - names.begin());
    const DnsResult& r = answers[k];
    if (r.temporary()) {
      *why = std::string("key lookup ") + dns_status_name(r.status) + " for " + names[k];
      return std::nullopt;
    }
    if (r.status != DnsStatus::Answer || r.records.empty()) {
      *why = "no key at " + names[k];
      return std::nullopt;
    }
    DkimKey key = choose_dkim_key(r.records, s.sig.algorithm);
    if (key.result != AuthResult::None) {
      *why = key.reason + " (" + names[k] + ")";
      return std::nullopt;
    }
    if (key.type == "rsa" && key.bits < cfg.min_rsa_bits) {
      *why = "RSA key too small (" + std::to_string(key.bits) + " bits, " + names[k] + ")";
      return std::nullopt;
    }
    return key;
  };
  std::optional<std::string> canon_body[2];
  auto ams_ok = [&](const ArcSet& s, std::string* why) {
    auto key = key_for(s.ams, why);
    if (!key) return false;
    DkimVerdict v = verify_dkim_signature(msg, *s.ams.field, s.ams.sig, *key, canon_body);
    if (v.result != AuthResult::Pass) *why = v.reason;
    return v.result == AuthResult::Pass;
  };

  // 4. The newest message signature.
  std::string why;
  if (!ams_ok(newest, &why)) co_return failed(n, "ARC-Message-Signature i=" + std::to_string(n) + ": " + why);
  // 5. oldest-pass.
  ArcOutcome out;
  for (unsigned i = n - 1; i >= 1; --i) {
    std::string ignored;
    if (!ams_ok(sets.at(i), &ignored)) {
      out.oldest_pass = i + 1;
      break;
    }
  }
  // 6. Every seal, over the sets up to its own.
  for (unsigned i = n; i >= 1; --i) {
    const ArcSet& s = sets.at(i);
    std::string data;
    for (unsigned j = 1; j <= i; ++j) {
      const ArcSet& t = sets.at(j);
      data += dkim_canon_header(t.aar->name, t.aar->value, true);
      data += dkim_canon_header(t.ams.field->name, t.ams.field->value, true);
      if (j < i) data += dkim_canon_header(t.as.field->name, t.as.field->value, true);
    }
    data += dkim_canon_header(s.as.field->name, dkim_without_b(s.as.field->value), true, true);
    auto key = key_for(s.as, &why);
    if (!key) co_return failed(n, "ARC-Seal i=" + std::to_string(i) + ": " + why);
    DkimVerdict v = verify_dkim_data(data, s.as.sig.algorithm, s.as.sig.b, *key);
    if (v.result != AuthResult::Pass) co_return failed(n, "ARC-Seal i=" + std::to_string(i) + ": " + v.reason);
  }
  // 7.
  out.result = AuthResult::Pass;
  out.instances = n;
  for (unsigned i = 1; i <= n; ++i) {
    const ArcSet& s = sets.at(i);
    out.sealers.push_back(s.as.sig.domain);
    std::string_view v = s.aar->value;
    v.remove_prefix(std::min(v.size(), v.find(';') + 1));
    out.aar.emplace_back(trim(v));
  }
  co_return out;
}

}  // namespace mxgate
