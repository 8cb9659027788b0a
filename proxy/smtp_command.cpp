#include "proxy/smtp_command.hpp"

#include <cctype>
#include <charconv>
#include <vector>

#include "proxy/limits.hpp"
#include "base/text.hpp"

namespace mxgate {
namespace {


bool is_atext(unsigned char c, bool utf8) {
  if (c >= 0x80) return utf8;  // RFC 6531 3.3: UTF-8 in addresses only with SMTPUTF8
  if (std::isalnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}':
    case '~':
      return true;
  }
  return false;
}

bool valid_local_part(std::string_view s, bool utf8) {
  if (s.empty()) return false;
  if (s.front() == '"') {  // quoted-string
    if (s.size() < 2 || s.back() != '"') return false;
    for (std::size_t i = 1; i + 1 < s.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (c == '\\') {
        if (i + 2 >= s.size()) return false;  // the quoted char must precede the closing quote
        unsigned char q = static_cast<unsigned char>(s[++i]);
        if (q < 32 || q > 126) return false;
        continue;
      }
      if (c == '"') return false;
      if (c >= 0x80 ? !utf8 : (c < 32 || c > 126)) return false;
    }
    return true;
  }
  // dot-string: atoms separated by single dots (RFC 5321 4.1.2)
  if (s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '.') {
      if (s[i - 1] == '.') return false;
      continue;
    }
    if (!is_atext(c, utf8)) return false;
  }
  return true;
}

bool valid_domain(std::string_view d, bool utf8) {
  if (d.empty() || d.size() > kMaxDomain) return false;
  if (d.front() == '[') {  // address literal: [192.0.2.1] or [IPv6:...]
    if (d.back() != ']' || d.size() < 3) return false;
    for (char c : d.substr(1, d.size() - 2)) {
      unsigned char u = static_cast<unsigned char>(c);
      if (u < 33 || u > 126 || c == '[' || c == ']' || c == '\\') return false;
    }
    return true;
  }
  std::size_t label = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(d[i]);
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!(std::isalnum(c) || c == '-' || c == '_' || (utf8 && c >= 0x80))) return false;
    if (++label > 63) return false;
  }
  return label > 0;
}

// Parses "<path> params" after "FROM:" / "TO:". Returns the path (without <> and
// source route) and leaves the parameters in `params`.
bool split_path(std::string_view arg, std::string& path, std::string_view& params, PathError& err,
                bool is_mail) {
  arg = trim_wsp(arg);  // Postfix-compatible: "MAIL FROM: <a@b>" is common in the wild
  std::string_view raw;
  if (!arg.empty() && arg.front() == '<') {
    // Find the closing '>' outside a quoted local part.
    bool quoted = false;
    std::size_t close = std::string_view::npos;
    for (std::size_t i = 1; i < arg.size(); ++i) {
      if (quoted && arg[i] == '\\') { ++i; continue; }
      if (arg[i] == '"') quoted = !quoted;
      else if (arg[i] == '>' && !quoted) { close = i; break; }
    }
    if (close == std::string_view::npos) {
      err = {501, "5.5.4", "Syntax: missing \">\" in address"};
      return false;
    }
    raw = arg.substr(1, close - 1);
    params = arg.substr(close + 1);
    if (!params.empty() && params.front() != ' ') {
      err = {501, "5.5.4", "Syntax: expected a space after the address"};
      return false;
    }
    if (close + 1 > kMaxPath) {
      err = {501, is_mail ? "5.1.7" : "5.1.3", "Address too long"};
      return false;
    }
  } else {
    auto sp = arg.find(' ');
    raw = arg.substr(0, sp);
    params = sp == std::string_view::npos ? std::string_view{} : arg.substr(sp);
    if (raw.empty()) {
      err = {501, "5.5.4", is_mail ? "Syntax: MAIL FROM:<address>" : "Syntax: RCPT TO:<address>"};
      return false;
    }
    if (raw.size() + 2 > kMaxPath) {
      err = {501, is_mail ? "5.1.7" : "5.1.3", "Address too long"};
      return false;
    }
  }
  // Source routes (RFC 5321 4.1.2 A-d-l) are accepted and ignored (Appendix C).
  if (!raw.empty() && raw.front() == '@') {
    auto colon = raw.find(':');
    if (colon == std::string_view::npos) {
      err = {501, is_mail ? "5.1.7" : "5.1.3", "Bad address syntax"};
      return false;
    }
    raw = raw.substr(colon + 1);
  }
  path = std::string(raw);
  params = trim_wsp(params);
  return true;
}

