// SpamAssassin's RelayEval plugin (Plugin/RelayEval.pm of 4.0.1) and the trust-path
// settings of its Conf.pm: every function reads the relays of relays.hpp, computed
// once per message.
//
// Where we differ:
// - check_for_illegal_ip: retired in SpamAssassin (always false); registered so that
//   old rules load, never hits, as there.
// - trusted_networks and friends: "a.b.c.d-e.f.g.h" ranges (Net::CIDR::Lite) and
//   dotted netmasks ("/255.255.255.0") are refused with an error, not accepted.
#include <algorithm>
#include <sstream>

#include "base/text.hpp"
#include "filters/content/eval_tests.hpp"
#include "filters/content/relays.hpp"

namespace mxgate {
namespace {

// SpamAssassin's NetSet::add_cidr: "!" excludes, [brackets] and %scope dropped,
// "10.1." or "10.1" mean 10.1.0.0/16.
std::string parse_net(std::string_view word, NetList::Entry& out) {
  std::string w(word);
  out.exclude = false;
  if (w.starts_with("!")) {
    out.exclude = true;
    w.erase(0, 1);
  }
  std::string mask;
  if (auto k = w.find('/'); k != std::string::npos) {
    mask = w.substr(k + 1);
    w.erase(k);
  }
  if (w.size() >= 2 && w.front() == '[' && w.back() == ']') w = w.substr(1, w.size() - 2);
  if (auto k = w.find('%'); k != std::string::npos) w.erase(k);
  if (!w.empty() && std::isdigit(static_cast<unsigned char>(w[0])) && w.find(':') == std::string::npos) {
    if (w.back() == '.') w.pop_back();
    std::vector<std::string> parts;
    std::stringstream ss(w);
    for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
    if (parts.empty() || parts.size() > 4) return "invalid IPv4 address '" + std::string(word) + "'";
    for (auto& p : parts) {
      if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos || std::stoi(p) > 255)
        return "invalid IPv4 address '" + std::string(word) + "'";
      p = std::to_string(std::stoi(p));  // leading zeroes, as SpamAssassin strips them
    }
    if (mask.empty()) mask = std::to_string(8 * parts.size());
    while (parts.size() < 4) parts.push_back("0");
    w = parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[3];
  }
  if (!Cidr::parse(mask.empty() ? w : w + "/" + mask, out.net))
    return "invalid network '" + std::string(word) + "' (expected an address, a.b.c.d/len or a.b.c.)";
  return "";
}

void add_loopback(NetList& l) {
  for (const char* net : {"127.0.0.0/8", "::1"}) {
    NetList::Entry e;
    Cidr::parse(net, e.net);
    l.entries.push_back(e);
  }
}

const RelayPath& path(EvalContext& ctx) { return relay_path(ctx); }

EvalFunction simple(std::function<EvalResult(const RelayPath&)> test) {
  // RelayEval registers these for any rule type ("type does not matter"); the
  // stock rules call them from `header`.
  return {[test = std::move(test)](EvalContext& ctx, EvalArgs) { return test(path(ctx)); },
          {rules::Scope::Header, rules::Scope::Body, rules::Scope::RawBody, rules::Scope::Full, rules::Scope::Uri},
          [](const std::vector<std::string>& args) { return args.empty() ? "" : "takes no arguments"; }};
}

bool is_ipv4(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (i <= s.size()) {
    std::size_t j = s.find('.', i);
    if (j == std::string_view::npos) j = s.size();
    std::string_view p = s.substr(i, j - i);
    if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string_view::npos) return false;
    // SpamAssassin's IPV4_ADDRESS: no leading zero ("01" is not an octet).
    if (p.size() > 1 && p[0] == '0') return false;
    if (std::stoi(std::string(p)) > 255) return false;
    ++parts;
    i = j + 1;
    if (j == s.size()) break;
  }
  return parts == 4;
}

