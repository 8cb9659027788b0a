#include "filters/smtp_reply.hpp"

#include <cctype>
#include <stdexcept>

namespace mxgate {
namespace {
bool all_digits(std::string_view s, std::size_t min, std::size_t max) {
  if (s.size() < min || s.size() > max) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string check(int code, std::string_view enhanced, std::string_view text) {
  if (code < 200 || code > 599) return "reply code " + std::to_string(code) + " is not 2xx-5xx";
  if (code / 100 == 3) {
    if (!enhanced.empty()) return "3xx replies carry no enhanced status code";
  } else if (!enhanced.empty()) {  // empty only for the greeting and HELO/EHLO (RFC 2034 3)
    if (!is_enhanced_code(enhanced))
      return "enhanced status code \"" + std::string(enhanced) + "\" is not of the form c.sss.ddd";
    if (enhanced[0] - '0' != code / 100)
      return "enhanced status " + std::string(enhanced) + " does not match reply class " +
             std::to_string(code);
  }
  for (char c : text)
    if (c == '\r' || c == '\0') return "reply text contains CR or NUL";
  return {};
}
}  // namespace

bool is_enhanced_code(std::string_view s) {
  auto d1 = s.find('.');
  if (d1 == std::string_view::npos) return false;
  auto d2 = s.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return false;
  auto cls = s.substr(0, d1);
  if (cls != "2" && cls != "4" && cls != "5") return false;
  return all_digits(s.substr(d1 + 1, d2 - d1 - 1), 1, 3) && all_digits(s.substr(d2 + 1), 1, 3);
}

SmtpReply::SmtpReply(int code, std::string_view enhanced, std::string_view text) : code_(code) {
  if (auto why = check(code, enhanced, text); !why.empty()) throw std::invalid_argument(why);
  // Multi-line text ("a\nb") becomes one reply line per text line, each with the code.
  std::string_view rest = text;
  do {
    auto nl = rest.find('\n');
    auto line = rest.substr(0, nl);
    lines_.push_back(enhanced.empty() ? std::string(line)
                                      : std::string(enhanced) + " " + std::string(line));
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
  } while (!rest.empty());
}

SmtpReply SmtpReply::relayed(int code, std::vector<std::string> lines) {
  SmtpReply r;
  r.code_ = code;
  r.lines_ = std::move(lines);
  if (r.lines_.empty()) r.lines_.emplace_back();
  return r;
}

std::optional<SmtpReply> SmtpReply::make(int code, std::string_view enhanced,
                                         std::string_view text, std::string* why) {
  auto err = check(code, enhanced, text);
  if (!err.empty()) {
    if (why) *why = err;
    return std::nullopt;
  }
  return SmtpReply(code, enhanced, text);
}

std::string SmtpReply::enhanced() const {
  const std::string& first = lines_.front();
  auto sp = first.find(' ');
  std::string_view tok = std::string_view(first).substr(0, sp);
  if (is_enhanced_code(tok) && tok[0] - '0' == klass()) return std::string(tok);
  return {};
}

std::string SmtpReply::plain_text() const {
  const std::string enh = enhanced();
  std::string out;
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    if (i) out += '\n';
    std::string_view l = lines_[i];
    if (!enh.empty() && l.size() > enh.size() && l.compare(0, enh.size(), enh) == 0 && l[enh.size()] == ' ')
      l.remove_prefix(enh.size() + 1);
    out += l;
  }
  return out;
}

std::string SmtpReply::text() const {
  std::string out;
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    if (i) out += '\n';
    out += lines_[i];
  }
  return out;
}

std::string SmtpReply::str() const {
  std::string out = wire();
  out.resize(out.size() - 2);  // the last CRLF
  std::string joined;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\r' && i + 1 < out.size() && out[i + 1] == '\n') continue;
    joined += out[i];
  }
  return joined;
}

void SmtpReply::append_wire(std::string& out) const {
  const std::string code = std::to_string(code_);
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    out += code;
    out += (i + 1 == lines_.size()) ? ' ' : '-';
    out += lines_[i];
    out += "\r\n";
  }
}

std::string SmtpReply::wire() const {
  std::string out;
  append_wire(out);
  return out;
}

SmtpReply SmtpReply::with_code(int code) const {
  SmtpReply r = *this;
  r.code_ = code;
  // Keep the enhanced code consistent with the new class.
  for (auto& line : r.lines_) {
    auto sp = line.find(' ');
    std::string_view tok = std::string_view(line).substr(0, sp);
    if (is_enhanced_code(tok)) line[0] = static_cast<char>('0' + code / 100);
  }
  return r;
}

}  // namespace mxgate
