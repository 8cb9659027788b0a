#include "filters/auth/auth_results.hpp"

#include <cctype>
#include <cstring>

namespace mxgate {

const char* auth_result_name(AuthResult r) {
  switch (r) {
    case AuthResult::None: return "none";
    case AuthResult::Pass: return "pass";
    case AuthResult::Fail: return "fail";
    case AuthResult::SoftFail: return "softfail";
    case AuthResult::Neutral: return "neutral";
    case AuthResult::Policy: return "policy";
    case AuthResult::TempError: return "temperror";
    case AuthResult::PermError: return "permerror";
  }
  return "none";
}

namespace {

// RFC 2045 token: no CTLs, no space, no tspecials.
bool is_token(std::string_view v) {
  if (v.empty()) return false;
  for (unsigned char c : v)
    if (c <= 0x20 || c >= 0x7f || std::strchr("()<>@,;:\\\"/[]?=", c)) return false;
  return true;
}

// (c != 0: strchr finds the string's own terminating NUL.)
bool is_atext(unsigned char c) { return std::isalnum(c) || (c != 0 && std::strchr("!#$%&'*+-/=?^_`{|}~", c)); }

bool is_dot_atom(std::string_view v) {
  if (v.empty() || v.front() == '.' || v.back() == '.') return false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (c == '.') {
      if (v[i + 1] == '.') return false;
    } else if (!is_atext(c)) {
      return false;
    }
  }
  return true;
}

bool is_domain_name(std::string_view v) {
  if (v.empty() || v.size() > 253) return false;
  for (unsigned char c : v)
    if (!(std::isalnum(c) || c == '-' || c == '.' || c == '_')) return false;
  return v.front() != '.' && v.back() != '.' && v.find("..") == std::string_view::npos;
}

// Comments hold free text: escape what would end or nest them, drop line breaks.
// Text from DNS or the message ends up here: control and 8-bit bytes become '?', so
// the field is always one we may add (a NUL in a sender's SPF record must not make
// us drop our whole Authentication-Results, leaving the MX without it).
char printable(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return (u < 0x20 && u != '\t') || u >= 0x7f ? '?' : c;
}

std::string comment(std::string_view text) {
  std::string out = " (";
  for (char c : text) {
    if (c == '\r' || c == '\n') continue;
    if (c == '(' || c == ')' || c == '\\') out += '\\';
    out += printable(c);
  }
  return out + ")";
}

void skip_cfws(std::string_view v, std::size_t& i) {
  while (i < v.size()) {
    if (std::isspace(static_cast<unsigned char>(v[i]))) {
      ++i;
    } else if (v[i] == '(') {
      int depth = 0;
      while (i < v.size()) {
        if (v[i] == '\\') { i += 2; continue; }
        if (v[i] == '(') ++depth;
        if (v[i] == ')' && --depth == 0) { ++i; break; }
        ++i;
      }
    } else {
      break;
    }
  }
}

}  // namespace

std::string ar_value(std::string_view v) {
  if (is_token(v)) return std::string(v);
  auto at = v.rfind('@');
  if (at != std::string_view::npos && is_domain_name(v.substr(at + 1)) &&
      (at == 0 || is_dot_atom(v.substr(0, at))))
    return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '\r' || c == '\n') continue;
    if (c == '"' || c == '\\') out += '\\';
    out += printable(c);
  }
  return out + "\"";
}

