#include "filters/auth/dkim_signature.hpp"
#include "base/base64.hpp"
#include "base/text.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cctype>
#include <memory>

namespace mxgate {
namespace {

bool is_fws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim_fws(std::string_view s) {
  while (!s.empty() && is_fws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_fws(s.back())) s.remove_suffix(1);
  return s;
}


std::string strip_ws(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (!is_fws(c)) out += c;
  return out;
}

bool has_ws(std::string_view s) {
  for (char c : s)
    if (is_fws(c)) return true;
  return false;
}

// RFC 6376 3.5: 1*76DIGIT for l=, 1*12DIGIT for t= and x=.
std::optional<std::uint64_t> parse_digits(std::string_view s, std::size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;  // an l= beyond 2^64 is not a real body
    v = v * 10 + d;
  }
  return v;
}

bool valid_base64(std::string_view s) {
  if (s.empty()) return false;
  std::size_t pad = 0;
  for (char c : s) {
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad > 0) return false;  // data after padding
    if (base64_value(c) < 0) return false;
  }
  return pad <= 2;
}

// Strict: the whole value, padded to a multiple of four, nothing outside the alphabet.
std::optional<std::string> base64_decode(std::string_view s) {
  if (!valid_base64(s) || s.size() % 4 != 0) return std::nullopt;
  return base64_decode_lenient(s);  // well-formed: skipping the padding is the strict reading
}

bool valid_label(std::string_view l, bool allow_underscore) {
  if (l.empty() || l.size() > 63) return false;
  if (l.front() == '-' || l.back() == '-') return false;
  for (char c : l) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-') continue;
    if (allow_underscore && c == '_') continue;
    return false;
  }
  return true;
}

bool valid_labels(std::string_view s, bool allow_underscore, std::size_t min_labels) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t count = 0;
  while (true) {
    auto dot = s.find('.');
    if (!valid_label(s.substr(0, dot), allow_underscore)) return false;
    ++count;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  return count >= min_labels;
}

std::vector<std::string> split_colon_list(std::string_view s) {
  std::vector<std::string> out;
  while (true) {
    auto c = s.find(':');
    out.push_back(lower(trim_fws(s.substr(0, c))));
    if (c == std::string_view::npos) break;
    s.remove_prefix(c + 1);
  }
  return out;
}

DkimSignature permerror(DkimSignature sig, std::string why) {
  sig.result = AuthResult::PermError;
  sig.reason = std::move(why);
  return sig;
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

}  // namespace

std::optional<std::map<std::string, std::string>> parse_tag_list(std::string_view text,
                                                                 std::string* error) {
  std::map<std::string, std::string> tags;
  auto fail = [&](std::string why) -> std::optional<std::map<std::string, std::string>> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  while (true) {
    auto semi = text.find(';');
    std::string_view spec = trim_fws(text.substr(0, semi));
    if (!spec.empty()) {
      auto eq = spec.find('=');
      if (eq == std::string_view::npos) return fail("tag without '='");
      std::string_view name = trim_fws(spec.substr(0, eq));
      std::string_view value = trim_fws(spec.substr(eq + 1));
      if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0])))
        return fail("bad tag name");
      for (char c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return fail("bad tag name");
      for (char c : value) {
        unsigned char u = static_cast<unsigned char>(c);
        // VALCHAR is %x21-3A / %x3C-7E; FWS only between value characters.
        if (!is_fws(c) && (u < 0x21 || u > 0x7e))
          return fail("invalid character in value of " + std::string(name) + "=");
      }
      if (!tags.emplace(std::string(name), std::string(value)).second)
        return fail("duplicate tag " + std::string(name) + "=");  // RFC 6376 3.2
    }
    if (semi == std::string_view::npos) break;
    text.remove_prefix(semi + 1);
  }
  return tags;
}

bool valid_dkim_domain(std::string_view d) { return valid_labels(d, false, 2); }

bool valid_dkim_selector(std::string_view s) { return valid_labels(s, true, 1); }

bool domain_within(std::string_view a, std::string_view b) {
  if (a.size() == b.size()) return a == b;
  return a.size() > b.size() && a.substr(a.size() - b.size()) == b && a[a.size() - b.size() - 1] == '.';
}

