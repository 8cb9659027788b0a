#include "filters/dkim/dkim_filter.hpp"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <exception>

#include "filters/config_node.hpp"
#include "filters/dkim/dkim_signature.hpp"
#include "filters/dns/resolver.hpp"
#include "filters/filter_state.hpp"
#include "filters/dns/query_all.hpp"

// <opendkim/dkim.h> is C and spells bool as C99 _Bool.
extern "C" {
#define _Bool bool
#include <opendkim/dkim.h>
#undef _Bool
}

namespace mxgate {

namespace {

// libopendkim copies the key record into a buffer of this size (BUFRSZ + 1 in
// dkim.c); a longer record (RSA keys well above 4096 bits) cannot be handed over.
constexpr std::size_t kMaxKeyRecord = 1024;
// RFC 6008: b= prefixes of at least 8 characters, longer where needed to be unique.
constexpr std::size_t kMinBPrefix = 8;

// One DKIM-Signature field as we track it through DNS and libopendkim.
struct Item {
  DkimSignature sig;
  DkimOutcome out;
  std::string key_record;  // normalised record for libopendkim; "" -> no key handed out
  bool verify = false;     // take libopendkim's verdict for this one
  bool matched = false;    // paired with one of libopendkim's signatures
};

// libopendkim's view of one signature: its tags, to pair it with an Item.
struct SigTags {
  std::map<std::string, std::string> tags;
};

// Per-message context reached from libopendkim callbacks (dkim_set_user_context).
struct Run {
  std::vector<Item>* items;
  Item* find(const SigTags* t) {
    if (!t) return nullptr;
    for (auto& it : *items)
      if (it.verify && same_tag_values(it.sig.tags, t->tags)) return &it;
    return nullptr;
  }
};

// libopendkim callbacks. They must not throw into C.
void* sig_handle_new(void*) noexcept {
  try {
    return new SigTags;
  } catch (...) {
    return nullptr;
  }
}

void sig_handle_free(void*, void* user) noexcept { delete static_cast<SigTags*>(user); }

void sig_tag_value(void* user, dkim_param_t, const u_char* param, const u_char* value) noexcept {
  if (!user || !param) return;
  try {
    static_cast<SigTags*>(user)->tags[reinterpret_cast<const char*>(param)] =
        value ? reinterpret_cast<const char*>(value) : "";
  } catch (...) {
    // A missing tag makes the pairing fail; that signature then reads "not evaluated".
  }
}

// Hands libopendkim the prefetched key of this signature. NOTFOUND (not TRYAGAIN) for
// every signature we decided ourselves: TRYAGAIN would abort the whole message.
DKIM_CBSTAT key_lookup(DKIM* dkim, DKIM_SIGINFO* sig, u_char* buf, size_t buflen) noexcept {
  auto* run = static_cast<Run*>(dkim_get_user_context(dkim));
  if (!run || !buf) return DKIM_CBSTAT_NOTFOUND;
  Item* it = run->find(static_cast<const SigTags*>(dkim_sig_getcontext(sig)));
  if (!it || it->key_record.empty() || it->key_record.size() >= buflen) return DKIM_CBSTAT_NOTFOUND;
  std::memcpy(buf, it->key_record.data(), it->key_record.size());
  buf[it->key_record.size()] = '\0';
  return DKIM_CBSTAT_CONTINUE;
}

DKIM_LIB* make_lib() {
  DKIM_LIB* lib = dkim_init(nullptr, nullptr);
  if (!lib) {
    spdlog::error("dkim: dkim_init() failed");
    return nullptr;
  }
  // BADSIGHANDLES: an unparsable signature still gets a handle (else the message
  // reads as unsigned). Minimum key size is ours to enforce (min_rsa_bits).
  std::uint32_t flags = DKIM_LIBFLAGS_BADSIGHANDLES;
  std::uint64_t drift = kDkimClockDriftSeconds;
  u_int min_bits = 0;
  bool ok = dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags) == DKIM_STAT_OK &&
            dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_CLOCKDRIFT, &drift, sizeof drift) == DKIM_STAT_OK &&
            dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS, &min_bits, sizeof min_bits) == DKIM_STAT_OK &&
            dkim_set_key_lookup(lib, key_lookup) == DKIM_STAT_OK &&
            dkim_set_signature_handle(lib, sig_handle_new) == DKIM_STAT_OK &&
            dkim_set_signature_handle_free(lib, sig_handle_free) == DKIM_STAT_OK &&
            dkim_set_signature_tagvalues(lib, sig_tag_value) == DKIM_STAT_OK;
  if (!ok) {
    spdlog::error("dkim: setting libopendkim options failed");
    dkim_close(lib);
    return nullptr;
  }
  if (!dkim_libfeature(lib, DKIM_FEATURE_ED25519) || !dkim_libfeature(lib, DKIM_FEATURE_SHA256))
    spdlog::warn("dkim: libopendkim lacks ed25519 or sha256 support");
  return lib;
}

