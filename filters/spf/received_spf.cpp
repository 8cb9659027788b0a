// The Received-SPF header field (RFC 7208 9.1): the result, a comment that explains
// it, and the key-value pairs, quoted where needed so that record text from DNS cannot
// break the header.
#include <cctype>
#include <cstring>
#include <string>

#include "filters/spf/spf.hpp"

namespace mxgate {

namespace {
// Record text from DNS goes into a header: control and 8-bit bytes become '?'.
char printable(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return u < 0x20 || u >= 0x7f ? '?' : c;
}
bool needs_quotes(const std::string& v) {
  for (unsigned char c : v)
    // (c != 0: strchr finds the string's own terminating NUL; a NUL from an
    // xtext-decoded XCLIENT HELO must be quoted, not written into the header bare.)
    if (!(std::isalnum(c) || (c != 0 && std::strchr("!#$%&'*+-/=?^_`{|}~.@", c)))) return true;
  return v.empty();
}
std::string quoted(const std::string& v) {
  if (!needs_quotes(v)) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\r' || c == '\n') continue;
    out += printable(c);
  }
  return out + "\"";
}
// A comment may not hold unbalanced parentheses or line breaks.
std::string comment_safe(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '(' || c == ')' || c == '\\') out += '\\';
    if (c == '\r' || c == '\n') continue;
    out += printable(c);
  }
  return out;
}
}  // namespace

std::string received_spf_value(const SpfOutcome& o, const std::string& receiver) {
  std::string what;
  const std::string who = "domain of " + (o.identity == "helo" ? o.domain : o.sender);
  switch (o.result) {
    case AuthResult::Pass: what = who + " designates " + o.client_ip + " as permitted sender"; break;
    case AuthResult::Fail: what = who + " does not designate " + o.client_ip + " as permitted sender"; break;
    case AuthResult::SoftFail: what = who + " does not designate " + o.client_ip + " as permitted sender (softfail)"; break;
    case AuthResult::Neutral: what = o.client_ip + " is neither permitted nor denied by " + who; break;
    default: what = o.reason; break;
  }
  std::string v = std::string(auth_result_name(o.result)) + " (" + comment_safe(receiver + ": " + what) + ")";
  v += " client-ip=" + o.client_ip + ";";
  if (o.identity == "mailfrom") v += " envelope-from=" + quoted(o.sender) + ";";
  if (!o.helo.empty()) v += " helo=" + quoted(o.helo) + ";";
  v += " receiver=" + quoted(receiver) + ";";
  v += " identity=" + o.identity + ";";
  if (!o.mechanism.empty()) v += " mechanism=" + quoted(o.mechanism) + ";";
  return v;
}

}  // namespace mxgate