DkimSignature parse_dkim_signature(std::string_view value, const DkimSyntaxOptions& opt) {
  DkimSignature sig;
  std::string err;
  auto tags = parse_tag_list(value, &err);
  if (!tags) return permerror(std::move(sig), "malformed signature: " + err);
  sig.tags = std::move(*tags);
  auto get = [&](const char* t) -> const std::string* {
    auto it = sig.tags.find(t);
    return it == sig.tags.end() ? nullptr : &it->second;
  };

  // Recorded first so that a rejected signature can still be told apart.
  if (auto b = get("b")) sig.b = strip_ws(*b);
  if (auto a = get("a")) sig.algorithm = lower(*a);
  auto d = get("d");
  if (d && valid_dkim_domain(*d)) sig.domain = lower(*d);
  auto s = get("s");
  if (s && valid_dkim_selector(*s)) sig.selector = lower(*s);

  auto v = get("v");
  if (!v) return permerror(std::move(sig), "v= missing");
  if (*v != "1") return permerror(std::move(sig), "unsupported version v=" + *v);
  for (const char* req : {"a", "b", "bh", "d", "h", "s"})
    if (!get(req)) return permerror(std::move(sig), std::string(req) + "= missing");
  // Never look up a d= or s= we did not validate: the query name is built from them
  // as they are.
  if (sig.domain.empty()) return permerror(std::move(sig), "invalid d= domain");
  if (sig.selector.empty()) return permerror(std::move(sig), "invalid s= selector");
  if (sig.key_name().size() > 253) return permerror(std::move(sig), "key name too long");
  if (sig.algorithm != "rsa-sha256" && sig.algorithm != "ed25519-sha256" && sig.algorithm != "rsa-sha1")
    return permerror(std::move(sig), "unknown algorithm a=" + sig.algorithm);
  if (!valid_base64(sig.b)) return permerror(std::move(sig), "b= is not base64");
  if (!valid_base64(strip_ws(*get("bh")))) return permerror(std::move(sig), "bh= is not base64");
  if (auto c = get("c")) {
    std::string cl = lower(*c);
    auto slash = cl.find('/');
    std::string hc = cl.substr(0, slash);
    std::string bc = slash == std::string::npos ? "simple" : cl.substr(slash + 1);
    auto ok = [](const std::string& x) { return x == "simple" || x == "relaxed"; };
    if (!ok(hc) || !ok(bc)) return permerror(std::move(sig), "unknown canonicalization c=" + *c);
  }
  bool from_signed = false;
  for (const auto& h : split_colon_list(*get("h"))) {
    if (h.empty() || has_ws(h)) return permerror(std::move(sig), "malformed h= list");
    if (h == "from") from_signed = true;
  }
  if (!from_signed) return permerror(std::move(sig), "From field not signed");  // RFC 6376 6.1.1
  if (auto i = get("i")) {
    auto at = i->rfind('@');
    std::string idom = lower(at == std::string::npos ? std::string() : i->substr(at + 1));
    if (at == std::string::npos || has_ws(*i) || !valid_labels(idom, false, 1) ||
        !domain_within(idom, sig.domain))
      return permerror(std::move(sig), "i= is not within d=");  // RFC 6376 3.5 i=
    sig.identity = *i;
  }
  if (auto l = get("l")) {
    sig.body_length = parse_digits(*l, 76);
    if (!sig.body_length) return permerror(std::move(sig), "invalid l=");
  }
  if (auto q = get("q")) {
    bool dns = false;
    for (const auto& m : split_colon_list(*q)) dns = dns || m == "dns/txt";
    if (!dns) return permerror(std::move(sig), "no supported query method in q=");
  }
  if (auto t = get("t")) {
    sig.timestamp = parse_digits(*t, 12);
    if (!sig.timestamp) return permerror(std::move(sig), "invalid t=");
  }
  if (auto x = get("x")) {
    sig.expiration = parse_digits(*x, 12);
    if (!sig.expiration) return permerror(std::move(sig), "invalid x=");
    if (sig.timestamp && *sig.expiration <= *sig.timestamp)
      return permerror(std::move(sig), "x= is not after t=");  // RFC 6376 3.5 x=
  }
  // Refusals that are not syntax errors come last, so a malformed signature always
  // reads as permerror whatever its algorithm.
  if (sig.algorithm == "rsa-sha1" && !opt.allow_sha1) {  // RFC 8301 3.1
    sig.result = AuthResult::Policy;
    sig.reason = "rsa-sha1 not accepted";
    return sig;
  }
  // Expired (x=) and future-dated (t=) signatures: RFC 6376 3.5 lets verifiers
  // ignore them; nothing is wrong with the signature itself, so RFC 8601 2.7.1's
  // "policy" ("some aspect of the signature ... was not acceptable to the ADMD"),
  // not "fail", which DMARC readers and reputation systems take as a forgery.
  if (sig.expiration && opt.now >= *sig.expiration + kDkimClockDriftSeconds) {
    sig.result = AuthResult::Policy;
    sig.reason = "signature expired";
    return sig;
  }
  if (sig.timestamp && *sig.timestamp > opt.now + kDkimClockDriftSeconds) {
    sig.result = AuthResult::Policy;
    sig.reason = "signature timestamp in the future";
    return sig;
  }
  return sig;
}

