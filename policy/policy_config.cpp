#include "policy/policy_config.hpp"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "filters/config_node.hpp"
#include "base/text.hpp"

namespace mxgate {

const char* policy_action_name(PolicyAction a) {
  switch (a) {
    case PolicyAction::None: return "accept";
    case PolicyAction::Tag: return "tag";
    case PolicyAction::Quarantine: return "quarantine";
    case PolicyAction::Tempfail: return "tempfail";
    case PolicyAction::Reject: return "reject";
  }
  return "accept";
}

bool AccessList::empty() const {
  return client_ip.empty() && helo.empty() && sender.empty() && from_domain.empty() && rcpt.empty();
}

namespace {

// "example.org" matches itself; ".example.org" matches names below it.
bool domain_entry_matches(const std::string& entry, const std::string& domain) {
  if (entry.empty() || domain.empty()) return false;
  if (entry[0] == '.') return domain.size() > entry.size() && domain.ends_with(entry);
  return domain == entry;
}

}  // namespace

std::string match_ip(const std::vector<Cidr>& list, const std::string& ip) {
  if (ip.empty()) return {};
  for (const auto& net : list)
    if (net.contains(ip)) return net.text;
  return {};
}

std::string match_domain(const std::vector<std::string>& list, std::string_view domain) {
  std::string d = lower(domain);
  while (!d.empty() && d.back() == '.') d.pop_back();
  for (const auto& e : list)
    if (domain_entry_matches(e, d)) return e;
  return {};
}

std::string match_address(const std::vector<std::string>& list, std::string_view address) {
  if (address.empty()) {
    for (const auto& e : list)
      if (e == "<>") return e;
    return {};
  }
  std::string a = lower(address);
  auto at = a.rfind('@');
  std::string domain = at == std::string::npos ? std::string() : a.substr(at + 1);
  for (const auto& e : list) {
    if (e.find('@') != std::string::npos) {
      if (e == a) return e;
    } else if (domain_entry_matches(e, domain)) {
      return e;
    }
  }
  return {};
}

const DomainPolicy& PolicyConfig::for_domain(std::string_view domain) const {
  std::string d = lower(domain);
  while (!d.empty() && d.back() == '.') d.pop_back();
  if (d.empty()) return global;
  for (const auto& p : domains)
    if (p.domain == d) return p;
  // The nearest ".parent" key: try each parent from the closest up.
  for (std::size_t dot = d.find('.'); dot != std::string::npos; dot = d.find('.', dot + 1)) {
    std::string_view parent = std::string_view(d).substr(dot);
    for (const auto& p : domains)
      if (p.domain == parent) return p;
  }
  return global;
}

namespace {

bool valid_domain_entry(std::string_view e) {
  if (e.empty() || e.size() > 254) return false;
  if (e[0] == '.') e.remove_prefix(1);
  if (e.empty() || e.front() == '.' || e.back() == '.' || e.find("..") != std::string_view::npos) return false;
  for (char c : e) {
    unsigned char u = static_cast<unsigned char>(c);
    // Letters, digits, hyphens, dots; 8-bit for internationalised (UTF-8) names.
    if (!(std::isalnum(u) || c == '-' || c == '.' || u >= 0x80)) return false;
  }
  return true;
}

bool valid_address_entry(std::string_view e) {
  if (e == "<>") return true;
  auto at = e.rfind('@');
  if (at == std::string_view::npos) return valid_domain_entry(e);
  if (at == 0) return false;
  std::string_view domain = e.substr(at + 1);
  return !domain.empty() && domain[0] != '.' && valid_domain_entry(domain);
}

// A list of strings under `key`, each checked by `valid`, with the item's own line
// in errors.
std::vector<std::string> read_entries(ConfigMap& m, const std::string& key, bool (*valid)(std::string_view),
                                      const char* what) {
  std::vector<std::string> out;
  YAML::Node n = m.node(key);
  if (!n.IsDefined() || n.IsNull()) return out;
  auto take = [&](const YAML::Node& item) {
    if (!item.IsScalar()) {
      m.error_at(item, key, std::string("expected a list of ") + what);
      return;
    }
    std::string v = lower(item.Scalar());
    if (!valid(v)) {
      m.error_at(item, key, "\"" + item.Scalar() + "\" is not " + what);
      return;
    }
    out.push_back(std::move(v));
  };
  if (n.IsSequence()) {
    for (const auto& item : n) take(item);
  } else {
    take(n);
  }
  return out;
}

void read_access(ConfigMap& parent, const std::string& key, AccessList& list) {
  list.path = parent.path_of(key);
  auto m = parent.child(key);
  {
    YAML::Node n = m->node("client_ip");
    if (n.IsDefined() && !n.IsNull()) {
      auto take = [&](const YAML::Node& item) {
        Cidr c;
        if (!item.IsScalar() || !Cidr::parse(item.Scalar(), c)) {
          m->error_at(item, "client_ip",
                      "\"" + (item.IsScalar() ? item.Scalar() : std::string("?")) +
                          "\" is not an IP address or network (e.g. 192.0.2.0/24, 2001:db8::/32)");
          return;
        }
        list.client_ip.push_back(std::move(c));
      };
      if (n.IsSequence()) {
        for (const auto& item : n) take(item);
      } else {
        take(n);
      }
    }
  }
  list.helo = read_entries(*m, "helo", valid_domain_entry, "a host name or .domain");
  list.sender = read_entries(*m, "sender", valid_address_entry, "an address, domain, .domain or <>");
  if (key == "allow") {
    // The null sender has no domain SPF could vouch for (RFC 7208 2.4 checks the
    // HELO name instead): an allow entry for it would let anyone in.
    for (const auto& e : list.sender)
      if (e == "<>") m->error("sender", "<> cannot be allowed: the null sender cannot be authenticated (allow the client_ip instead)");
  }
  list.from_domain = read_entries(*m, "from_domain", valid_domain_entry, "a domain or .domain");
  list.rcpt = read_entries(*m, "rcpt", valid_address_entry, "an address, domain or .domain");
}

void read_action(ConfigMap& m, const std::string& key, PolicyAction& out, bool quarantine_available) {
  std::string v = policy_action_name(out);
  if (out == PolicyAction::None) v = "none";
  m.get_enum(key, v, {"none", "tag", "quarantine", "tempfail", "reject"});
  if (v == "none") out = PolicyAction::None;
  else if (v == "tag") out = PolicyAction::Tag;
  else if (v == "tempfail") out = PolicyAction::Tempfail;
  else if (v == "reject") out = PolicyAction::Reject;
  else if (v == "quarantine") {
    if (!quarantine_available && m.has(key))
      m.error(key, "quarantine needs a quarantine store, and none is configured");
    else out = PolicyAction::Quarantine;
  }
}

void read_threshold(ConfigMap& m, const std::string& key, std::optional<double>& out) {
  YAML::Node n = m.node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  if (!n.IsScalar()) {
    m.error(key, "expected a score or off");
    return;
  }
  const std::string& s = n.Scalar();
  if (s == "off" || s == "false" || s == "no") {
    out.reset();
    return;
  }
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end || !std::isfinite(v)) {
    m.error(key, "expected a score (e.g. 5 or 7.5) or off (got \"" + s + "\")");
    return;
  }
  out = v;
}

void read_level(ConfigMap& m, DomainPolicy& p, bool quarantine_available) {
  {
    auto t = m.child("thresholds");
    read_threshold(*t, "tag", p.thresholds.tag);
    read_threshold(*t, "quarantine", p.thresholds.quarantine);
    read_threshold(*t, "reject", p.thresholds.reject);
    if (p.thresholds.quarantine && !quarantine_available)
      t->error("quarantine", "quarantine needs a quarantine store, and none is configured");
    const auto& th = p.thresholds;
    if (th.tag && th.reject && *th.tag > *th.reject)
      t->error("tag", "is above thresholds.reject: nothing would ever be tagged before it is rejected");
    if (th.quarantine && th.reject && *th.quarantine > *th.reject)
      t->error("quarantine", "is above thresholds.reject: nothing would ever be quarantined");
  }
  read_action(m, "spf_fail", p.spf_fail, quarantine_available);
  read_action(m, "spf_temperror", p.spf_temperror, quarantine_available);
  {
    auto d = m.child("dmarc");
    read_action(*d, "reject", p.dmarc_reject, quarantine_available);
    read_action(*d, "quarantine", p.dmarc_quarantine, quarantine_available);
    read_action(*d, "temperror", p.dmarc_temperror, quarantine_available);
    read_action(*d, "bad_from", p.dmarc_bad_from, quarantine_available);
    read_action(*d, "multiple_from", p.dmarc_multiple_from, quarantine_available);
    d->get("trusted_arc_sealers", p.dmarc_trusted_arc_sealers);
    for (auto& s : p.dmarc_trusted_arc_sealers) s = lower(s);
  }
  read_access(m, "allow", p.allow);
  read_access(m, "deny", p.deny);
}

}  // namespace