// One library handle for the process. libopendkim documents a DKIM_LIB as usable by
// several threads at once (docs/dkim_lib.html) with one DKIM handle per message, and
// its options never change after this; dkim_init() calls res_init(), which is not
// thread-safe, so it runs once (C++ guarantees a static's initialisation runs once).
struct LibHolder {
  DKIM_LIB* lib = make_lib();
  ~LibHolder() {
    if (lib) dkim_close(lib);
  }
};

DKIM_LIB* dkim_lib() {
  static LibHolder holder;
  return holder.lib;
}

struct DkimFree {
  void operator()(DKIM* d) const { dkim_free(d); }
};

void decide(Item& it, AuthResult r, std::string reason) {
  it.verify = false;
  it.out.result = r;
  it.out.reason = std::move(reason);
}

std::string stat_text(const char* call, DKIM_STAT st, DKIM* d) {
  std::string s = std::string(call) + ": ";
  const char* r = dkim_getresultstr(st);
  if (r) s += r;
  else s += "status " + std::to_string(st);
  const char* e = d ? dkim_geterror(d) : nullptr;
  if (e && *e) s += std::string(" (") + e + ")";
  return s;
}

// libopendkim's verdict on one signature (see OpenDKIM's own mapping in
// opendkim.c, which we follow except where the header comment says otherwise).
void take_verdict(Item& it, DKIM_SIGINFO* s) {
  unsigned flags = dkim_sig_getflags(s);
  int bh = dkim_sig_getbh(s);
  int err = dkim_sig_geterror(s);
  if ((flags & DKIM_SIGFLAG_PASSED) && bh == DKIM_SIGBH_MATCH && err == DKIM_SIGERROR_OK) {
    decide(it, AuthResult::Pass, "");
    return;
  }
  switch (err) {
    case DKIM_SIGERROR_BADSIG:
      decide(it, AuthResult::Fail, bh == DKIM_SIGBH_MISMATCH ? "body hash mismatch" : "signature did not verify");
      return;
    case DKIM_SIGERROR_TOOLARGE_L: decide(it, AuthResult::Fail, "body shorter than l="); return;
    case DKIM_SIGERROR_EXPIRED: decide(it, AuthResult::Fail, "signature expired"); return;
    case DKIM_SIGERROR_FUTURE: decide(it, AuthResult::Fail, "signature timestamp in the future"); return;
    case DKIM_SIGERROR_KEYREVOKED: decide(it, AuthResult::Fail, "key revoked"); return;
    case DKIM_SIGERROR_NOKEY: decide(it, AuthResult::PermError, "no key for signature"); return;
    case DKIM_SIGERROR_KEYFAIL: decide(it, AuthResult::TempError, "key lookup failed"); return;
    case DKIM_SIGERROR_SUBDOMAIN: decide(it, AuthResult::PermError, "key t=s forbids an i= subdomain"); return;
    case DKIM_SIGERROR_OK:
    case DKIM_SIGERROR_UNKNOWN:
      if (flags & DKIM_SIGFLAG_PROCESSED)
        decide(it, AuthResult::Fail, "signature did not verify");
      else
        decide(it, AuthResult::PermError, "signature not evaluated");
      return;
    default: {
      const char* e = dkim_sig_geterrorstr(err);
      decide(it, AuthResult::PermError, e ? e : "libopendkim error " + std::to_string(err));
      return;
    }
  }
}