bool check_mailbox(const std::string& path, bool utf8, bool is_mail, PathError& err) {
  const char* enh = is_mail ? "5.1.7" : "5.1.3";
  const char* what = is_mail ? "Bad sender address syntax" : "Bad recipient address syntax";
  auto at = path.rfind('@');
  if (at == std::string::npos) {
    err = {501, enh, what};
    return false;
  }
  std::string_view local = std::string_view(path).substr(0, at);
  std::string_view domain = std::string_view(path).substr(at + 1);
  bool has8 = false;
  for (unsigned char c : path) has8 |= c >= 0x80;
  if (has8 && !utf8) {
    err = {553, "5.6.7", "Non-ASCII address needs the SMTPUTF8 parameter"};
    return false;
  }
  if (local.size() > kMaxLocalPart) {
    err = {501, enh, "Local part longer than 64 octets"};
    return false;
  }
  if (!valid_local_part(local, utf8) || !valid_domain(domain, utf8)) {
    err = {501, enh, what};
    return false;
  }
  return true;
}

std::vector<std::string_view> split_params(std::string_view params) {
  std::vector<std::string_view> out;
  while (!params.empty()) {
    auto sp = params.find(' ');
    auto tok = params.substr(0, sp);
    if (!tok.empty()) out.push_back(tok);
    if (sp == std::string_view::npos) break;
    params.remove_prefix(sp + 1);
  }
  return out;
}
}  // namespace

Command parse_command(std::string_view line) {
  Command c;
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  if (line.empty()) {
    c.verb = Verb::Empty;
    return c;
  }
  auto sp = line.find(' ');
  c.verb_text = std::string(line.substr(0, sp));
  if (sp != std::string_view::npos) c.arg = std::string(line.substr(sp + 1));
  static const struct { const char* name; Verb verb; } kVerbs[] = {
      {"HELO", Verb::Helo}, {"EHLO", Verb::Ehlo}, {"MAIL", Verb::Mail}, {"RCPT", Verb::Rcpt},
      {"DATA", Verb::Data}, {"RSET", Verb::Rset}, {"NOOP", Verb::Noop}, {"QUIT", Verb::Quit},
      {"VRFY", Verb::Vrfy}, {"EXPN", Verb::Expn}, {"HELP", Verb::Help},
      {"STARTTLS", Verb::Starttls}, {"XCLIENT", Verb::Xclient}, {"BDAT", Verb::Bdat},
      {"AUTH", Verb::Auth}, {"TURN", Verb::Turn},
  };
  std::string up = upper(c.verb_text);
  for (const auto& v : kVerbs)
    if (up == v.name) c.verb = v.verb;
  return c;
}

const char* verb_name(Verb v) {
  switch (v) {
    case Verb::Helo: return "HELO";
    case Verb::Ehlo: return "EHLO";
    case Verb::Mail: return "MAIL";
    case Verb::Rcpt: return "RCPT";
    case Verb::Data: return "DATA";
    case Verb::Rset: return "RSET";
    case Verb::Noop: return "NOOP";
    case Verb::Quit: return "QUIT";
    case Verb::Vrfy: return "VRFY";
    case Verb::Expn: return "EXPN";
    case Verb::Help: return "HELP";
    case Verb::Starttls: return "STARTTLS";
    case Verb::Xclient: return "XCLIENT";
    case Verb::Bdat: return "BDAT";
    case Verb::Auth: return "AUTH";
    case Verb::Turn: return "TURN";
    case Verb::Unknown: return "UNKNOWN";
    case Verb::Empty: return "";
  }
  return "?";
}