// IS_IP_PRIVATE of SpamAssassin for dotted IPv4 text: only the leading octets count.
bool private_v4(std::string_view ip) {
  auto octet = [&](int n) {
    std::size_t i = 0;
    for (int k = 0; k < n; ++k) i = ip.find('.', i) + 1;
    return std::atoi(std::string(ip.substr(i, ip.find('.', i) - i)).c_str());
  };
  int a = octet(0), b = octet(1);
  return a == 10 || a == 127 || (a == 169 && b == 254) || (a == 172 && b >= 16 && b <= 31) ||
         (a == 192 && b == 168) || (a == 100 && b >= 64 && b <= 127);
}

// RelayEval's hostname_to_domain: the last two labels (three when the top one is
// short and not ie/fr/de); IP addresses and names without letters unchanged.
std::string hostname_to_domain(const std::string& host) {
  if (std::none_of(host.begin(), host.end(), [](char ch) { return std::isalpha(static_cast<unsigned char>(ch)); }))
    return host;
  std::vector<std::string> parts;
  std::stringstream ss(host);
  for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
  // Perl's split drops trailing empty fields.
  while (!parts.empty() && parts.back().empty()) parts.pop_back();
  auto tail = [&](std::size_t n) {
    std::string out;
    for (std::size_t i = parts.size() - n; i < parts.size(); ++i) out += (out.empty() ? "" : ".") + parts[i];
    return out;
  };
  if (parts.size() > 1) {
    const std::string& top = parts.back();
    // /(?:\S{3,}|ie|fr|de)/ unanchored: any three non-space characters, or ie/fr/de anywhere.
    bool long_top = top.size() >= 3 || top.find("ie") != std::string::npos || top.find("fr") != std::string::npos ||
                    top.find("de") != std::string::npos;
    if (long_top) return tail(2);
  }
  if (parts.size() > 2) return tail(3);
  return host;
}

// /^\w+(?:[\w.-]+\.)+\w+$/: a dotted host name.
bool dotted_host(const std::string& s) {
  auto word = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; };
  if (s.size() < 3 || !word(s.front()) || !word(s.back())) return false;
  if (!std::all_of(s.begin(), s.end(), [&](char ch) { return word(ch) || ch == '.' || ch == '-'; })) return false;
  // \w+ then at least one "[\w.-]+." then \w+ to the end: the part after the last
  // dot is all word characters, and that dot has at least two characters before it.
  std::size_t last_dot = s.rfind('.');
  if (last_dot == std::string::npos || last_dot < 2) return false;
  for (std::size_t i = last_dot + 1; i < s.size(); ++i)
    if (!word(s[i])) return false;
  return true;
}

struct Forged {
  int mismatch_from = 0, mismatch_ip_helo = 0;
  std::string detail;
};

Forged check_forged(const RelayPath& p) {
  Forged out;
  const auto& rs = p.untrusted;
  std::vector<std::optional<std::string>> from(rs.size()), helo(rs.size()), by(rs.size());
  for (std::size_t i = 0; i < rs.size(); ++i) {
    by[i] = hostname_to_domain(lower(rs[i].by));
    from[i] = hostname_to_domain(lower(rs[i].rdns));
    helo[i] = hostname_to_domain(lower(rs[i].helo));
  }
  for (std::size_t i = 0; i < rs.size(); ++i) {
    if (!by[i] || !dotted_host(*by[i])) continue;
    if (from[i] && (*from[i] == "localhost" || *from[i] == "localhost.localdomain") && rs[i].ip == "127.0.0.1")
      from[i].reset();
    const std::string& hlo = *helo[i];
    const std::string& fip = rs[i].ip;
    auto classb = [](const std::string& ip) {
      std::size_t d = ip.find('.');
      return ip.substr(0, ip.find('.', d + 1));
    };
    auto dotted_quad = [](const std::string& s) {
      int dots = 0;
      for (char ch : s) {
        if (ch == '.') ++dots;
        else if (!std::isdigit(static_cast<unsigned char>(ch))) return false;
      }
      return dots == 3 && s.front() != '.' && s.back() != '.' && s.find("..") == std::string::npos;
    };
    if (dotted_quad(hlo) && dotted_quad(fip) && fip != hlo && classb(hlo) != classb(fip) &&
        !private_v4(hlo)) {  // IS_IP_PRIVATE reads only the first octets
      ++out.mismatch_ip_helo;
      out.detail = "HELO " + hlo + " from " + fip;
    }
    // Perl's $from[$i-1] for i = 0 is $from[-1], the last element; the `$i > 0`
    // test after it makes that harmless.
    if (i > 0 && from[i - 1] && dotted_host(*from[i - 1]) && *by[i] != *from[i - 1] &&
        !(*by[i] == "msn.com" && *from[i - 1] == "hotmail.com")) {
      ++out.mismatch_from;
      out.detail = "by " + *by[i] + " != previous rdns " + *from[i - 1];
    }
  }
  return out;
}

}  // namespace