// Feeds the message to libopendkim and takes its verdict for every Item marked
// verify. Synchronous CPU work: no DNS happens here (key_lookup only copies).
void run_libopendkim(const Message& msg, std::vector<Item>& items) {
  auto fail_all = [&](AuthResult r, const std::string& why) {
    spdlog::warn("dkim: {}", why);
    for (auto& it : items)
      if (it.verify) decide(it, r, why);
  };
  DKIM_LIB* lib = dkim_lib();
  if (!lib) return fail_all(AuthResult::TempError, "libopendkim unavailable");
  DKIM_STAT st = DKIM_STAT_OK;
  std::unique_ptr<DKIM, DkimFree> d(dkim_verify(lib, reinterpret_cast<const u_char*>("mxgate"), nullptr, &st));
  if (!d) return fail_all(AuthResult::TempError, stat_text("dkim_verify", st, nullptr));
  Run run{&items};
  st = dkim_set_user_context(d.get(), &run);
  if (st != DKIM_STAT_OK) return fail_all(AuthResult::TempError, stat_text("dkim_set_user_context", st, d.get()));
  // One field at a time, as received (folding kept, no final CRLF): dkim_chunk()
  // would re-split what Message already split.
  std::string field;
  for (const auto& h : msg.headers()) {
    field = h.name + ":" + h.value;
    st = dkim_header(d.get(), reinterpret_cast<u_char*>(field.data()), field.size());
    // SYNTAX: a field libopendkim will not take (bad name, malformed signature);
    // it keeps the others, as its own dkim_chunk() does with BADSIGHANDLES.
    if (st != DKIM_STAT_OK && st != DKIM_STAT_SYNTAX)
      return fail_all(AuthResult::TempError, stat_text("dkim_header", st, d.get()));
  }
  st = dkim_eoh(d.get());
  if (st == DKIM_STAT_OK) {
    std::string_view body = msg.body();
    if (!body.empty()) {
      // dkim_body() takes u_char* but only reads it (dkim_canon_bodychunk() in
      // dkim-canon.c; FIXCRLF, which would rewrite, is off): no copy of a large body.
      auto* p = reinterpret_cast<u_char*>(const_cast<char*>(body.data()));
      st = dkim_body(d.get(), p, body.size());
      if (st != DKIM_STAT_OK) return fail_all(AuthResult::TempError, stat_text("dkim_body", st, d.get()));
    }
    bool testkey = false;
    st = dkim_eom(d.get(), &testkey);
    // Per-signature outcomes are read below; these only summarise the "final" one.
    if (st != DKIM_STAT_OK && st != DKIM_STAT_BADSIG && st != DKIM_STAT_NOKEY && st != DKIM_STAT_REVOKED &&
        st != DKIM_STAT_CANTVRFY && st != DKIM_STAT_KEYFAIL && st != DKIM_STAT_NOSIG)
      return fail_all(AuthResult::TempError, stat_text("dkim_eom", st, d.get()));
  } else if (st != DKIM_STAT_NOSIG) {
    return fail_all(AuthResult::TempError, stat_text("dkim_eoh", st, d.get()));
  }
  DKIM_SIGINFO** sigs = nullptr;
  int nsigs = 0;
  if (st != DKIM_STAT_NOSIG) {
    st = dkim_getsiglist(d.get(), &sigs, &nsigs);
    if (st != DKIM_STAT_OK) return fail_all(AuthResult::TempError, stat_text("dkim_getsiglist", st, d.get()));
  }
  for (int i = 0; i < nsigs; ++i) {
    const auto* tags = static_cast<const SigTags*>(dkim_sig_getcontext(sigs[i]));
    if (!tags) continue;  // one libopendkim rejected early; never one we handed a key
    for (auto& it : items) {
      if (!it.verify || it.matched || !same_tag_values(it.sig.tags, tags->tags)) continue;
      it.matched = true;
      take_verdict(it, sigs[i]);
      break;
    }
  }
  for (auto& it : items)
    if (it.verify && !it.matched) decide(it, AuthResult::PermError, "signature not evaluated by libopendkim");
}

// Every distinct key name at once, as TXT questions.
std::vector<DnsQuestion> key_questions(const std::vector<std::string>& names) {
  std::vector<DnsQuestion> qs;
  for (const auto& n : names) qs.push_back({n, RrType::TXT});
  return qs;
}

// Picks the key record among the TXT strings at the key name. RFC 6376 3.6.2.2
// leaves several records undefined: records that are not key records are skipped,
// and more than one usable record is a permerror.
DkimKey choose_key(const std::vector<std::string>& records, const std::string& algorithm) {
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

std::string detail_of(const DkimOutcome& o) {
  std::string s = "d=" + (o.domain.empty() ? std::string("?") : o.domain) +
                  " s=" + (o.selector.empty() ? std::string("?") : o.selector);
  if (o.result != AuthResult::Pass) s += std::string(" ") + auth_result_name(o.result);
  if (!o.reason.empty()) s += " (" + o.reason + ")";
  return s;
}

}  // namespace

