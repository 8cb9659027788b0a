#include "filters/content/scan_texts.hpp"
#include "filters/content/relays.hpp"
#include "base/text.hpp"

#include <algorithm>
#include <cctype>

namespace mxgate {
namespace {

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }


// Cuts at most `max` bytes, backing off to a UTF-8 character boundary.
std::string_view cap(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

std::string part_label(std::size_t index, const MimeTextPart& p) {
  return "part " + std::to_string(index + 1) + " " + (p.content_type.empty() ? "text/plain" : p.content_type);
}

}  // namespace

std::pair<std::string, std::size_t> PartText::locate(std::size_t offset) const {
  const Piece* at = nullptr;
  for (const auto& p : pieces) {
    if (p.offset > offset) break;
    at = &p;
  }
  if (!at) return {"", offset};
  return {at->label, offset - at->offset};
}

void append_paragraphs(std::string_view text, std::string& out) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    // Skip leading white space and blank lines.
    while (i < n && is_space(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= n) break;
    // One paragraph: until a line break followed by optional blanks and another line break.
    bool pending_space = false;
    while (i < n) {
      unsigned char c = static_cast<unsigned char>(text[i]);
      if (c == '\n') {
        std::size_t j = i + 1;
        while (j < n && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r' || text[j] == '\v' || text[j] == '\f')) ++j;
        if (j < n && text[j] == '\n') {  // blank line: paragraph ends
          i = j;
          break;
        }
        pending_space = true;
        i = j;
        continue;
      }
      if (is_space(c)) {
        pending_space = true;
        ++i;
        continue;
      }
      if (pending_space) out += ' ';
      pending_space = false;
      out += static_cast<char>(c);
      ++i;
    }
    out += '\n';
  }
}

ScanTexts build_scan_texts(const MimeView& view, const Message& msg, const ScanLimits& limits) {
  ScanTexts t;
  std::string subject = view.subject();
  if (!subject.empty()) {
    t.body.pieces.push_back({0, "Subject"});
    append_paragraphs(subject, t.body.text);
  }
  for (std::size_t i = 0; i < view.text_parts.size(); ++i) {
    const MimeTextPart& p = view.text_parts[i];
    std::string label = part_label(i, p);
    t.body.pieces.push_back({t.body.text.size(), label});
    append_paragraphs(cap(p.rendered, limits.max_body_part_bytes), t.body.text);
    t.rawbody.pieces.push_back({t.rawbody.text.size(), label});
    std::string_view raw = cap(p.decoded, limits.max_rawbody_part_bytes);
    t.rawbody.text.append(raw);
    if (!raw.empty() && raw.back() != '\n') t.rawbody.text += '\n';
  }
  std::string_view data = cap(msg.data(), limits.max_full_bytes);
  t.full.reserve(data.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '\r' && i + 1 < data.size() && data[i + 1] == '\n') continue;
    t.full += data[i];
  }
  std::size_t nurls = std::min(view.urls.size(), limits.max_urls);
  t.urls.assign(view.urls.begin(), view.urls.begin() + static_cast<std::ptrdiff_t>(nurls));
  return t;
}

std::string first_address(std::string_view v) {
  std::size_t lt = v.find('<');
  if (lt != std::string_view::npos) {
    std::size_t gt = v.find('>', lt);
    return std::string(trim(v.substr(lt + 1, gt == std::string_view::npos ? std::string_view::npos : gt - lt - 1)));
  }
  // Drop (comments), take the first word with an '@' (or the first word).
  std::string plain;
  int depth = 0;
  for (char c : v) {
    if (c == '(') ++depth;
    else if (c == ')' && depth > 0) --depth;
    else if (depth == 0) plain += c;
  }
  std::string first;
  std::size_t i = 0;
  while (i < plain.size()) {
    while (i < plain.size() && (is_space(static_cast<unsigned char>(plain[i])) || plain[i] == ',')) ++i;
    std::size_t j = i;
    while (j < plain.size() && !is_space(static_cast<unsigned char>(plain[j])) && plain[j] != ',') ++j;
    std::string word = plain.substr(i, j - i);
    if (first.empty()) first = word;
    if (word.find('@') != std::string::npos) return word;
    i = j;
  }
  return first;
}

