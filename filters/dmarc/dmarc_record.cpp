// DMARC records (RFC 7489 6.3, 6.4), the Organisational Domain (3.2, libpsl) and
// identifier alignment (3.1).
#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "filters/dmarc/dmarc.hpp"
#include "base/text.hpp"

namespace mxgate {

bool domains_aligned(const PublicSuffixList& psl, std::string_view from_domain, std::string_view auth_domain,
                     DmarcAlign mode) {
  std::string f = normalize_domain(from_domain);
  std::string a = normalize_domain(auth_domain);
  if (f.empty() || a.empty()) return false;
  if (f == a) return true;
  if (mode == DmarcAlign::Strict) return false;
  return organizational_domain(psl, f) == organizational_domain(psl, a);
}

const char* dmarc_policy_name(DmarcPolicy p) {
  switch (p) {
    case DmarcPolicy::None: return "none";
    case DmarcPolicy::Quarantine: return "quarantine";
    case DmarcPolicy::Reject: return "reject";
  }
  return "none";
}

// ---- The record -------------------------------------------------------------------

namespace {



// tag-name = ALPHA *(ALPHA / DIGIT / "_")  (RFC 6376 3.2, which RFC 7489 6.4 uses)
bool valid_tag_name(std::string_view n) {
  if (n.empty() || !std::isalpha(static_cast<unsigned char>(n[0]))) return false;
  for (char c : n)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// ABNF strings are case-insensitive (RFC 5234 2.3), so "p=Reject" is valid.
std::optional<DmarcPolicy> policy_value(std::string_view v) {
  std::string l = lower(v);
  if (l == "none") return DmarcPolicy::None;
  if (l == "quarantine") return DmarcPolicy::Quarantine;
  if (l == "reject") return DmarcPolicy::Reject;
  return std::nullopt;
}

std::optional<DmarcAlign> align_value(std::string_view v) {
  std::string l = lower(v);
  if (l == "r") return DmarcAlign::Relaxed;
  if (l == "s") return DmarcAlign::Strict;
  return std::nullopt;
}

// dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]  (6.4). We check the
// URI's scheme and that the rest is non-empty and printable without spaces (RFC 3986
// does not allow them); we send no reports, so a finer check buys nothing.
bool valid_dmarc_uri(std::string_view u) {
  auto bang = u.rfind('!');
  if (bang != std::string_view::npos) {
    std::string_view size = u.substr(bang + 1);
    if (!size.empty() && std::string_view("kmgtKMGT").find(size.back()) != std::string_view::npos)
      size.remove_suffix(1);
    if (all_digits(size)) u = u.substr(0, bang);
  }
  auto colon = u.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == u.size()) return false;
  if (!std::isalpha(static_cast<unsigned char>(u[0]))) return false;
  for (std::size_t i = 0; i < colon; ++i) {
    char c = u[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return false;
  }
  for (std::size_t i = colon + 1; i < u.size(); ++i) {
    auto c = static_cast<unsigned char>(u[i]);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// A comma-separated URI list: valid URIs are kept, the others are warnings.
void uri_list(std::string_view tag, std::string_view v, std::vector<std::string>& out,
              std::vector<std::string>& warnings) {
  std::size_t start = 0;
  for (;;) {
    std::size_t comma = v.find(',', start);
    std::string_view one = trim_wsp(v.substr(start, comma == std::string_view::npos ? v.npos : comma - start));
    if (valid_dmarc_uri(one))
      out.emplace_back(one);
    else
      warnings.push_back(std::string(tag) + ": invalid URI \"" + std::string(one.substr(0, 100)) + "\" ignored");
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
}

}  // namespace

DmarcRecord parse_dmarc_record(std::string_view txt) {
  DmarcRecord r;
  if (trim_wsp(txt).empty()) {
    r.status = DmarcRecordStatus::Empty;
    return r;
  }
  // Split into tag=value pairs. dmarc-sep is *WSP ";" *WSP, and a final ";" is allowed.
  struct Tag {
    std::string name;  // lowercased
    std::string_view value;
    bool ok = false;   // had a valid name and "="
    std::string_view raw;
  };
  std::vector<Tag> tags;
  std::size_t start = 0;
  for (;;) {
    std::size_t semi = txt.find(';', start);
    std::string_view part = trim_wsp(txt.substr(start, semi == std::string_view::npos ? txt.npos : semi - start));
    if (!part.empty()) {  // "v=DMARC1;; p=none;" has empty parts; they mean nothing
      Tag t;
      t.raw = part;
      auto eq = part.find('=');
      if (eq != std::string_view::npos) {
        std::string_view name = trim_wsp(part.substr(0, eq));
        if (valid_tag_name(name)) {
          t.name = lower(name);
          t.value = trim_wsp(part.substr(eq + 1));
          t.ok = true;
        }
      }
      tags.push_back(t);
    }
    if (semi == std::string_view::npos) break;
    start = semi + 1;
  }

  // 6.3 v: "MUST have the value of DMARC1 ... MUST match precisely; if it does not or
  // it is absent, the entire retrieved record MUST be ignored. It MUST be the first
  // tag." The tag name is case-insensitive like every ABNF string; the value is
  // %x44.4d.41.52.43.31 in 6.4, so "dmarc1" is not DMARC1.
  if (tags.empty() || !tags.front().ok || tags.front().name != "v" || tags.front().value != "DMARC1") {
    r.status = DmarcRecordStatus::NotDmarc;
    return r;
  }

  bool sp_invalid = false;
  bool p_invalid = false;
  std::vector<std::string> seen;
  for (std::size_t i = 1; i < tags.size(); ++i) {
    const Tag& t = tags[i];
    if (!t.ok) {
      // 6.3: "Syntax errors in the remainder of the record SHOULD be discarded".
      r.warnings.push_back("syntax error \"" + std::string(t.raw.substr(0, 100)) + "\" ignored");
      continue;
    }
    bool duplicate = false;
    for (const auto& s : seen) duplicate = duplicate || s == t.name;
    if (duplicate) {
      // The RFC says nothing; the first occurrence wins, as in most receivers, so a
      // later "p=none" cannot water down an earlier "p=reject".
      if (t.name == "v" || t.name == "p" || t.name == "sp" || t.name == "np" || t.name == "adkim" ||
          t.name == "aspf" || t.name == "pct" || t.name == "rua" || t.name == "ruf" || t.name == "ri" ||
          t.name == "fo" || t.name == "rf" || t.name == "psd" || t.name == "t")
        r.warnings.push_back("duplicate " + t.name + "= ignored");
      continue;
    }
    seen.push_back(t.name);
    const std::string& n = t.name;
    std::string_view v = t.value;
    if (n == "p") {
      // 6.4 wants p right after v; we accept it anywhere (with no warning): refusing a
      // record over tag order would only discard the owner's stated policy.
      r.has_p = true;
      if (auto p = policy_value(v)) {
        r.p = *p;
      } else {
        p_invalid = true;
        r.warnings.push_back("p: invalid value \"" + std::string(v.substr(0, 40)) + "\"");
      }
    } else if (n == "sp") {
      if (auto p = policy_value(v)) {
        r.sp = *p;
      } else {
        // 6.6.3 names an invalid sp together with an invalid p: p=none if rua is
        // valid, else no policy at all. We follow the RFC (not "use p").
        sp_invalid = true;
        r.warnings.push_back("sp: invalid value \"" + std::string(v.substr(0, 40)) + "\"");
      }
    } else if (n == "np") {
      // RFC 9091 3 gives no error rule; 7489 6.3's general one applies: discard in
      // favour of the default, which is sp (or p).
      if (auto p = policy_value(v))
        r.np = *p;
      else
        r.warnings.push_back("np: invalid value \"" + std::string(v.substr(0, 40)) + "\" ignored (sp/p apply)");
    } else if (n == "adkim" || n == "aspf") {
      // 6.3: default "r" replaces an invalid value.
      auto a = align_value(v);
      if (!a) r.warnings.push_back(n + ": invalid value \"" + std::string(v.substr(0, 40)) + "\", using r");
      (n == "adkim" ? r.adkim : r.aspf) = a.value_or(DmarcAlign::Relaxed);
    } else if (n == "pct") {
      // 6.3 / 6.4: 1*3DIGIT in 0..100; anything else is replaced by the default 100.
      if (all_digits(v) && v.size() <= 3 && std::stoul(std::string(v)) <= 100)
        r.pct = static_cast<unsigned>(std::stoul(std::string(v)));
      else
        r.warnings.push_back("pct: invalid value \"" + std::string(v.substr(0, 40)) + "\", using 100");
    } else if (n == "rua") {
      uri_list("rua", v, r.rua, r.warnings);
    } else if (n == "ruf") {
      uri_list("ruf", v, r.ruf, r.warnings);
    } else if (n == "ri") {
      // 1*32DIGIT; anything that does not fit 64 bits is no sane interval either.
      if (all_digits(v) && v.size() <= 19)
        r.ri = std::stoull(std::string(v));
      else
        r.warnings.push_back("ri: invalid value \"" + std::string(v.substr(0, 40)) + "\", using 86400");
    } else if (n == "fo") {
      // fo = ("0" / "1" / "d" / "s") *(*WSP ":" *WSP ...)
      bool ok = !v.empty();
      std::string norm;
      std::size_t s = 0;
      while (ok) {
        std::size_t c = v.find(':', s);
        std::string_view one = trim_wsp(v.substr(s, c == std::string_view::npos ? v.npos : c - s));
        ok = one == "0" || one == "1" || one == "d" || one == "s";
        norm += std::string(norm.empty() ? "" : ":") + std::string(one);
        if (c == std::string_view::npos) break;
        s = c + 1;
      }
      if (ok)
        r.fo = norm;
      else
        r.warnings.push_back("fo: invalid value \"" + std::string(v.substr(0, 40)) + "\", using 0");
    } else if (n == "psd") {
      // RFC 9989 4.7: y, n or u; anything else is discarded in favour of u (4.8).
      const std::string l = lower(v);
      if (l == "y" || l == "n" || l == "u")
        r.psd = l[0];
      else
        r.warnings.push_back("psd: invalid value \"" + std::string(v.substr(0, 40)) + "\", using u");
    } else if (n == "t") {
      const std::string l = lower(v);
      if (l == "y" || l == "n")
        r.test_mode = l == "y";
      else
        r.warnings.push_back("t: invalid value \"" + std::string(v.substr(0, 40)) + "\", using n");
    } else if (n == "rf") {
      // Keyword *(":" Keyword) from the IANA registry, which holds only "afrf".
      bool ok = !v.empty();
      std::size_t s = 0;
      while (ok) {
        std::size_t c = v.find(':', s);
        ok = lower(trim_wsp(v.substr(s, c == std::string_view::npos ? v.npos : c - s))) == "afrf";
        if (c == std::string_view::npos) break;
        s = c + 1;
      }
      if (!ok) r.warnings.push_back("rf: unsupported value \"" + std::string(v.substr(0, 40)) + "\", using afrf");
    }
    // 6.3: "Unknown tags MUST be ignored." (v= again lands here via `duplicate`.)
  }

  if (!r.has_p || p_invalid || sp_invalid) {
    // 6.6.3: "If a retrieved policy record does not contain a valid "p" tag, or
    // contains an "sp" tag that is not valid, then: if a "rua" tag is present and
    // contains at least one syntactically valid reporting URI, the Mail Receiver SHOULD
    // act as if a record containing a valid "v" tag and "p=none" was retrieved, and
    // continue processing; otherwise, this step is terminated, and no policy is applied."
    if (!r.rua.empty()) {
      r.status = DmarcRecordStatus::Ok;
      r.p_from_rua = true;
      r.p = DmarcPolicy::None;
      r.sp.reset();
      r.np.reset();
      r.pct = 100;
      return r;
    }
    r.status = DmarcRecordStatus::NoPolicy;
    return r;
  }
  r.status = DmarcRecordStatus::Ok;
  return r;
}

}  // namespace mxgate