Task<std::vector<DkimOutcome>> verify_dkim(const Message& msg, DnsLookup* dns, const DkimConfig& cfg) {
  auto fields = msg.fields("DKIM-Signature");
  std::vector<Item> items(fields.size());
  std::vector<DkimOutcome> out;
  if (items.empty()) co_return out;

  DkimSyntaxOptions opt;
  opt.allow_sha1 = cfg.allow_sha1;
  opt.now = static_cast<std::uint64_t>(std::time(nullptr));
  for (std::size_t i = 0; i < fields.size(); ++i) {
    Item& it = items[i];
    it.sig = parse_dkim_signature(fields[i]->value, opt);
    it.out.domain = it.sig.domain;
    it.out.selector = it.sig.selector;
    it.out.identity = it.sig.identity;
    it.out.algorithm = it.sig.algorithm.size() <= 32 ? it.sig.algorithm : it.sig.algorithm.substr(0, 32);
    it.out.result = it.sig.result;
    it.out.reason = it.sig.reason;
    it.verify = it.sig.result == AuthResult::None;
    if (it.verify && i >= cfg.max_signatures)
      decide(it, AuthResult::Policy, "not verified: more than " + std::to_string(cfg.max_signatures) + " signatures");
  }
  // RFC 6008: a b= prefix long enough to tell the signatures apart. Only among the
  // signatures we verify (at most max_signatures), so that thousands of hostile
  // DKIM-Signature fields cost linear, not quadratic, work; the rest get the minimum.
  const std::size_t compared = std::min<std::size_t>(items.size(), cfg.max_signatures);
  for (std::size_t i = 0; i < items.size(); ++i) {
    Item& it = items[i];
    const std::string& b = it.sig.b;
    std::size_t n = std::min(b.size(), kMinBPrefix);
    for (bool unique = i >= compared; !unique && n < b.size();) {
      unique = true;
      for (std::size_t j = 0; j < compared; ++j) {
        const std::string& other = items[j].sig.b;
        if (j != i && other != b && other.compare(0, n, b, 0, n) == 0) unique = false;
      }
      if (!unique) ++n;
    }
    it.out.b_prefix = b.substr(0, n);
  }

  // One query per distinct key name, all at once.
  std::vector<std::string> names;
  std::vector<std::size_t> name_of(items.size(), 0);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!items[i].verify) continue;
    std::string k = items[i].sig.key_name();
    auto pos = std::find(names.begin(), names.end(), k);
    name_of[i] = static_cast<std::size_t>(pos - names.begin());
    if (pos == names.end()) names.push_back(std::move(k));
  }
  if (names.empty()) {
    // Nothing left to look up.
  } else if (!dns) {
    for (auto& it : items)
      if (it.verify) decide(it, AuthResult::TempError, "no resolver");
  } else {
    std::vector<DnsResult> answers = co_await query_all(*dns, key_questions(names));
    for (std::size_t i = 0; i < items.size(); ++i) {
      Item& it = items[i];
      if (!it.verify) continue;
      const DnsResult& r = answers[name_of[i]];
      const std::string& name = names[name_of[i]];
      if (r.temporary()) {
        decide(it, AuthResult::TempError, std::string("key lookup ") + dns_status_name(r.status) + " for " + name);
        continue;
      }
      if (r.status != DnsStatus::Answer || r.records.empty()) {  // RFC 6376 6.1.2 step 3
        decide(it, AuthResult::PermError, std::string("no key for signature (") + dns_status_name(r.status) + ")");
        continue;
      }
      DkimKey key = choose_key(r.records, it.sig.algorithm);
      it.out.key_bits = key.bits;
      if (key.result != AuthResult::None) {
        decide(it, key.result, key.reason);
      } else if (key.type == "rsa" && key.bits < cfg.min_rsa_bits) {
        decide(it, AuthResult::Policy, "RSA key too small (" + std::to_string(key.bits) + " bits)");  // RFC 8301 3.2
      } else if (key.record.size() >= kMaxKeyRecord) {
        decide(it, AuthResult::PermError, "key record too long");
      } else {
        it.key_record = std::move(key.record);
      }
    }
  }
  bool any = false;
  for (const auto& it : items) any = any || it.verify;
  if (any) run_libopendkim(msg, items);

  out.reserve(items.size());
  for (auto& it : items) out.push_back(std::move(it.out));
  co_return out;
}