std::vector<std::string> addresses_in(std::string_view v) {
  std::vector<std::string> out;
  std::string text;
  for (char c : v)
    if (c != '\r') text += c == '\n' ? ' ' : c;  // unfolded
  std::string_view s = trim(text);
  // A group's name: "Undisclosed recipients:;", "Team: a@x, b@y;".
  if (std::size_t colon = s.find(':'); colon != std::string_view::npos &&
                                       s.substr(0, colon).find_first_of("\"()<>") == std::string_view::npos)
    s.remove_prefix(colon + 1);
  auto valid = [](std::string_view a) {
    std::size_t at = a.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == a.size()) return false;
    std::string_view local = a.substr(0, at), domain = a.substr(at + 1);
    const bool quoted = local.size() >= 2 && local.front() == '"' && local.back() == '"';
    if (!quoted && local.find_first_of("@ \t<>()[],:;") != std::string_view::npos) return false;
    if (domain.front() == '[') return domain.back() == ']';
    return domain.find_first_of("\" \t<>()[],:;@") == std::string_view::npos;
  };
  auto take = [&](std::string_view item) {
    std::string plain;  // without (comments)
    int depth = 0;
    bool quote = false;
    for (char c : item) {
      if (c == '"' && depth == 0) quote = !quote;
      if (!quote && c == '(') ++depth;
      else if (!quote && c == ')' && depth > 0) --depth;
      else if (depth == 0) plain += c;
    }
    std::string_view p = trim(plain);
    std::size_t lt = p.rfind('<');
    if (lt != std::string_view::npos) {
      std::size_t gt = p.find('>', lt);
      p = trim(p.substr(lt + 1, gt == std::string_view::npos ? std::string_view::npos : gt - lt - 1));
    }
    if (!p.empty() && valid(p)) out.emplace_back(p);
  };
  // Split on ',' and ';' outside quotes, <> and comments.
  std::size_t start = 0;
  int depth = 0;
  bool quote = false, angle = false;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    const char c = i < s.size() ? s[i] : ',';
    if (c == '"' && depth == 0 && !angle) quote = !quote;
    else if (!quote && c == '(') ++depth;
    else if (!quote && c == ')' && depth > 0) --depth;
    else if (!quote && depth == 0 && c == '<') angle = true;
    else if (!quote && depth == 0 && c == '>') angle = false;
    else if (!quote && depth == 0 && !angle && (c == ',' || c == ';')) {
      take(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

std::string first_display_name(std::string_view v) {
  std::size_t lt = v.find('<');
  std::string name;
  if (lt != std::string_view::npos) {
    name = std::string(trim(v.substr(0, lt)));
  } else {
    std::size_t open = v.find('('), close = v.rfind(')');
    if (open != std::string_view::npos && close != std::string_view::npos && close > open)
      name = std::string(trim(v.substr(open + 1, close - open - 1)));
  }
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
  return name;
}

bool header_key_needs_relays(std::string_view key) {
  std::string_view field = key.substr(0, key.find(':'));
  return is_relay_pseudo_header(field) || iequals(field, "EnvelopeFrom");  // its last relay's envelope sender
}

std::optional<std::string> header_text(std::string_view key, const MimeView& view, const Message& msg,
                                       const Envelope& env, const RelayPath* relays) {
  std::string field(key.substr(0, key.find(':')));
  if (is_relay_pseudo_header(field)) {
    // SpamAssassin's get() gives these one value; :first/:last keep it, the address
    // and host modifiers find nothing we would match.
    if (!relays) return std::nullopt;
    bool raw_mod = false;
    for (std::size_t p = key.find(':'); p != std::string_view::npos;) {
      std::size_t q = key.find(':', p + 1);
      std::string_view mod = key.substr(p + 1, q == std::string_view::npos ? std::string_view::npos : q - p - 1);
      if (mod == "raw") raw_mod = true;
      else if (mod != "first" && mod != "last") return std::nullopt;
      p = q;
    }
    return relay_header_text(field, raw_mod, *relays, view, msg);
  }
  std::vector<std::string> mods;
  for (std::size_t p = key.find(':'); p != std::string_view::npos;) {
    std::size_t q = key.find(':', p + 1);
    mods.emplace_back(key.substr(p + 1, q == std::string_view::npos ? std::string_view::npos : q - p - 1));
    p = q;
  }
  bool raw = false, addr = false, name = false, first = false, last = false;
  for (const auto& m : mods) {
    if (m == "raw") raw = true;
    else if (m == "addr") addr = true;
    else if (m == "name") name = true;
    else if (m == "first") first = true;
    else if (m == "last") last = true;
    else return std::nullopt;  // :host, :domain, :ip, :revip: not implemented
  }
  auto value_of = [&](const MimeHeader& h) { return raw ? h.raw : h.decoded; };

  if (field == "ALL") {
    std::string out;
    for (const auto& h : view.headers) out += h.name + ": " + value_of(h) + "\n";
    return out;
  }
  std::string lf = lower(field);
  std::vector<std::string> names;
  if (lf == "tocc") names = {"to", "cc"};
  else if (field == "MESSAGEID") names = {"x-message-id", "resent-message-id", "x-original-message-id", "message-id"};
  else if (lf == "envelopefrom") {
    // SpamAssassin's get_envelope_from() (relays.hpp), one address, no line end.
    auto e = envelope_sender(relays, view, msg, env);
    if (!e || e->empty()) return std::nullopt;
    return e;
  } else names = {lf};

  // Grouped by name in the order of `names` (SpamAssassin asks for each in turn),
  // each group in message order.
  std::vector<std::string> values, raws;
  for (const auto& want : names) {
    for (const auto& h : view.headers) {
      if (lower(trim(h.name)) != want) continue;
      values.push_back(value_of(h));
      raws.push_back(h.raw);
    }
    // MimeView holds the top-level fields GMime parsed; a message GMime could not
    // parse still has its fields in Message.
    if (view.headers.empty()) {
      for (const auto& h : msg.headers()) {
        if (lower(trim(h.name)) != want) continue;
        values.push_back(raw ? h.value : h.unfolded());
        raws.push_back(h.value);
      }
    }
  }
  if (values.empty()) return std::nullopt;
  if (first) {
    values.resize(1);
    raws.resize(1);
  }
  if (last) {
    values.erase(values.begin(), values.end() - 1);
    raws.erase(raws.begin(), raws.end() - 1);
  }
  if (addr || name) {
    std::vector<std::string> found;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (addr) {
        for (auto& a : addresses_in(raws[i])) found.push_back(std::move(a));
      } else if (std::string n = first_display_name(values[i]); !n.empty()) {
        found.push_back(std::move(n));
      }
    }
    if (found.empty()) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < found.size(); ++i) out += (i ? "\n" : "") + found[i];
    return out;
  }
  std::string out;
  for (const auto& v : values) out += v + "\n";
  return out;
}

}  // namespace mxgate