const RelayPath& relay_path(EvalContext& ctx) {
  return ctx.fact<RelayPath>([&] { return analyse_relays(ctx.settings.relay.get(), ctx.view, ctx.msg, ctx.env); });
}

std::set<std::string, std::less<>> relay_setting_keys() {
  return {"trusted_networks",       "clear_trusted_networks",  "internal_networks",
          "clear_internal_networks", "msa_networks",            "clear_msa_networks",
          "originating_ip_headers", "clear_originating_ip_headers"};
}

Result<std::shared_ptr<const RelaySettings>> parse_relay_settings(const std::vector<rules::Setting>& settings) {
  Result<std::shared_ptr<const RelaySettings>> r;
  auto s = std::make_shared<RelaySettings>();
  for (NetList* l : {&s->trusted, &s->internal, &s->msa}) add_loopback(*l);
  bool origin_seen = false;
  for (const auto& st : settings) {
    auto words = [&] {
      std::vector<std::string> out;
      std::stringstream ss(st.value);
      for (std::string w; ss >> w;) out.push_back(w);
      return out;
    }();
    NetList* list = st.key == "trusted_networks"    ? &s->trusted
                    : st.key == "internal_networks" ? &s->internal
                    : st.key == "msa_networks"      ? &s->msa
                                                    : nullptr;
    if (list) {
      if (words.empty()) r.errors.push_back({st.loc.file, st.loc.line, st.key, "needs at least one network"});
      for (const auto& w : words) {
        NetList::Entry e;
        if (std::string err = parse_net(w, e); !err.empty()) {
          r.errors.push_back({st.loc.file, st.loc.line, st.key, err});
          continue;
        }
        list->entries.push_back(e);
      }
      if (list == &s->trusted) s->trusted_configured = true;
      if (list == &s->internal) s->internal_configured = true;
    } else if (st.key.starts_with("clear_") && st.key.ends_with("_networks")) {
      if (!words.empty()) r.errors.push_back({st.loc.file, st.loc.line, st.key, "takes no value"});
      NetList& l = st.key == "clear_trusted_networks" ? s->trusted
                   : st.key == "clear_internal_networks" ? s->internal
                                                         : s->msa;
      l.entries.clear();
      add_loopback(l);
      if (&l == &s->trusted) s->trusted_configured = false;
      if (&l == &s->internal) s->internal_configured = false;
    } else if (st.key == "clear_originating_ip_headers") {
      origin_seen = true;
      s->originating_ip_headers.clear();
    } else if (st.key == "originating_ip_headers") {
      if (!origin_seen) s->originating_ip_headers.clear();  // the rule files' list replaces our default
      origin_seen = true;
      for (const auto& w : words) {
        bool dup = std::any_of(s->originating_ip_headers.begin(), s->originating_ip_headers.end(),
                               [&](const std::string& h) { return iequals(h, w); });
        if (!dup) s->originating_ip_headers.push_back(w);
      }
    }
  }
  r.value = std::move(s);
  return r;
}