DkimKey parse_dkim_key(std::string_view txt, std::string_view algorithm) {
  DkimKey key;
  auto bad = [&](AuthResult r, std::string why) {
    key.result = r;
    key.reason = std::move(why);
    return key;
  };
  std::string err;
  auto tags = parse_tag_list(txt, &err);
  if (!tags) return bad(AuthResult::PermError, "key record syntax: " + err);
  auto get = [&](const char* t) -> const std::string* {
    auto it = tags->find(t);
    return it == tags->end() ? nullptr : &it->second;
  };
  if (auto v = get("v")) {
    if (*v != "DKIM1") return bad(AuthResult::PermError, "key record version v=" + *v);
    // 3.6.1: "If specified, this tag MUST be set to "DKIM1" ... MUST be the first tag".
    std::string_view first = txt.substr(0, txt.find('='));
    while (!first.empty() && std::isspace(static_cast<unsigned char>(first.front()))) first.remove_prefix(1);
    while (!first.empty() && std::isspace(static_cast<unsigned char>(first.back()))) first.remove_suffix(1);
    if (first != "v") return bad(AuthResult::PermError, "key record v= is not the first tag");
  }
  auto p = get("p");
  if (!p) return bad(AuthResult::PermError, "key record without p=");
  key.type = "rsa";
  if (auto k = get("k")) key.type = lower(*k);
  if (key.type != "rsa" && key.type != "ed25519") return bad(AuthResult::PermError, "unknown key type k=" + key.type);
  std::string want = algorithm == "ed25519-sha256" ? "ed25519" : "rsa";
  if (key.type != want) return bad(AuthResult::PermError, "key type " + key.type + " does not match a=");
  std::string hash = algorithm == "rsa-sha1" ? "sha1" : "sha256";
  if (auto h = get("h")) {
    bool ok = false;
    for (const auto& x : split_colon_list(*h)) ok = ok || x == hash;
    if (!ok) return bad(AuthResult::PermError, "key h= does not allow " + hash);
  }
  if (auto s = get("s")) {
    bool ok = false;
    for (const auto& x : split_colon_list(*s)) ok = ok || x == "*" || x == "email";
    if (!ok) return bad(AuthResult::PermError, "key not for email (s=" + *s + ")");
  }
  std::string b64 = strip_ws(*p);
  // RFC 6376 3.6.1: an empty p= means the key was revoked. We report it as fail
  // (the signer withdrew the key; the signature can never verify), as OpenDKIM does.
  if (b64.empty()) {
    key.revoked = true;
    return bad(AuthResult::Fail, "key revoked");
  }
  auto der = base64_decode(b64);
  if (!der) return bad(AuthResult::PermError, "key p= is not base64");
  const auto* bytes = reinterpret_cast<const unsigned char*>(der->data());
  if (key.type == "ed25519") {
    if (der->size() != 32) return bad(AuthResult::PermError, "ed25519 key is not 32 bytes");  // RFC 8463 4
    key.bits = 256;
    key.der = *der;
  } else {
    const unsigned char* q = bytes;
    PkeyPtr pk(d2i_PUBKEY(nullptr, &q, static_cast<long>(der->size())));
    if (!pk || q != bytes + der->size() || EVP_PKEY_get_base_id(pk.get()) != EVP_PKEY_RSA) {
      // Not SubjectPublicKeyInfo: try a bare PKCS#1 RSAPublicKey (RFC 3447 A.1.1),
      // which some publishers put in p= (dkimpy accepts it too).
      q = bytes;
      pk.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &q, static_cast<long>(der->size())));
      if (!pk || q != bytes + der->size()) return bad(AuthResult::PermError, "key p= is not an RSA public key");
    }
    int bits = EVP_PKEY_get_bits(pk.get());
    if (bits <= 0) return bad(AuthResult::PermError, "key p= is not an RSA public key");
    key.bits = static_cast<unsigned>(bits);
    unsigned char* out = nullptr;
    int n = i2d_PUBKEY(pk.get(), &out);
    if (n <= 0 || !out) return bad(AuthResult::TempError, "cannot re-encode RSA key");
    key.der.assign(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
    OPENSSL_free(out);
  }
  // t= flags (3.6.1): unknown ones are ignored.
  if (auto t = get("t"))
    for (const auto& f : split_colon_list(*t)) {
      key.same_domain = key.same_domain || f == "s";
      key.testing = key.testing || f == "y";
    }
  return key;
}

