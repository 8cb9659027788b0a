#include "filters/message.hpp"

#include <cctype>

#include "filters/envelope.hpp"

namespace mxgate {

std::string Mailbox::local_part() const {
  auto at = address.rfind('@');
  return at == std::string::npos ? address : address.substr(0, at);
}

std::string Mailbox::domain() const {
  auto at = address.rfind('@');
  return at == std::string::npos ? std::string() : address.substr(at + 1);
}

std::string HeaderField::unfolded() const {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\r' && i + 1 < value.size() && value[i + 1] == '\n') {
      ++i;
      continue;
    }
    out += value[i];
  }
  std::size_t b = 0, e = out.size();
  while (b < e && (out[b] == ' ' || out[b] == '\t')) ++b;
  while (e > b && (out[e - 1] == ' ' || out[e - 1] == '\t')) --e;
  return out.substr(b, e - b);
}

bool HeaderField::valid_to_add() const {
  if (name.empty()) return false;
  for (unsigned char c : name)
    if (c <= 32 || c >= 127 || c == ':') return false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\0') return false;
    if (c == '\n') return false;  // only as part of CRLF, handled below
    if (c == '\r') {
      if (i + 2 >= value.size() || value[i + 1] != '\n' || (value[i + 2] != ' ' && value[i + 2] != '\t'))
        return false;
      i += 1;
    }
  }
  return true;
}

std::string HeaderField::wire() const {
  std::string out = name + ":";
  if (value.empty() || (value[0] != ' ' && value[0] != '\t')) out += ' ';
  out += value;
  out += "\r\n";
  return out;
}

Message::Message(std::string data) : data_(std::move(data)) {
  std::string_view d(data_);
  std::size_t pos = 0;
  while (pos < d.size()) {
    auto eol = d.find("\r\n", pos);
    std::size_t line_end = eol == std::string_view::npos ? d.size() : eol;
    std::size_t next = eol == std::string_view::npos ? d.size() : eol + 2;
    std::string_view line = d.substr(pos, line_end - pos);
    if (line.empty()) {  // the blank line that ends the header section
      body_offset_ = next;
      return;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !headers_.empty()) {
      headers_.back().value += "\r\n";
      headers_.back().value += line;
      pos = next;
      continue;
    }
    auto colon = line.find(':');
    bool name_ok = colon != std::string_view::npos && colon > 0;
    // RFC 5322 4.5.8 obs-optional: white space may come between the name and the
    // colon. Downstream MTAs read such a line as a field, so we must too (else a
    // forged field would hide from us in what we took for the body).
    std::size_t name_end = name_ok ? colon : 0;
    while (name_end > 0 && (line[name_end - 1] == ' ' || line[name_end - 1] == '\t')) --name_end;
    name_ok = name_ok && name_end > 0;
    for (std::size_t i = 0; name_ok && i < name_end; ++i) {
      unsigned char c = static_cast<unsigned char>(line[i]);
      name_ok = c > 32 && c < 127;  // RFC 5322 2.2: printable US-ASCII except colon
    }
    if (!name_ok) {
      well_formed_ = false;
      body_offset_ = pos;
      return;
    }
    headers_.push_back({std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))});
    pos = next;
  }
  body_offset_ = d.size();  // headers only, no body
}

bool HeaderField::is(std::string_view want) const {
  std::string_view n = name;
  while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
  return iequals(n, want);
}

std::vector<const HeaderField*> Message::fields(std::string_view name) const {
  std::vector<const HeaderField*> out;
  for (const auto& f : headers_)
    if (f.is(name)) out.push_back(&f);
  return out;
}

const HeaderField* Message::first(std::string_view name) const {
  for (const auto& f : headers_)
    if (f.is(name)) return &f;
  return nullptr;
}

std::size_t Message::count(std::string_view name) const {
  std::size_t n = 0;
  for (const auto& f : headers_) n += f.is(name);
  return n;
}

std::string_view without_mbox_separator(std::string_view file) {
  if (!file.starts_with("From ")) return file;
  std::size_t eol = file.find('\n');
  return eol == std::string_view::npos ? std::string_view() : file.substr(eol + 1);
}

}  // namespace mxgate