void add_relay_evals(EvalTable& t) {
  t["check_all_trusted"] = simple([](const RelayPath& p) -> EvalResult {
    if (p.trusted.empty() || !p.untrusted.empty() || p.unparseable) return std::nullopt;
    return std::to_string(p.trusted.size()) + " trusted relays, none untrusted";
  });
  t["check_no_relays"] = simple([](const RelayPath& p) -> EvalResult {
    if (!p.trusted.empty() || !p.untrusted.empty() || p.unparseable) return std::nullopt;
    return std::string("no Received relays");
  });
  t["check_relays_unparseable"] = simple([](const RelayPath& p) -> EvalResult {
    if (!p.unparseable) return std::nullopt;
    return std::to_string(p.unparseable) + " unparseable Received headers";
  });
  t["check_for_illegal_ip"] = simple([](const RelayPath&) -> EvalResult { return std::nullopt; });
  t["check_for_numeric_helo"] = simple([](const RelayPath& p) -> EvalResult {
    // SpamAssassin matches /\bhelo=(IPv4)(?=[\000-\040,;\[()<>]|\z)/i on the
    // untrusted string: the HELO field of an untrusted relay is a public IPv4 literal
    // (the bracketed form reads "!1.2.3.4!" there and so does not count).
    for (const auto& r : p.untrusted) {
      std::string_view h = r.helo;
      std::size_t n = 0;
      while (n < h.size() && (std::isdigit(static_cast<unsigned char>(h[n])) || h[n] == '.')) ++n;
      // The whole run of digits and dots must be the address ("1.2.3.4.5" is not),
      // ending the field or followed by one of , ; ( ) < > [ or a control character.
      std::string_view ip = h.substr(0, n);
      bool sep_ok = n == h.size() || std::string_view(",;[()<>").find(h[n]) != std::string_view::npos ||
                    static_cast<unsigned char>(h[n]) <= 0x20;
      if (is_ipv4(ip) && sep_ok && !private_v4(ip)) return "HELO " + std::string(ip);
    }
    return std::nullopt;
  });
  t["helo_ip_mismatch"] = simple([](const RelayPath& p) -> EvalResult {
    for (const auto& r : p.untrusted) {
      if (!is_ipv4(r.helo) || private_v4(r.helo)) continue;
      if (!is_ipv4(r.ip) || private_v4(r.ip) || r.helo == r.ip) continue;
      // A different address in the same /24 is fine.
      std::string net24 = r.helo.substr(0, r.helo.rfind('.') + 1);
      if (r.ip.rfind(net24, 0) != 0) return "HELO " + r.helo + " from " + r.ip;
    }
    return std::nullopt;
  });
  t["check_for_sender_no_reverse"] = simple([](const RelayPath& p) -> EvalResult {
    // The oldest untrusted relay; Perl's test is that its rdns *has* a dot (despite
    // the name), and the address is public.
    if (p.untrusted.empty()) return std::nullopt;
    const Relay& r = p.untrusted.back();
    if (r.rdns.find('.') == std::string::npos || r.ip_private) return std::nullopt;
    return "first relay " + r.ip + " rdns=" + r.rdns;
  });
  t["check_for_no_rdns_dotcom_helo"] = simple([](const RelayPath& p) -> EvalResult {
    // RelayEval resets its flag for every public untrusted relay with a HELO, so only
    // the last (oldest) such relay decides.
    static const char* const kDomains[] = {"lycos.com", "lycos.co.uk", "hotmail.com", "localhost.com", "excite.com",
                                           "caramail.com", "cs.com", "aol.com", "msn.com", "yahoo.com",
                                           "drizzle.com"};
    EvalResult out;
    for (const auto& r : p.untrusted) {
      if (r.ip_private) continue;
      out.reset();
      std::string h = lower(r.helo);
      bool dotcom = std::any_of(std::begin(kDomains), std::end(kDomains), [&](const char* d) {
        std::string_view dv(d);
        return h == dv || (h.size() > dv.size() && h.ends_with(dv) && h[h.size() - dv.size() - 1] == '.');
      });
      if (dotcom && r.no_reverse_dns) out = "HELO " + r.helo + " from " + r.ip + " without rDNS";
    }
    return out;
  });
  t["check_for_forged_received_trail"] = simple([](const RelayPath& p) -> EvalResult {
    Forged f = check_forged(p);
    if (f.mismatch_from <= 1) return std::nullopt;
    return std::to_string(f.mismatch_from) + " mismatches, " + f.detail;
  });
  t["check_for_forged_received_ip_helo"] = simple([](const RelayPath& p) -> EvalResult {
    Forged f = check_forged(p);
    if (f.mismatch_ip_helo <= 0) return std::nullopt;
    return f.detail;
  });
}

}  // namespace mxgate