// Picks the key record among the TXT strings at the key name. RFC 6376 3.6.2.2
// leaves several records undefined: records that are not key records are skipped,
// and more than one usable record is a permerror.
DkimKey choose_dkim_key(const std::vector<std::string>& records, const std::string& algorithm) {
  std::vector<DkimKey> usable;
  DkimKey first_error;
  for (const auto& rec : records) {
    DkimKey k = parse_dkim_key(rec, algorithm);
    bool is_key = k.result == AuthResult::None || k.revoked;
    if (is_key) usable.push_back(std::move(k));
    else if (first_error.result == AuthResult::None) first_error = std::move(k);
  }
  if (usable.size() == 1) return usable.front();
  DkimKey out;
  if (usable.size() > 1) {
    out.result = AuthResult::PermError;
    out.reason = "multiple key records";
    return out;
  }
  if (first_error.result != AuthResult::None) return first_error;
  out.result = AuthResult::PermError;
  out.reason = "no key for signature";
  return out;
}

std::string from_header_domain(std::string_view value) {
  // Drop comments (RFC 5322 3.2.2), keeping quoted strings intact.
  std::string s;
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\\' && i + 1 < value.size() && (quoted || depth > 0)) {
      if (depth == 0) {
        s += c;
        s += value[i + 1];
      }
      ++i;
      continue;
    }
    if (depth > 0) {
      if (c == '(') ++depth;
      if (c == ')') --depth;
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (c == '(' && !quoted) {
      depth = 1;
      s += ' ';
      continue;
    }
    s += c;
  }
  // Find the address: the <angle-addr> if any, else the whole value; more than one
  // mailbox (a top-level comma) means there is no single author domain.
  quoted = false;
  std::size_t lt = std::string::npos, gt = std::string::npos;
  int angles = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && quoted) {
      ++i;
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (quoted) continue;
    if (c == ',') return "";
    if (c == '<') {
      if (++angles > 1) return "";
      lt = i;
    }
    if (c == '>' && lt != std::string::npos && gt == std::string::npos) gt = i;
  }
  std::string addr = lt != std::string::npos && gt != std::string::npos ? s.substr(lt + 1, gt - lt - 1) : s;
  auto at = addr.rfind('@');
  if (at == std::string::npos) return "";
  std::string dom = lower(trim_fws(std::string_view(addr).substr(at + 1)));
  if (!dom.empty() && dom.back() == '.') dom.pop_back();
  if (!valid_labels(dom, false, 1)) return "";
  return dom;
}

}  // namespace mxgate
