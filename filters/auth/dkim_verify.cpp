#include "filters/auth/dkim_verify.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <vector>

#include "base/base64.hpp"
#include "base/text.hpp"

namespace mxgate {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// The digest of `data` with `md` (raw bytes); "" if OpenSSL fails.
std::string digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), out, &n, md, nullptr) != 1) return {};
  return std::string(reinterpret_cast<const char*>(out), n);
}

// The tag names of a tag-list piece ("  b = ..."): name without FWS, "" if none.
std::string_view piece_name(std::string_view piece) {
  const std::size_t eq = piece.find('=');
  if (eq == std::string_view::npos) return {};
  std::string_view n = piece.substr(0, eq);
  while (!n.empty() && (is_wsp(n.front()) || n.front() == '\r' || n.front() == '\n')) n.remove_prefix(1);
  while (!n.empty() && (is_wsp(n.back()) || n.back() == '\r' || n.back() == '\n')) n.remove_suffix(1);
  return n;
}

}  // namespace

std::string dkim_canon_body(std::string_view body, bool relaxed) {
  std::string out;
  if (!relaxed) {
    // 3.4.3: "ignores all empty lines at the end of the message body"; a missing final
    // CRLF, or no body at all, becomes one CRLF.
    std::size_t end = body.size();
    while (end >= 2 && body[end - 2] == '\r' && body[end - 1] == '\n') end -= 2;
    out.reserve(end + 2);
    out.append(body.substr(0, end));
    out.append("\r\n");
    return out;
  }
  // 3.4.4: per line, white space at the end dropped and runs of it made one space;
  // then trailing empty lines dropped; a non-empty result ends in CRLF.
  out.reserve(body.size());
  std::size_t keep = 0;  // out's size after the last non-empty line
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t eol = body.find("\r\n", pos);
    const bool has_crlf = eol != std::string_view::npos;
    std::string_view line = body.substr(pos, has_crlf ? eol - pos : std::string_view::npos);
    pos = has_crlf ? eol + 2 : body.size();
    const std::size_t start = out.size();
    bool in_wsp = false;
    for (char c : line) {
      if (is_wsp(c)) {
        in_wsp = true;
        continue;
      }
      if (in_wsp) out += ' ';
      in_wsp = false;
      out += c;
    }
    const bool empty = out.size() == start;
    out.append("\r\n");
    if (!empty) keep = out.size();
  }
  out.resize(keep);
  return out;
}

std::string dkim_canon_header(std::string_view name, std::string_view value, bool relaxed, bool last) {
  std::string out;
  if (!relaxed) {
    // 3.4.1: no change at all.
    out.reserve(name.size() + value.size() + 3);
    out.append(name).append(":").append(value);
  } else {
    // 3.4.2: name lowercased, unfolded, white space runs one space, none at the ends
    // of the value or around the colon.
    std::string_view n = name;
    while (!n.empty() && is_wsp(n.back())) n.remove_suffix(1);
    out = lower(n);
    out += ':';
    const std::size_t value_start = out.size();
    bool in_wsp = false;
    for (char c : value) {
      if (c == '\r' || c == '\n') continue;  // unfolding: the WSP after it stays
      if (is_wsp(c)) {
        in_wsp = true;
        continue;
      }
      if (in_wsp && out.size() > value_start) out += ' ';
      in_wsp = false;
      out += c;
    }
  }
  if (!last) out.append("\r\n");
  return out;
}

std::string dkim_without_b(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  std::size_t pos = 0;
  while (true) {
    const std::size_t semi = value.find(';', pos);
    std::string_view piece = value.substr(pos, semi == std::string_view::npos ? std::string_view::npos : semi - pos);
    if (piece_name(piece) == "b") {
      out.append(piece.substr(0, piece.find('=') + 1));  // "b=" and what precedes it; the value goes
    } else {
      out.append(piece);
    }
    if (semi == std::string_view::npos) break;
    out += ';';
    pos = semi + 1;
  }
  return out;
}

