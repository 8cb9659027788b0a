#include "filters/content/scan_texts.hpp"
#include "filters/content/relays.hpp"
#include "filters/content/uri_detail.hpp"
#include "filters/content/uri_list.hpp"
#include "base/text.hpp"

#include <algorithm>
#include <cctype>
#include <unordered_set>

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

std::size_t perl_space_len(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  if (c < 0x80) return (c == ' ' || (c >= '\t' && c <= '\r')) ? 1 : 0;
  const std::size_t left = s.size() - i;
  if (c == 0xC2 && left >= 2) return (b(1) == 0x85 || b(1) == 0xA0) ? 2 : 0;
  if (left < 3) return 0;
  if (c == 0xE1) return b(1) == 0x9A && b(2) == 0x80 ? 3 : 0;  // U+1680
  if (c == 0xE2 && b(1) == 0x80)  // U+2000..U+200A, U+2028, U+2029, U+202F
    return ((b(2) >= 0x80 && b(2) <= 0x8A) || b(2) == 0xA8 || b(2) == 0xA9 || b(2) == 0xAF) ? 3 : 0;
  if (c == 0xE2 && b(1) == 0x81) return b(2) == 0x9F ? 3 : 0;  // U+205F
  if (c == 0xE3) return b(1) == 0x80 && b(2) == 0x80 ? 3 : 0;  // U+3000
  return 0;
}

void append_collapsed(std::string_view s, std::string& out, std::vector<std::size_t>* offsets) {
  std::size_t k = 0;
  auto map_to = [&](std::size_t upto) {
    if (offsets)
      for (; k < offsets->size() && (*offsets)[k] <= upto; ++k) (*offsets)[k] = out.size();
  };
  for (std::size_t i = 0; i < s.size();) {
    map_to(i);
    std::size_t sp = perl_space_len(s, i);
    if (!sp) {
      out += s[i++];
      continue;
    }
    const std::size_t run = i;
    std::size_t first_nl = std::string_view::npos, last_nl = 0, nls = 0;
    for (; i < s.size() && (sp = perl_space_len(s, i)) != 0; i += sp) {
      if (s[i] != '\n') continue;
      if (first_nl == std::string_view::npos) first_nl = i;
      last_nl = i;
      ++nls;
    }
    if (nls < 2) {
      out += ' ';
    } else {
      if (first_nl > run) out += ' ';
      out += '\n';
      if (last_nl + 1 < i) out += ' ';
    }
  }
  map_to(s.size());
}

std::string sa_subject(const MimeView& view) {
  const MimeHeader* last = nullptr;
  for (const auto& h : view.headers)
    if (iequals(trim(h.name), "Subject")) last = &h;
  if (!last) return {};
  const std::string& r = last->raw;
  if (r.find("=?") != std::string::npos) return last->decoded;
  std::string out;
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (r[i] == '\r' && i + 1 < r.size() && r[i + 1] == '\n') continue;
    if (r[i] == '\n') {
      std::size_t j = i + 1;
      while (j < r.size() && (r[j] == ' ' || r[j] == '\t')) ++j;
      if (j > i + 1) out += ' ';
      i = j - 1;
      continue;
    }
    out += r[i];
  }
  std::string t(trim(out));
  const bool ascii = std::all_of(t.begin(), t.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  return ascii ? t : last->decoded;
}

namespace {

// Message.pm's truncation to body_part_scan_size: at the first line break within
// 1 KiB past the limit, else the first space there, else at the limit (here on a
// UTF-8 boundary; SpamAssassin counts characters, we count bytes).
std::string_view scan_cut(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s;
  for (char c : {'\n', ' '}) {
    std::size_t i = s.find(c, max);
    if (i != std::string_view::npos && i - max <= 1024) return s.substr(0, i + 1);
  }
  return cap(s, max);
}

// Node.pm rendered() gives text only for text/plain and text/html; Util.pm
// parse_content_type() reads every text/* but these two as text/plain.
bool sa_renders(const MimeTextPart& p) { return p.content_type != "text/x-vcard" && p.content_type != "text/calendar"; }

constexpr std::size_t kMaxBodyLine = 2048;  // Constants.pm MAX_BODY_LINE_LENGTH

}  // namespace

