// SpamAssassin's FreeMail plugin: is an address of this message at a free mail
// provider (freemail_domains in 20_freemail_domains.cf), and do the From, Reply-To
// and the addresses written in the body disagree about it? Spam written from a
// throwaway webmail account, or asking for replies to one, is the target.
//
// Follows Plugin/FreeMail.pm of SpamAssassin 4.0.1:
// - freemail_domains: exact domains, or patterns with * (any run of non-dots) and
//   ? (one character); freemail_welcomelist (alias freemail_whitelist): addresses
//   or domains never counted as freemail; role accounts (abuse@, postmaster@,
//   bounce-..., ...) never count either.
// - The body's addresses: mailto: links and addresses in the body text, except
//   those inside URLs, inside <>, or followed by a "wrote:"-like word; more than
//   freemail_max_body_emails (5) addresses or freemail_max_body_freemails (3)
//   freemails and the body is not used at all (freemail_skip_when_over_max 1).
// - check_freemail_replyto skips mail whose envelope sender looks like a list or
//   bounce address (freemail_skip_bulk_envfrom 1).
// Differences: the address pattern ends in any alphabetic TLD of 2-63 letters
// instead of SpamAssassin's list of valid TLDs; freemail_import_welcomelist_auth
// (default off) is not implemented.
#include <algorithm>
#include <cctype>
#include <set>
#include <unordered_set>

#include "base/text.hpp"
#include "filters/content/eval_tests.hpp"
#include "filters/content/relays.hpp"

namespace mxgate {

struct FreemailSettings {
  std::unordered_set<std::string> domains;      // exact, lower case
  std::vector<std::string> wildcard;            // lower case patterns with * and ?
  std::unordered_set<std::string> welcomelist;  // addresses or domains, lower case
  std::size_t max_body_emails = 5;
  std::size_t max_body_freemails = 3;
  bool skip_when_over_max = true;
  bool skip_bulk_envfrom = true;
  bool available() const { return !domains.empty() || !wildcard.empty(); }
};

std::set<std::string, std::less<>> freemail_setting_keys() {
  return {"freemail_domains",          "freemail_welcomelist",        "freemail_whitelist",
          "freemail_max_body_emails",  "freemail_max_body_freemails", "freemail_skip_when_over_max",
          "freemail_skip_bulk_envfrom"};
}

Result<std::shared_ptr<const FreemailSettings>> parse_freemail_settings(const std::vector<rules::Setting>& settings) {
  Result<std::shared_ptr<const FreemailSettings>> out;
  auto s = std::make_shared<FreemailSettings>();
  for (const auto& st : settings) {
    auto words = [&] {
      std::vector<std::string> w;
      std::string_view v = st.value;
      while (!v.empty()) {
        v = trim(v);
        std::size_t e = 0;
        while (e < v.size() && !is_space(v[e])) ++e;
        if (e) w.push_back(lower(v.substr(0, e)));
        v.remove_prefix(e);
      }
      return w;
    };
    auto number = [&](std::size_t& slot) {
      auto n = eval_number(st.value);
      if (!n || *n < 0 || *n > 1e6) out.errors.push_back({st.loc.file, st.loc.line, st.key, "expects a number"});
      else slot = static_cast<std::size_t>(*n);
    };
    auto flag = [&](bool& slot) {
      auto n = eval_number(st.value);
      if (!n) out.errors.push_back({st.loc.file, st.loc.line, st.key, "expects 0 or 1"});
      else slot = *n != 0;
    };
    if (st.key == "freemail_domains") {
      for (auto& d : words()) {
        const bool ok = std::all_of(d.begin(), d.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '*' || c == '?' || c == '-';
        });
        if (!ok) {
          out.errors.push_back({st.loc.file, st.loc.line, st.key, "invalid domain '" + d + "'"});
          continue;
        }
        if (d.find_first_of("*?") != std::string::npos) s->wildcard.push_back(d);
        else s->domains.insert(d);
      }
    } else if (st.key == "freemail_welcomelist" || st.key == "freemail_whitelist") {
      for (auto& d : words()) {
        // SpamAssassin wants a word character, '.' or '@', and a word character.
        bool ok = false;
        for (std::size_t i = 1; i + 1 < d.size() && !ok; ++i)
          ok = (d[i] == '.' || d[i] == '@') && (std::isalnum(static_cast<unsigned char>(d[i - 1])) || d[i - 1] == '_') &&
               (std::isalnum(static_cast<unsigned char>(d[i + 1])) || d[i + 1] == '_');
        if (!ok) out.errors.push_back({st.loc.file, st.loc.line, st.key, "invalid address or domain '" + d + "'"});
        else s->welcomelist.insert(d);
      }
    } else if (st.key == "freemail_max_body_emails") {
      number(s->max_body_emails);
    } else if (st.key == "freemail_max_body_freemails") {
      number(s->max_body_freemails);
    } else if (st.key == "freemail_skip_when_over_max") {
      flag(s->skip_when_over_max);
    } else if (st.key == "freemail_skip_bulk_envfrom") {
      flag(s->skip_bulk_envfrom);
    }
  }
  out.value = std::move(s);
  return out;
}