std::string dkim_signed_data(const Message& msg, const HeaderField& sig_field, const DkimSignature& sig) {
  const bool relaxed = [&] {
    auto c = sig.tags.find("c");
    return c != sig.tags.end() && lower(c->second).rfind("relaxed", 0) == 0;
  }();
  const auto& headers = msg.headers();
  std::vector<char> used(headers.size(), 0);
  std::string out;
  std::string list = sig.tags.at("h");
  std::size_t pos = 0;
  while (pos <= list.size()) {
    std::size_t colon = list.find(':', pos);
    std::string_view name = trim(std::string_view(list).substr(pos, colon == std::string::npos ? std::string::npos : colon - pos));
    pos = colon == std::string::npos ? list.size() + 1 : colon + 1;
    // 5.4.2: the last instance not used yet, from the bottom; a name with no instance
    // left signs nothing (so over-signing holds a field's absence). The signature
    // being verified is never one of "its" fields.
    for (std::size_t i = headers.size(); i-- > 0;) {
      if (used[i] || &headers[i] == &sig_field || !headers[i].is(name)) continue;
      used[i] = 1;
      out += dkim_canon_header(headers[i].name, headers[i].value, relaxed);
      break;
    }
  }
  out += dkim_canon_header(sig_field.name, dkim_without_b(sig_field.value), relaxed, true);
  return out;
}

DkimVerdict verify_dkim_signature(const Message& msg, const HeaderField& sig_field, const DkimSignature& sig,
                                  const DkimKey& key, std::optional<std::string> (&canon_body)[2]) {
  auto verdict = [](AuthResult r, std::string why) { return DkimVerdict{r, std::move(why)}; };
  const bool sha1 = sig.algorithm == "rsa-sha1";
  const EVP_MD* md = sha1 ? EVP_sha1() : EVP_sha256();

  // The body hash first (6.1.3 step 4 allows either order; it is the cheap answer).
  bool body_relaxed = false;
  if (auto c = sig.tags.find("c"); c != sig.tags.end()) {
    const std::string cl = lower(c->second);
    const auto slash = cl.find('/');
    body_relaxed = slash != std::string::npos && cl.substr(slash + 1) == "relaxed";
  }
  std::optional<std::string>& body = canon_body[body_relaxed ? 1 : 0];
  if (!body) body = dkim_canon_body(msg.body(), body_relaxed);
  std::string_view hashed = *body;
  if (sig.body_length) {
    if (*sig.body_length > hashed.size()) return verdict(AuthResult::Fail, "body shorter than l=");
    hashed = hashed.substr(0, static_cast<std::size_t>(*sig.body_length));
  }
  const std::string bh = digest(md, hashed);
  if (bh.empty()) return verdict(AuthResult::TempError, "cannot hash the body");
  if (base64_decode_lenient(sig.tags.at("bh")) != bh) return verdict(AuthResult::Fail, "body hash mismatch");

  // The signature over the signed fields.
  return verify_dkim_data(dkim_signed_data(msg, sig_field, sig), sig.algorithm, sig.b, key);
}

DkimVerdict verify_dkim_data(std::string_view data, const std::string& algorithm, const std::string& b64,
                             const DkimKey& key) {
  auto verdict = [](AuthResult r, std::string why) { return DkimVerdict{r, std::move(why)}; };
  const std::string b = base64_decode_lenient(b64);
  const auto* der = reinterpret_cast<const unsigned char*>(key.der.data());
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey;
  if (key.type == "ed25519") {
    pkey.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, der, key.der.size()));
  } else {
    const unsigned char* q = der;
    pkey.reset(d2i_PUBKEY(nullptr, &q, static_cast<long>(key.der.size())));
  }
  if (!pkey) {
    ERR_clear_error();
    return verdict(AuthResult::PermError, "unusable key");
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx) return verdict(AuthResult::TempError, "out of memory");
  int ok = 0;
  if (key.type == "ed25519") {
    // RFC 8463 3: Ed25519 signs the SHA-256 hash of the data, not the data.
    const std::string h = digest(EVP_sha256(), data);
    ok = EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(b.data()), b.size(),
                          reinterpret_cast<const unsigned char*>(h.data()), h.size()) == 1;
  } else {
    const EVP_MD* md = algorithm == "rsa-sha1" ? EVP_sha1() : EVP_sha256();
    ok = EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pkey.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(b.data()), b.size(),
                          reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  }
  if (!ok) {
    ERR_clear_error();  // OpenSSL's reasons for a bad signature are of no use to the next caller
    return verdict(AuthResult::Fail, "signature did not verify");
  }
  return verdict(AuthResult::Pass, "");
}

}  // namespace mxgate