PolicyConfigPtr read_policy_config(ConfigMap& m, bool quarantine_available) {
  auto c = std::make_shared<PolicyConfig>();
  c->global.path = m.path_of("");
  if (!c->global.path.empty() && c->global.path.back() == '.') c->global.path.pop_back();
  // Without a store, a DMARC p=quarantine failure is tagged (a 451 would only make
  // the sender retry until it gives up).
  c->global.dmarc_quarantine = quarantine_available ? PolicyAction::Quarantine : PolicyAction::Tag;
  read_level(m, c->global, quarantine_available);
  m.get_reply("reject_reply", c->reject_reply);
  if (c->reject_reply.code() / 100 != 5) m.error("reject_reply", "must be a 5xx reply");
  m.get_reply("tempfail_reply", c->tempfail_reply);
  if (c->tempfail_reply.code() / 100 != 4) m.error("tempfail_reply", "must be a 4xx reply");
  m.get("delay_reject", c->delay_reject);
  {
    auto t = m.child("tagging");
    std::string headers = "all";
    t->get_enum("headers", headers, {"all", "spam", "off"});
    c->tagging.headers = headers == "off"    ? TaggingConfig::Headers::Off
                         : headers == "spam" ? TaggingConfig::Headers::Spam
                                             : TaggingConfig::Headers::All;
    t->get("subject_prefix", c->tagging.subject_prefix);
    bool printable = true;
    for (char ch : c->tagging.subject_prefix) printable &= ch >= 32 && ch < 127;
    // Raw 8-bit would make an ASCII message's Subject invalid (RFC 5322 3.6.5 / RFC 2047).
    if (!printable) t->error("subject_prefix", "must be printable ASCII on one line (use an RFC 2047 encoded-word for other text)");
    auto name = [&](const char* key, std::string& out) {
      t->get(key, out);
      bool ok = !out.empty() && out.size() <= 76;
      for (char ch : out) ok &= ch > 32 && ch < 127 && ch != ':';
      if (!ok) t->error(key, "\"" + out + "\" is not a header field name");
      // Incoming fields of these names are removed from every message: a standard
      // name (Subject, Received...) would strip it from all mail.
      else if (out.size() < 3 || !(out[0] == 'X' || out[0] == 'x') || out[1] != '-')
        t->error(key, "\"" + out + "\" must be an X- field name: incoming fields of this name are removed");
    };
    name("flag_header", c->tagging.flag_header);
    name("status_header", c->tagging.status_header);
    name("level_header", c->tagging.level_header);
    name("score_header", c->tagging.score_header);
  }
  YAML::Node domains = m.node("domains");
  if (domains.IsDefined() && !domains.IsNull()) {
    if (!domains.IsMap()) {
      m.error("domains", "expected a mapping of recipient domain: policy");
    } else {
      for (const auto& kv : domains) {
        std::string key = lower(kv.first.as<std::string>(""));
        if (!valid_domain_entry(key)) {
          m.error_at(kv.first, "domains." + kv.first.as<std::string>(""),
                     "not a domain or .domain");
          continue;
        }
        bool dup = false;
        for (const auto& d : c->domains) dup |= d.domain == key;
        if (dup) {
          m.error_at(kv.first, "domains." + key, "listed twice");
          continue;
        }
        DomainPolicy p = c->global;  // thresholds and actions inherit; lists do not
        p.domain = key;
        p.allow = {};
        p.deny = {};
        auto dm = m.map_at(kv.second, "domains." + key);
        p.path = dm->path_of("");
        if (!p.path.empty() && p.path.back() == '.') p.path.pop_back();
        read_level(*dm, p, quarantine_available);
        c->domains.push_back(std::move(p));
      }
    }
  }
  return c;
}

}  // namespace mxgate