namespace {

// `*` any run of non-dots, `?` one character, the rest literal; whole domain.
bool glob_domain(std::string_view pat, std::string_view dom) {
  if (pat.empty()) return dom.empty();
  if (pat[0] == '*') {
    for (std::size_t k = 0; k <= dom.size(); ++k) {
      if (glob_domain(pat.substr(1), dom.substr(k))) return true;
      if (k < dom.size() && dom[k] == '.') break;
    }
    return false;
  }
  if (dom.empty()) return false;
  if (pat[0] != '?' && pat[0] != dom[0]) return false;
  return glob_domain(pat.substr(1), dom.substr(1));
}

bool local_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+/=?^_`{|}~-").find(c) != std::string_view::npos;
}

// The role and machine accounts FreeMail never counts (its $email_welcomelist).
bool role_account(std::string_view email) {
  std::size_t at = email.rfind('@');
  if (at == std::string_view::npos) return false;
  std::string_view l = email.substr(0, at);
  static const char* const kNames[] = {"abuse", "support", "sales", "info", "helpdesk", "contact", "kontakt",
                                       "postmaster", "hostmaster", "domainmaster"};
  for (const char* n : kNames)
    if (l == n) return true;
  if (l.starts_with("undisclosed") || l == "bounce-" || l == "bounced-") return true;
  auto hex = [](std::string_view x) {
    return std::all_of(x.begin(), x.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  };
  if (l.size() == 24 && l.starts_with("request-") && hex(l.substr(8))) return true;
  if (l.size() == 17 && l[8] == '.' && hex(l.substr(0, 8)) && hex(l.substr(9))) return true;
  if (l.size() == 36 && l[8] == '-' && l[13] == '-' && l[18] == '-' && l[23] == '-' && hex(l.substr(0, 8)) &&
      hex(l.substr(9, 4)) && hex(l.substr(14, 4)) && hex(l.substr(19, 4)) && hex(l.substr(24)))
    return true;
  // .+=.+=.+ (a forwarding address)
  std::size_t e1 = l.find('=', 1);
  if (e1 != std::string_view::npos && e1 + 1 < l.size()) {
    std::size_t e2 = l.find('=', e1 + 2);
    if (e2 != std::string_view::npos && e2 + 1 < l.size()) return true;
  }
  return false;
}

bool is_freemail(const FreemailSettings& s, const std::string& email) {
  if (email.empty()) return false;
  if (s.welcomelist.count(email)) return false;
  std::size_t at = email.rfind('@');
  std::string domain = at == std::string::npos ? email : email.substr(at + 1);
  if (s.welcomelist.count(domain)) return false;
  if (role_account(email)) return false;
  if (s.domains.count(domain)) return true;
  return std::any_of(s.wildcard.begin(), s.wildcard.end(), [&](const std::string& p) { return glob_domain(p, domain); });
}

// The addresses FreeMail's email pattern finds in text, with what surrounds them:
// local part (<= 64), '@', 1-4 labels and a TLD of letters.
struct Found {
  std::string email;
  std::size_t begin, end;
};
std::vector<Found> find_emails(std::string_view t, std::size_t limit) {
  std::vector<Found> out;
  for (std::size_t at = t.find('@'); at != std::string_view::npos && out.size() < limit; at = t.find('@', at + 1)) {
    std::size_t b = at;
    while (b > 0 && at - b < 64 && (local_char(t[b - 1]) || t[b - 1] == '.')) --b;
    while (b < at && t[b] == '.') ++b;  // no dot at the start
    if (b == at || t[at - 1] == '.') continue;
    if (b > 0 && local_char(t[b - 1])) continue;  // longer than 64: not an address start
    // Domain: labels of [a-z0-9-], not starting or ending with '-'.
    std::size_t e = at + 1, last_label = e, labels = 0;
    std::size_t end = 0;
    while (e < t.size()) {
      std::size_t s = e;
      while (e < t.size() && (std::isalnum(static_cast<unsigned char>(t[e])) || t[e] == '-')) ++e;
      if (e == s || t[s] == '-' || t[e - 1] == '-' || e - s > 63) break;
      last_label = s;
      ++labels;
      if (labels >= 2) {
        std::string_view tld = t.substr(last_label, e - last_label);
        if (tld.size() >= 2 &&
            std::all_of(tld.begin(), tld.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); }))
          end = e;
      }
      if (labels > 5 || e >= t.size() || t[e] != '.') break;
      ++e;
    }
    if (!end) continue;
    out.push_back({lower(t.substr(b, end - b)), b, end});
  }
  return out;
}

struct BodyFreemails {
  bool usable = true;              // false: too many addresses, the body is not used
  std::vector<std::string> found;  // the freemail addresses in the body, lower case
};

const BodyFreemails& body_freemails(EvalContext& ctx, const FreemailSettings& s) {
  return ctx.fact<BodyFreemails>([&] {
    BodyFreemails out;
    std::vector<std::string> emails;
    std::set<std::string> seen;
    for (const auto& u : ctx.view.urls) {
      if (!istarts_with(u, "mailto:")) continue;
      auto f = find_emails(std::string_view(u).substr(7), 1);
      if (f.empty() || f[0].begin != 0) continue;
      if (seen.insert(f[0].email).second) emails.push_back(f[0].email);
      if (emails.size() >= 20) break;
    }
    std::string_view body = ctx.texts.body.text;
    for (std::size_t p = 0; p < body.size() && emails.size() < 40;) {
      std::size_t nl = body.find('\n', p);
      std::string_view line = body.substr(p, nl == std::string_view::npos ? std::string_view::npos : nl - p);
      p = nl == std::string_view::npos ? body.size() : nl + 1;
      for (const auto& f : find_emails(line, 40)) {
        // Inside a URL (http://...@...): the token around it starts with http(s)://.
        std::size_t ws = line.rfind(' ', f.begin);
        std::string_view token = line.substr(ws == std::string_view::npos ? 0 : ws + 1);
        if (token.starts_with("<")) token.remove_prefix(1);
        if (istarts_with(token, "http://") || istarts_with(token, "https://")) continue;
        // Followed by '>' or by a "wrote:"-like word (not fax/tel/phone/mail), and
        // not a mailto: link: a quoted address, not one written to be used.
        const bool mailto = f.begin >= 7 && iequals(line.substr(f.begin - 7, 7), "mailto:");
        if (!mailto) {
          if (f.end < line.size() && line[f.end] == '>') continue;
          std::size_t k = f.end, sp = 0;
          while (k < line.size() && is_space(line[k]) && sp < 10) ++k, ++sp;
          if (sp >= 1) {
            std::size_t w = k;
            while (w < line.size() && std::isalpha(static_cast<unsigned char>(line[w]))) ++w;
            std::string word = lower(line.substr(k, w - k));
            const bool phone = word.starts_with("fax") || word.starts_with("facsi") || word.starts_with("tel") ||
                               word.starts_with("phone") || word.find("mail") != std::string::npos;
            if (w < line.size() && line[w] == ':' && word.size() >= 2 && word.size() <= 11 && !phone) continue;
          }
        }
        if (seen.insert(f.email).second) emails.push_back(f.email);
        if (emails.size() >= 40) break;
      }
    }
    std::size_t all = 0, fm = 0;
    for (const auto& e : emails) {
      if (++all == s.max_body_emails && s.skip_when_over_max) return BodyFreemails{false, {}};
      if (!is_freemail(s, e)) continue;
      if (++fm == s.max_body_freemails && s.skip_when_over_max) return BodyFreemails{false, {}};
      out.found.push_back(e);
    }
    return out;
  });
}

const FreemailSettings* settings_of(const EvalContext& ctx) {
  const FreemailSettings* s = ctx.settings.freemail.get();
  return s && s->available() ? s : nullptr;
}

std::vector<std::string> addrs(EvalContext& ctx, std::string_view field) {
  std::vector<std::string> out;
  if (iequals(field, "EnvelopeFrom")) {
    if (auto e = envelope_sender(&relay_path(ctx), ctx.view, ctx.msg, ctx.env))
      for (auto& a : addresses_in(*e)) out.push_back(lower(a));
    return out;
  }
  for (auto v : ctx.raw(field))
    for (auto& a : addresses_in(v)) out.push_back(lower(a));
  return out;
}


std::string check_regex_arg(const std::vector<std::string>& args, std::size_t index) {
  if (args.size() <= index) return "";
  std::string err;
  if (!EvalRegex::get(args[index], &err)) return err;
  return "";
}

bool bulk_envfrom(std::string_view envfrom) {
  std::string e = lower(envfrom);
  std::size_t at = e.rfind('@');
  if (at == std::string::npos) return false;
  std::string_view l = std::string_view(e).substr(0, at);
  if (l == "postmaster" || l == "hostmaster" || l == "domainmaster" || l == "double-bounce") return true;
  for (const char* p : {"sentto-", "owner-", "return-", "bounce-", "bounced-", "grbounce-", "grbounced-"})
    if (l.starts_with(p) && l.size() > std::string_view(p).size()) return true;
  for (const char* p : {"-request", "-bounce", "-bounces", "-admin", "-owner"})
    if (l.ends_with(p)) return true;
  // (do[sep])?no[sep]repl(y|ies) ending the local part; [sep] is Perl's [._-t],
  // which is '.' or the range '_'..'t'.
  auto sep = [](char c) { return c == '.' || (c >= '_' && c <= 't'); };
  for (std::string_view tail : {"reply", "replies"}) {
    if (!l.ends_with(tail)) continue;
    std::string_view h = l.substr(0, l.size() - tail.size());
    for (int with_sep = 0; with_sep < 2; ++with_sep) {
      std::string_view x = h;
      if (with_sep) {
        if (x.empty() || !sep(x.back())) continue;
        x.remove_suffix(1);
      }
      if (!x.ends_with("no")) continue;
      x.remove_suffix(2);
      auto boundary = [](std::string_view y) {
        return y.empty() || !(std::isalnum(static_cast<unsigned char>(y.back())) || y.back() == '_');
      };
      if (boundary(x)) return true;
      if (!x.empty() && sep(x.back()) && x.substr(0, x.size() - 1).ends_with("do") &&
          boundary(x.substr(0, x.size() - 3)))
        return true;
      if (x.ends_with("do") && boundary(x.substr(0, x.size() - 2))) return true;
    }
  }
  std::size_t eq = l.find('=');
  return eq != std::string_view::npos && eq > 0 && eq + 1 < l.size();
}

}  // namespace

void add_freemail_evals(EvalTable& t) {
  const std::vector<rules::Scope> head{rules::Scope::Header};
  t["check_freemail_from"] = {
      [](EvalContext& ctx, EvalArgs args) -> EvalResult {
        const FreemailSettings* s = settings_of(ctx);
        if (!s) return std::nullopt;
        auto re = args.empty() ? nullptr : EvalRegex::get(args[0]);
        if (!args.empty() && !re) return std::nullopt;
        for (const auto& e : all_from_addrs(ctx))
          if (is_freemail(*s, e) && (!re || re->search(e))) return e;
        return std::nullopt;
      },
      head, [](const std::vector<std::string>& a) { return a.size() > 1 ? "takes at most one regex" : check_regex_arg(a, 0); }};
  t["check_freemail_header"] = {
      [](EvalContext& ctx, EvalArgs args) -> EvalResult {
        const FreemailSettings* s = settings_of(ctx);
        if (!s || args.empty()) return std::nullopt;
        std::string field = args[0];
        if (field.size() > 5 && iequals(std::string_view(field).substr(field.size() - 5), ":addr"))
          field.resize(field.size() - 5);
        auto re = args.size() > 1 ? EvalRegex::get(args[1]) : nullptr;
        if (args.size() > 1 && !re) return std::nullopt;
        for (const auto& e : addrs(ctx, field))
          if (is_freemail(*s, e) && (!re || re->search(e))) return field + ": " + e;
        return std::nullopt;
      },
      head,
      [](const std::vector<std::string>& a) -> std::string {
        if (a.empty() || a.size() > 2) return "takes a header name and an optional regex";
        return check_regex_arg(a, 1);
      }};
  t["check_freemail_body"] = {
      [](EvalContext& ctx, EvalArgs args) -> EvalResult {
        const FreemailSettings* s = settings_of(ctx);
        if (!s) return std::nullopt;
        const BodyFreemails& b = body_freemails(ctx, *s);
        if (!b.usable || b.found.empty()) return std::nullopt;
        auto re = args.empty() ? nullptr : EvalRegex::get(args[0]);
        for (const auto& e : b.found)
          if (!re || re->search(e)) return "body: " + e;
        return std::nullopt;
      },
      head, [](const std::vector<std::string>& a) { return a.size() > 1 ? "takes at most one regex" : check_regex_arg(a, 0); }};
  t["check_freemail_replyto"] = {
      [](EvalContext& ctx, EvalArgs args) -> EvalResult {
        const FreemailSettings* s = settings_of(ctx);
        if (!s) return std::nullopt;
        const std::string what = args.empty() ? "replyto" : args[0];
        if (s->skip_bulk_envfrom) {
          auto env = addrs(ctx, "EnvelopeFrom");
          if (!env.empty() && bulk_envfrom(env[0])) return std::nullopt;
        }
        auto from = addrs(ctx, "From"), replyto = addrs(ctx, "Reply-To");
        auto any_fm = [&](const std::vector<std::string>& v) {
          return std::any_of(v.begin(), v.end(), [&](const std::string& e) { return is_freemail(*s, e); });
        };
        const bool from_fm = any_fm(from), replyto_fm = any_fm(replyto);
        bool from_not_in_replyto = true;
        for (const auto& f : from)
          if (std::find(replyto.begin(), replyto.end(), f) != replyto.end()) from_not_in_replyto = false;
        auto join = [](const std::vector<std::string>& v) {
          std::string o;
          for (const auto& e : v) o += (o.empty() ? "" : ",") + e;
          return o;
        };
        if (from_fm && replyto_fm && from_not_in_replyto) return join(from) + " -> " + join(replyto);
        if (what == "replyto") {
          if (!replyto_fm) return std::nullopt;
        } else {
          if (!replyto.empty() && !replyto_fm) return std::nullopt;
          if (!from_fm) return std::nullopt;
        }
        const BodyFreemails& b = body_freemails(ctx, *s);
        if (!b.usable) return std::nullopt;
        const auto& reply = what == "replyto" || replyto_fm ? replyto : from;
        for (const auto& be : b.found)
          for (const auto& re : reply)
            if (be != re) return re + ", " + be;
        return std::nullopt;
      },
      head,
      [](const std::vector<std::string>& a) -> std::string {
        if (a.size() > 1 || (a.size() == 1 && a[0] != "replyto" && a[0] != "reply")) return "takes 'replyto' or 'reply'";
        return "";
      }};
}

}  // namespace mxgate