std::string authentication_results_value(std::string_view authserv_id, const AuthResults& a) {
  std::vector<std::string> clauses;
  auto spf_clause = [&](const SpfOutcome& s) {
    std::string c = std::string("spf=") + auth_result_name(s.result);
    if (s.result != AuthResult::Pass && !s.reason.empty()) c += comment(s.reason);
    if (s.identity == "helo") c += " smtp.helo=" + ar_value(s.helo);
    else c += " smtp.mailfrom=" + ar_value(s.sender);
    clauses.push_back(c);
  };
  if (a.spf) spf_clause(*a.spf);
  // The HELO identity is reported too when it was checked and differs from what the
  // MAIL FROM clause already says.
  if (a.spf_helo && !(a.spf && a.spf->identity == "helo")) spf_clause(*a.spf_helo);
  if (a.dkim_checked) {
    if (a.dkim.empty()) clauses.emplace_back("dkim=none");
    for (const auto& d : a.dkim) {
      std::string c = std::string("dkim=") + auth_result_name(d.result);
      if (d.result != AuthResult::Pass && !d.reason.empty()) c += comment(d.reason);
      if (!d.domain.empty()) c += " header.d=" + ar_value(d.domain);
      if (!d.identity.empty()) c += " header.i=" + ar_value(d.identity);
      if (!d.selector.empty()) c += " header.s=" + ar_value(d.selector);
      if (!d.algorithm.empty()) c += " header.a=" + ar_value(d.algorithm);
      if (!d.b_prefix.empty()) c += " header.b=" + ar_value(d.b_prefix);
      clauses.push_back(c);
    }
  }
  if (a.arc) {
    // RFC 8617 7.2: arc=pass/fail/none; the chain's length, oldest-pass and last
    // sealer as a comment.
    const auto& r = *a.arc;
    std::string c = std::string("arc=") + auth_result_name(r.result);
    std::string why;
    if (r.result == AuthResult::Pass) {
      why = "i=" + std::to_string(r.instances) + " oldest-pass=" + std::to_string(r.oldest_pass);
      if (!r.sealers.empty()) why += " sealer=" + r.sealers.back();
    } else if (!r.reason.empty()) {
      why = r.reason;
    }
    if (!why.empty()) c += comment(why);
    clauses.push_back(c);
  }
  if (a.dmarc) {
    const auto& d = *a.dmarc;
    std::string c = std::string("dmarc=") + auth_result_name(d.result);
    std::string why;
    if (!d.policy.empty()) why = "p=" + d.policy + " dis=" + (d.disposition.empty() ? "none" : d.disposition);
    if (d.result != AuthResult::Pass && d.result != AuthResult::Fail && !d.reason.empty())
      why += (why.empty() ? "" : "; ") + d.reason;
    if (!why.empty()) c += comment(why);
    if (!d.from_domain.empty()) c += " header.from=" + ar_value(d.from_domain);
    clauses.push_back(c);
  }
  std::string out = ar_value(authserv_id);
  if (clauses.empty()) return out + "; none";
  for (const auto& c : clauses) out += ";\r\n\t" + c;
  return out;
}

bool claims_authserv_id(const HeaderField& field, std::string_view authserv_id) {
  std::string_view v = field.value;
  std::size_t i = 0;
  skip_cfws(v, i);
  std::string id;
  if (i < v.size() && v[i] == '"') {
    for (++i; i < v.size() && v[i] != '"'; ++i) {
      if (v[i] == '\\' && i + 1 < v.size()) ++i;
      id += v[i];
    }
  } else {
    while (i < v.size() && v[i] != ';' && v[i] != '(' && !std::isspace(static_cast<unsigned char>(v[i]))) id += v[i++];
  }
  return !id.empty() && iequals(id, authserv_id);
}

std::optional<std::string> without_our_results(const Message& msg, std::string_view authserv_id) {
  bool ours = false;
  for (const auto& f : msg.headers())
    if (f.is("Authentication-Results") && claims_authserv_id(f, authserv_id)) ours = true;
  if (!ours) return std::nullopt;
  // Walk the raw header block field by field (a field is a line and its continuation
  // lines), keeping every byte of the fields we do not drop.
  const std::string_view head = msg.header_block();
  std::string out;
  out.reserve(msg.size());
  std::size_t pos = 0;
  while (pos < head.size()) {
    std::size_t end = pos;
    do {
      auto nl = head.find('\n', end);
      end = nl == std::string_view::npos ? head.size() : nl + 1;
    } while (end < head.size() && (head[end] == ' ' || head[end] == '\t'));
    std::string_view raw = head.substr(pos, end - pos);
    auto colon = raw.find(':');
    bool drop = false;
    if (colon != std::string_view::npos) {
      std::string_view name = raw.substr(0, colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
      if (iequals(name, "Authentication-Results")) {
        HeaderField f{std::string(name), std::string(raw.substr(colon + 1))};
        drop = claims_authserv_id(f, authserv_id);
      }
    }
    if (!drop) out.append(raw);
    pos = end;
  }
  out.append(msg.body());
  return out;
}

}  // namespace mxgate