std::optional<MailArgs> parse_mail(std::string_view arg, PathError& err) {
  if (!istarts_with(arg, "FROM:")) {
    err = {501, "5.5.4", "Syntax: MAIL FROM:<address>"};
    return std::nullopt;
  }
  std::string path;
  std::string_view params;
  if (!split_path(arg.substr(5), path, params, err, true)) return std::nullopt;
  MailArgs out;
  bool seen_size = false, seen_body = false;
  for (auto p : split_params(params)) {
    auto eq = p.find('=');
    std::string key = upper(p.substr(0, eq));
    std::string_view value = eq == std::string_view::npos ? std::string_view{} : p.substr(eq + 1);
    if (key == "SIZE" && eq != std::string_view::npos && !seen_size) {
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out.size);
      if (ec != std::errc() || ptr != value.data() + value.size() || value.empty() || value.size() > 20) {
        err = {501, "5.5.4", "Bad SIZE parameter"};
        return std::nullopt;
      }
      seen_size = true;
    } else if (key == "BODY" && eq != std::string_view::npos && !seen_body) {
      std::string b = upper(value);
      if (b != "7BIT" && b != "8BITMIME") {
        err = {501, "5.5.4", "Unsupported BODY parameter value"};
        return std::nullopt;
      }
      out.body = b;
      seen_body = true;
    } else if (key == "SMTPUTF8" && eq == std::string_view::npos && !out.smtputf8) {
      out.smtputf8 = true;
    } else {
      err = {555, "5.5.4", "Unsupported option: " + printable(p)};
      return std::nullopt;
    }
    out.mailbox.params.emplace_back(p);
  }
  if (!path.empty() && !check_mailbox(path, out.smtputf8, true, err)) return std::nullopt;
  out.mailbox.address = path;
  return out;
}

std::optional<Mailbox> parse_rcpt(std::string_view arg, bool smtputf8, PathError& err) {
  if (!istarts_with(arg, "TO:")) {
    err = {501, "5.5.4", "Syntax: RCPT TO:<address>"};
    return std::nullopt;
  }
  std::string path;
  std::string_view params;
  if (!split_path(arg.substr(3), path, params, err, false)) return std::nullopt;
  if (path.empty()) {
    err = {501, "5.1.3", "Bad recipient address syntax"};
    return std::nullopt;
  }
  // We advertise no RCPT parameters (no DSN), so any is an error (RFC 5321 4.1.1.3).
  if (auto ps = split_params(params); !ps.empty()) {
    err = {555, "5.5.4", "Unsupported option: " + printable(ps.front())};
    return std::nullopt;
  }
  Mailbox mb;
  // RFC 5321 4.1.1.3: <Postmaster> without a domain must be accepted.
  if (upper(path) == "POSTMASTER") {
    mb.address = path;
    return mb;
  }
  if (!check_mailbox(path, smtputf8, false, err)) return std::nullopt;
  mb.address = path;
  return mb;
}

bool valid_helo(std::string_view helo) {
  if (helo.empty() || helo.size() > kMaxDomain + 2) return false;
  for (unsigned char c : helo)
    if (c < 33 || c == 127) return false;
  return true;
}

std::string printable(std::string_view s, std::size_t max) {
  std::string out(s.substr(0, max));
  for (auto& c : out) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return out;
}

std::string xtext_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (c < 33 || c > 126 || c == '+' || c == '=') {
      out += '+';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::optional<std::string> xtext_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '+') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    auto hexval = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
    if (h < 0 || l < 0) return std::nullopt;
    out += static_cast<char>(h * 16 + l);
    i += 2;
  }
  return out;
}

const char* unsupported_mail_option(const MailArgs& args, bool downstream_8bitmime, bool downstream_smtputf8) {
  if (args.smtputf8 && !downstream_smtputf8) return "SMTPUTF8";
  if (args.body == "8BITMIME" && !downstream_8bitmime) return "BODY=8BITMIME";
  return nullptr;
}

std::string downstream_mail_line(const Mailbox& from, bool downstream_size) {
  std::string line = "MAIL FROM:<" + from.address + ">";
  for (const auto& p : from.params) {
    if (!downstream_size && istarts_with(p, "SIZE=")) continue;
    line += " " + p;
  }
  return line;
}

CommandLineReader::Next CommandLineReader::next(std::string& buf) {
  Next out;
  auto nl = buf.find('\n', scanned_);
  if (nl == std::string::npos) {
    scanned_ = buf.size();
    if (buf.size() > max_) {
      // Keep reading to the end of the line, keeping none of it.
      discarding_ = true;
      buf.clear();
      scanned_ = 0;
    }
    return out;
  }
  std::string line = buf.substr(0, nl);
  buf.erase(0, nl + 1);
  scanned_ = 0;
  if (discarding_ || nl + 1 > max_) {
    discarding_ = false;
    out.kind = Kind::TooLong;
    return out;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  for (unsigned char c : line)
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      out.kind = Kind::Control;
      return out;
    }
  out.kind = Kind::Line;
  out.line = std::move(line);
  return out;
}

}  // namespace mxgate