std::vector<Symbol> dkim_symbols(const std::vector<DkimOutcome>& outcomes, const Message& msg,
                                 const DkimConfig& cfg) {
  std::vector<Symbol> out;
  auto score = [&](const char* s) {
    auto it = cfg.scores.find(s);
    return it == cfg.scores.end() ? 0.0 : it->second;
  };
  if (outcomes.empty()) {
    out.push_back({"DKIM_NONE", score("DKIM_NONE"), ""});
    return out;
  }
  // Author-domain alignment for our own symbol only; DMARC does the organisational
  // domain comparison itself. Relaxed: d= is the From domain or one of its parents.
  std::string from;
  if (msg.count("From") == 1) from = from_header_domain(msg.first("From")->unfolded());
  std::string valid, valid_au, invalid, temperror;
  auto add = [](std::string& list, const std::string& d) { list += (list.empty() ? "" : ", ") + d; };
  for (const auto& o : outcomes) {
    switch (o.result) {
      case AuthResult::Pass:
        add(valid, detail_of(o));
        if (!from.empty() && domain_within(from, o.domain)) add(valid_au, detail_of(o));
        break;
      case AuthResult::TempError: add(temperror, detail_of(o)); break;
      default: add(invalid, detail_of(o)); break;
    }
  }
  if (!valid.empty()) out.push_back({"DKIM_VALID", score("DKIM_VALID"), valid});
  if (!valid_au.empty()) out.push_back({"DKIM_VALID_AU", score("DKIM_VALID_AU"), valid_au});
  if (!invalid.empty()) out.push_back({"DKIM_INVALID", score("DKIM_INVALID"), invalid});
  if (!temperror.empty()) out.push_back({"DKIM_TEMPERROR", score("DKIM_TEMPERROR"), temperror});
  return out;
}

Task<Verdict> DkimFilter::on_end_of_data(const Envelope& env, const Message& msg) {
  // Keep the resolver alive across the awaits, whatever happens to the session.
  std::shared_ptr<DnsLookup> dns = env.state ? env.state->dns : nullptr;
  std::shared_ptr<const DkimConfig> cfg = cfg_;
  const std::uint64_t generation = env.state ? env.state->auth.generation : 0;
  std::vector<DkimOutcome> outcomes = co_await verify_dkim(msg, dns.get(), *cfg);
  Verdict v;
  v.symbols = dkim_symbols(outcomes, msg, *cfg);
  if (env.state && env.state->auth.generation == generation) {  // not a later transaction's
    env.state->auth.dkim = std::move(outcomes);
    env.state->auth.dkim_checked = true;
  }
  co_return v;
}

Task<void> DkimFilter::on_headers(const Envelope& env, const Message& headers) {
  std::shared_ptr<DnsLookup> dns = env.state ? env.state->dns : nullptr;
  if (!dns) co_return;
  DkimSyntaxOptions opt;
  opt.allow_sha1 = cfg_->allow_sha1;
  opt.now = static_cast<std::uint64_t>(std::time(nullptr));
  std::vector<std::string> names;
  for (const HeaderField* f : headers.fields("DKIM-Signature")) {
    if (names.size() >= cfg_->max_signatures) break;
    DkimSignature sig = parse_dkim_signature(f->value, opt);
    if (sig.result != AuthResult::None) continue;  // decided without a key: never looked up
    std::string k = sig.key_name();
    if (std::find(names.begin(), names.end(), k) == names.end()) names.push_back(std::move(k));
  }
  if (!names.empty()) (void)co_await query_all(*dns, key_questions(names));
}

void read_dkim_config(ConfigMap& m, DkimConfig& out) {
  m.get("allow_sha1", out.allow_sha1);
  m.get_uint("min_rsa_bits", out.min_rsa_bits, 512, 16384);
  m.get_uint("max_signatures", out.max_signatures, 1, 100);
  YAML::Node scores = m.node("scores");
  if (!scores.IsDefined() || scores.IsNull()) return;
  if (!scores.IsMap()) {
    m.error("scores", "expected a mapping of SYMBOL: score");
    return;
  }
  for (const auto& kv : scores) {
    auto sym = kv.first.as<std::string>("");
    if (!out.scores.count(sym)) {
      m.error_at(kv.first, "scores." + sym, "unknown symbol for this filter");
      continue;
    }
    try {
      out.scores[sym] = kv.second.as<double>();
    } catch (const YAML::Exception&) {
      m.error_at(kv.second, "scores." + sym, "expected a number");
    }
  }
}

FilterPtr make_dkim_filter(ConfigMap& cfg) {
  auto c = std::make_shared<DkimConfig>();
  read_dkim_config(cfg, *c);
  return std::make_shared<DkimFilter>(std::move(c));
}

}  // namespace mxgate