// SpamAssassin's body (Message.pm get_body_text_array_common): every leaf in order,
// a "\n" before each once there is text (so a part ending in a line break starts a
// new paragraph, one that does not runs on), the rendered text of text parts; then
// any white space run holding two line breaks is a paragraph break (one space kept
// on either side when the run had blanks there), every other run one space; then
// the Subject line in front, untouched; then lines over 2048 bytes (line break
// counted) cut at their last space within 2048 bytes, else at 2048.
void build_body_text(const MimeView& view, const ScanLimits& limits, PartText& body) {
  std::string joined;
  std::vector<std::pair<std::size_t, std::string>> starts;  // offset in joined, label
  std::size_t leaf = 0;  // leaves whose "\n" has been added
  auto leaves_upto = [&](std::size_t end) {
    for (; leaf < end; ++leaf)
      if (!joined.empty()) joined += '\n';
  };
  for (std::size_t i = 0; i < view.text_parts.size(); ++i) {
    const MimeTextPart& p = view.text_parts[i];
    leaves_upto(std::max(leaf, p.leaf + 1));
    if (!sa_renders(p)) continue;
    starts.emplace_back(joined.size(), part_label(i, p));
    joined.append(scan_cut(p.rendered, limits.max_body_part_bytes));
  }
  leaves_upto(view.leaf_count);
  // Collapse white space, mapping each part's start to its offset in `text`.
  std::string text;
  text.reserve(joined.size());
  std::vector<std::size_t> offsets;
  offsets.reserve(starts.size());
  for (const auto& st : starts) offsets.push_back(st.first);
  append_collapsed(joined, text, &offsets);
  std::vector<std::pair<std::size_t, std::string>> mapped;
  mapped.reserve(starts.size());
  for (std::size_t i = 0; i < starts.size(); ++i) mapped.emplace_back(offsets[i], std::move(starts[i].second));

  std::string all = sa_subject(view) + "\n";
  const std::size_t subject_len = all.size();
  all += text;
  body.text.reserve(all.size() + all.size() / kMaxBodyLine + 1);
  body.pieces.push_back({0, "Subject"});
  std::size_t mi = 0, added = 0;
  for (std::size_t pos = 0; pos < all.size();) {
    std::size_t nl = all.find('\n', pos);
    std::size_t end = nl == std::string::npos ? all.size() : nl + 1;
    std::string_view line = std::string_view(all).substr(pos, end - pos);
    std::size_t at = pos;
    while (line.size() > kMaxBodyLine) {
      std::size_t cut = line.substr(0, kMaxBodyLine + 1).rfind(' ');
      std::size_t len = cut == std::string_view::npos ? kMaxBodyLine : cut + 1;
      body.text.append(line.substr(0, len));
      body.text += '\n';  // every piece is a line of its own to the scanner
      ++added;
      line.remove_prefix(len);
      at += len;
      for (; mi < mapped.size() && mapped[mi].first + subject_len < at; ++mi)
        body.pieces.push_back({mapped[mi].first + subject_len + added - 1, mapped[mi].second});
    }
    body.text.append(line);
    if (!line.empty() && line.back() != '\n') body.text += '\n';
    for (; mi < mapped.size() && mapped[mi].first + subject_len < end; ++mi)
      body.pieces.push_back({mapped[mi].first + subject_len + added, mapped[mi].second});
    pos = end;
  }
  for (; mi < mapped.size(); ++mi) body.pieces.push_back({body.text.size(), mapped[mi].second});
}

// SpamAssassin's get_uri_list() (uri_list.hpp): the URIs of the body lines (its text
// parser when the rule files give the TLDs, else MimeView's URL finder with bare
// addresses as mailto:), then MimeView::html_links (MimeView::urls with our own
// finder), each with the forms
// uri_list_canonicalize adds; at most max_urls in all.
void build_uri_list(const MimeView& view, std::string_view body, const ScanLimits& limits, const UriSettings* uri,
                    std::vector<std::string>& urls) {
  std::vector<std::string> all;
  const bool sa_parser = uri && !uri->tlds.empty();
  for (std::size_t p = 0; p < body.size();) {
    std::size_t nl = body.find('\n', p);
    std::size_t e = nl == std::string_view::npos ? body.size() : nl;
    if (sa_parser) text_uris(body.substr(p, e - p), *uri, all);
    else find_urls(body.substr(p, e - p), all, true);
    p = e + 1;
  }
  const std::size_t from_text = all.size();
  // SpamAssassin's parser reads the rendered text of every part, HTML included: the
  // HTML attribute URLs are what it adds. Our own finder needs the view's full list.
  const auto& more = sa_parser ? view.html_links : view.urls;
  all.insert(all.end(), more.begin(), more.end());
  std::unordered_set<std::string> seen;
  std::vector<std::string> forms;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const std::string& u = all[i];
    if (urls.size() >= limits.max_urls) break;
    if (seen.count(u)) continue;
    forms.clear();
    canonicalize_uri(u, uri, forms);
    // add_uri_detail_list(..., valid_domain): a URI of the text parser is listed only
    // if one of its forms has a valid host ("http://%7Bsburke%7D%20%7Bat%7D" has none).
    if (sa_parser && i < from_text &&
        std::none_of(forms.begin(), forms.end(), [&](const std::string& f) { return uri_to_domain(f, uri, nullptr).has_value(); }))
      continue;
    for (auto& f : forms)
      if (urls.size() < limits.max_urls && seen.insert(f).second) urls.push_back(std::move(f));
    seen.insert(u);
  }
}

ScanTexts build_scan_texts(const MimeView& view, const Message& msg, const ScanLimits& limits,
                           const UriSettings* uri) {
  ScanTexts t;
  build_body_text(view, limits, t.body);
  for (std::size_t i = 0; i < view.text_parts.size(); ++i) {
    const MimeTextPart& p = view.text_parts[i];
    if (p.content_type == "text/calendar") continue;  // Message.pm: usually an attachment, not shown
    t.rawbody.pieces.push_back({t.rawbody.text.size(), part_label(i, p)});
    std::string_view raw = cap(p.raw_text(), limits.max_rawbody_part_bytes);
    t.rawbody.text.append(raw);
    if (!raw.empty() && raw.back() != '\n') t.rawbody.text += '\n';
  }
  std::string_view data = cap(msg.data(), limits.max_full_bytes);
  t.full.reserve(data.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '\r' && i + 1 < data.size() && data[i + 1] == '\n') continue;
    t.full += data[i];
  }
  build_uri_list(view, t.body.text, limits, uri, t.urls);
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
