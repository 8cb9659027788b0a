// SpamAssassin's own parse of a message (Message.pm, Message/Node.pm): see
// sa_message.hpp for what it keeps and why.
#include "filters/content/sa_message.hpp"

#include <algorithm>
#include <map>
#include <utility>

#include "base/base64.hpp"
#include "base/text.hpp"
#include "filters/content/eval_tests.hpp"
#include "filters/mime/mime.hpp"
#include "filters/mime/mime_text.hpp"

namespace mxgate::sa {
namespace {

constexpr int kSubparse = 20;                     // Message.pm: MIME levels parsed
constexpr std::size_t kPartsPerMultipart = 1000;  // Message.pm: parts per multipart
constexpr std::size_t kMaxParts = 5000;           // ours: parts in all, memory bound
constexpr std::size_t kMaxBodyLine = 2048;        // MAX_BODY_LINE_LENGTH
constexpr std::size_t kMaxHeaderKey = 256;        // MAX_HEADER_KEY_LENGTH
constexpr std::size_t kMaxHeaderValue = 8192;     // MAX_HEADER_VALUE_LENGTH
constexpr std::size_t kMaxHeaderTotal = 65536;    // MAX_HEADER_LENGTH
constexpr std::size_t kMaxBlankRun = 20;          // Message.pm: blank lines kept

bool is_word(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool all_space(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return is_space(c); });
}

// Splits text into lines at "\n", dropping a CR before it (SpamAssassin turns
// CRLF into LF first); a last line without "\n" keeps nl = false.
void split_lines(std::string_view text, std::vector<Line>& out) {
  out.reserve(out.size() + static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    bool has_nl = nl != std::string_view::npos;
    std::size_t end = has_nl ? nl : text.size();
    std::size_t len = end - pos;
    if (has_nl && len > 0 && text[end - 1] == '\r') --len;
    out.push_back({text.data() + pos, static_cast<std::uint32_t>(len), has_nl});
    pos = has_nl ? nl + 1 : text.size();
  }
}

// Message.pm keeps at most 20 lines of a blank run (21 when the run opens the
// body: its loop stops at the first line before comparing).
void collapse_blank_runs(std::vector<Line>& lines) {
  std::size_t out = 0, i = 0;
  while (i < lines.size()) {
    if (!all_space(lines[i].text())) {
      lines[out++] = lines[i++];
      continue;
    }
    std::size_t j = i;
    while (j < lines.size() && all_space(lines[j].text())) ++j;
    std::size_t keep = std::min(j - i, i == 0 ? kMaxBlankRun + 1 : kMaxBlankRun);
    for (std::size_t k = 0; k < keep; ++k) lines[out++] = lines[i + k];
    i = j;
  }
  lines.resize(out);
}

// A line that starts a header field: /^[\041-\071\073-\176]+[ \t]*:/ (with_wsp) or
// /^[\041-\071\073-\176]+:/.
bool field_start(std::string_view s, bool with_wsp) {
  std::size_t i = 0;
  while (i < s.size() && s[i] >= 33 && s[i] <= 126 && s[i] != ':') ++i;
  if (i == 0) return false;
  if (with_wsp)
    while (i < s.size() && is_wsp(s[i])) ++i;
  return i < s.size() && s[i] == ':';
}

// The lazy parameter value of /\bNAME\s*=\s*["']?(.*?)["']?(?:;|$)/i from `at`
// (just after NAME); nullopt if no "=" follows.
std::optional<std::string> param_value(std::string_view ct, std::size_t at) {
  std::size_t i = at;
  while (i < ct.size() && is_space(ct[i])) ++i;
  if (i >= ct.size() || ct[i] != '=') return std::nullopt;
  ++i;
  while (i < ct.size() && is_space(ct[i])) ++i;
  if (i < ct.size() && (ct[i] == '"' || ct[i] == '\'')) ++i;
  auto at_end = [&](std::size_t k) { return k == ct.size() || (k + 1 == ct.size() && ct[k] == '\n'); };
  for (std::size_t k = i;; ++k) {
    if (k < ct.size() && (ct[k] == '"' || ct[k] == '\'') && (at_end(k + 1) || ct[k + 1] == ';'))
      return std::string(ct.substr(i, k - i));
    if (at_end(k) || ct[k] == ';') return std::string(ct.substr(i, k - i));
    if (ct[k] == '\n') return std::nullopt;  // "." stops at a line break
  }
}

// The first \bNAME (case-insensitive) whose value parses.
std::optional<std::string> find_param(std::string_view ct, std::string_view name) {
  std::string low = lower(ct);
  for (std::size_t p = low.find(name); p != std::string::npos; p = low.find(name, p + 1)) {
    if (p > 0 && is_word(low[p - 1])) continue;
    if (auto v = param_value(ct, p + name.size())) return v;
  }
  return std::nullopt;
}

// /\bboundary\s*=\s*("[^"]+|[^\s";]+(?=[\s;]|$))/i, quotes removed.
std::optional<std::string> find_boundary(std::string_view ct) {
  std::string low = lower(ct);
  for (std::size_t p = low.find("boundary"); p != std::string::npos; p = low.find("boundary", p + 1)) {
    if (p > 0 && is_word(low[p - 1])) continue;
    std::size_t i = p + 8;
    while (i < ct.size() && is_space(ct[i])) ++i;
    if (i >= ct.size() || ct[i] != '=') continue;
    ++i;
    while (i < ct.size() && is_space(ct[i])) ++i;
    std::string out;
    if (i < ct.size() && ct[i] == '"') {
      std::size_t j = i + 1;
      while (j < ct.size() && ct[j] != '"') ++j;
      if (j == i + 1) continue;
      out = std::string(ct.substr(i + 1, j - i - 1));
    } else {
      std::size_t j = i;
      while (j < ct.size() && !is_space(ct[j]) && ct[j] != '"' && ct[j] != ';') ++j;
      if (j == i) continue;
      bool end_ok = j == ct.size() || is_space(ct[j]) || ct[j] == ';';
      if (!end_ok) continue;
      out = std::string(ct.substr(i, j - i));
    }
    out.erase(std::remove(out.begin(), out.end(), '"'), out.end());
    return out;
  }
  return std::nullopt;
}

// The mbox separator SpamAssassin skips: /^From\s+(?!:)/.
bool mbox_from(std::string_view s, bool nl) {
  if (!starts_with(s, "From")) return false;
  std::size_t i = 4;
  while (i < s.size() && is_space(s[i])) ++i;
  std::size_t n = i - 4 + (i == s.size() && nl ? 1 : 0);
  if (n == 0) return false;
  return n >= 2 || i >= s.size() || s[i] != ':';
}

// /\b(?:file)?name\s*=\s*["']?(.*?)["']?(?:;|$)/i, else the RFC 2231 pieces
// /\b(?:file)?name\*(\d+)\s*=.../ joined in order of their numbers.
std::optional<std::string> find_name(std::string_view ct) {
  std::string low = lower(ct);
  auto at_word = [&](std::size_t p) {  // "name" at p, or "filename" ending there, starts a word
    if (p >= 4 && low.compare(p - 4, 4, "file") == 0) p -= 4;
    return p == 0 || !is_word(low[p - 1]);
  };
  std::optional<std::string> plain;
  for (std::size_t p = low.find("name"); p != std::string::npos && !plain; p = low.find("name", p + 1))
    if (at_word(p)) plain = param_value(ct, p + 4);
  if (plain && !plain->empty() && *plain != "0") return plain;
  std::map<int, std::string> pieces;
  bool first = false;
  for (std::size_t p = low.find("name*"); p != std::string::npos; p = low.find("name*", p + 1)) {
    if (!at_word(p)) continue;
    std::size_t i = p + 5, d = i;
    while (i < low.size() && low[i] >= '0' && low[i] <= '9' && i - d < 6) ++i;
    if (i == d) continue;
    int n = std::stoi(std::string(low.substr(d, i - d)));
    if (auto v = param_value(ct, i)) {
      if (n == 0) first = true;
      pieces[n] = *v;
    }
  }
  if (!first) return plain;
  std::string out;
  for (auto& [n, v] : pieces) out += v;
  return out;
}

}  // namespace

bool perl_false(const std::optional<std::string>& s) { return !s || s->empty() || *s == "0"; }

ContentType parse_content_type(const std::optional<std::string>& value) {
  ContentType out;
  std::string ct;
  if (perl_false(value)) {
    out.missing = true;
    ct = "text/plain; charset=us-ascii";
  } else {
    ct = *value;
  }
  out.boundary = find_boundary(ct);
  out.charset = find_param(ct, "charset");
  out.name = find_name(ct);
  // The type: leading space off, cut at ';', keep "something/something".
  std::string_view t = ct;
  std::size_t b = 0;
  while (b < t.size() && is_space(t[b])) ++b;
  t.remove_prefix(b);
  t = t.substr(0, t.find(';'));
  if (!t.empty() && t[0] != '/') {
    std::size_t i = t.find('/');
    if (i != std::string_view::npos) {
      std::size_t j = i + 1;
      while (j < t.size() && t[j] != '/' && !is_space(t[j])) ++j;
      t = t.substr(0, j);
    }
  }
  std::string type = lower(t);
  if (type.empty() || type == "0") out.missing = true;
  bool text_other = starts_with(type, "text") && (type.size() == 4 || !is_word(type[4])) &&
                    type != "text/x-vcard" && type != "text/calendar" && type != "text/html";
  if (type.empty() || type == "0" || text_other) type = "text/plain";
  std::string clean;
  for (char c : type) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) continue;
    if (std::string_view("\"(),:;<=>?@[\\]").find(c) != std::string_view::npos) continue;
    clean += c;
  }
  out.type = std::move(clean);
  return out;
}



// RFC 2045 decoders as Util.pm's, for message/rfc822 parts that are encoded.
std::string qp_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == ' ' || c == '\t') {  // trailing white space of a line goes
      std::size_t j = i;
      while (j < in.size() && (in[j] == ' ' || in[j] == '\t')) ++j;
      bool eol = j == in.size() ? false : (in[j] == '\n' || (in[j] == '\r' && j + 1 < in.size() && in[j + 1] == '\n'));
      if (!eol) out.append(in.substr(i, j - i));
      i = j - 1;
      continue;
    }
    if (c == '=') {
      if (i + 1 < in.size() && in[i + 1] == '\n') { ++i; continue; }
      if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') { i += 2; continue; }
      if (i + 2 < in.size() && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
        out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
        i += 2;
        continue;
      }
    }
    out += c;
  }
  return out;
}

std::string base64_decode(std::string_view in) {
  std::string data;
  data.reserve(in.size());
  for (char c : in)
    if (is_word(c) ? c != '_' : (c == '+' || c == '/' || c == '=')) data += c;
  while (!data.empty() && data.back() == '=') data.pop_back();
  std::string out;
  out.reserve(data.size() * 3 / 4 + 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : data) {
    int v = std::max(base64_value(c), 0);  // an '=' inside the data reads as 'A'
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

using mime_detail::crlf_to_lf;



namespace {

class Walker {
 public:
  explicit Walker(Message& m) : f_(m.flags), nodes(m.parts), buffers_(m.buffers) {}

  void run(std::string_view data) {
    std::vector<Line> lines;
    split_lines(data, lines);
    std::size_t root = new_node();
    start_message(root, std::move(lines), kSubparse, true);
    while (!queue_.empty()) {
      Job job = std::move(queue_.front());
      queue_.pop_front();
      parse(job);
    }
    for (auto& [b, state] : bstate_)
      if (state != 0) f_.missing_boundary = true;
  }

 private:
  ParseFlags& f_;
  std::deque<Part>& nodes;
  std::vector<std::unique_ptr<std::string>>& buffers_;

  struct Job {
    std::size_t node;
    std::optional<std::string> boundary;
    std::vector<Line> body;
    int subparse;
  };

  std::size_t new_node() {
    nodes.emplace_back();
    return nodes.size() - 1;
  }

  // Message->new(): header section, blank runs, the type, then queued for parsing.
  void start_message(std::size_t idx, std::vector<Line> lines, int subparse, bool root) {
    static const char kEmpty[] = "";
    if (lines.empty()) lines.push_back({kEmpty, 0, true});
    std::size_t i = mbox_from(lines[0].text(), lines[0].nl) ? 1 : 0;
    std::size_t n = lines.size();
    int errors = 0;
    std::string header;
    bool have = false;
    std::size_t total = 0;
    bool truncated = false, missing_sep = false;
    auto commit = [&] {
      if (!have) return;
      have = false;
      std::size_t colon = header.find(':');
      if (colon == std::string::npos) return;
      std::string key = header.substr(0, colon);
      while (!key.empty() && is_wsp(key.back())) key.pop_back();
      std::string value = header.substr(colon + 1);
      if (key.size() > kMaxHeaderKey) key.resize(kMaxHeaderKey), truncated = true;
      if (value.size() > kMaxHeaderValue) value.resize(kMaxHeaderValue), truncated = true;
      std::string v = unfold_header_value(value);
      total += key.size() + v.size() + 3;  // get_all_headers: "name: value\n"
      std::string lkey = lower(key);
      nodes[idx].fields.push_back({std::move(key), std::move(lkey), std::move(value), std::move(v)});
    };
    for (;;) {
      bool eof = i == n;
      Line cur = eof ? Line{kEmpty, 0, true} : lines[i];
      if (!eof) ++i;
      std::string_view t = cur.text();
      if (!t.empty() && is_wsp(t[0])) {
        if (!have) header.clear();
        have = true;
        header.append(t);
        if (cur.nl) header += '\n';
        continue;
      }
      commit();
      if (t.empty() && cur.nl) {
        if (eof) missing_sep = true;
        break;
      }
      if (starts_with(t, "--")) {
        missing_sep = true;
        --i;
        break;
      }
      if (!field_start(t, true) && ++errors > 3) {
        missing_sep = true;
        --i;
        break;
      }
      header.assign(t);
      if (cur.nl) header += '\n';
      have = true;
    }
    if (root) {
      f_.missing_head_body_separator = missing_sep;
      f_.truncated_header = truncated || total > kMaxHeaderTotal;
    }
    std::vector<Line> body = std::move(lines);
    body.erase(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(i));
    collapse_blank_runs(body);
    ContentType ct = parse_content_type(nodes[idx].last("content-type"));
    nodes[idx].type = ct.type;
    // Bug 6845: a multipart body that starts with neither a blank line nor its
    // boundary gets a blank line first, so it is not read as part headers.
    if (starts_with(ct.type, "multipart/") && body.size() > 1 && !all_space(body[0].text()) &&
        (!ct.boundary || !starts_with(body[0].text(), "--" + *ct.boundary)))
      body.insert(body.begin(), Line{kEmpty, 0, true});
    queue_.push_back({idx, ct.boundary, std::move(body), subparse});
  }

  void parse(Job& job) {
    if (starts_with(nodes[job.node].type, "multipart/") && job.boundary && job.subparse > 0) {
      parse_multipart(job);
      return;
    }
    // _parse_normal
    Part& node = nodes[job.node];
    ContentType ct = parse_content_type(node.last("content-type"));
    if (!ct.missing) node.type = (!starts_with(ct.type, "multipart/") || job.boundary) ? ct.type : "text/plain";
    node.raw = std::move(job.body);
    std::string type = node.type;
    if (!starts_with(type, "message/") || type == "message/partial" || job.subparse <= 0) return;
    if (type != "message/rfc822" && type != "message/global") return;
    if (nodes.size() >= kMaxParts) return;
    // The part is decoded and parsed as a message of its own.
    std::string cte = lower(node.last("content-transfer-encoding").value_or(""));
    std::vector<Line> lines;
    if (cte == "quoted-printable" || cte == "base64") {
      std::string joined;
      for (const Line& l : node.raw) {
        joined.append(l.text());
        if (l.nl) joined += '\n';
      }
      buffers_.push_back(std::make_unique<std::string>(crlf_to_lf(cte == "base64" ? base64_decode(joined) : qp_decode(joined))));
      split_lines(*buffers_.back(), lines);
    } else {
      lines = node.raw;
    }
    bool empty = std::all_of(lines.begin(), lines.end(), [](const Line& l) { return l.len == 0 && !l.nl; });
    if (empty) return;
    std::size_t sub = new_node();
    nodes[job.node].leaf = false;
    nodes[job.node].raw.clear();
    nodes[job.node].children.push_back(sub);
    start_message(sub, std::move(lines), job.subparse - 1, false);
  }

  // Lines over 2048 bytes become several (each chunk gets a "\n").
  static void push_split(std::vector<Line>& out, Line l) {
    while (l.perl_len() > kMaxBodyLine) {
      out.push_back({l.p, static_cast<std::uint32_t>(kMaxBodyLine), true});
      l.p += kMaxBodyLine;
      l.len -= static_cast<std::uint32_t>(kMaxBodyLine);
    }
    out.push_back(l);
  }

  // /^--BOUNDARY(--)?\s*$/: 0 no, 1 a boundary, 2 the closing one.
  static int boundary_line(std::string_view t, const std::string& b) {
    if (t.size() < b.size() + 2 || t[0] != '-' || t[1] != '-' || t.substr(2, b.size()) != b) return 0;
    std::string_view rest = t.substr(b.size() + 2);
    if (starts_with(rest, "--") && all_space(rest.substr(2))) return 2;
    return all_space(rest) ? 1 : 0;
  }

  void parse_multipart(Job& job) {
    const std::string b = *job.boundary;
    int subparse = job.subparse - 1;
    std::vector<Line>& body = job.body;
    nodes[job.node].leaf = false;
    const std::string parent_type = nodes[job.node].type;

    // The preamble is skipped up to the opening boundary, if there is one.
    std::size_t start = 0;
    for (std::size_t l = 0; l < body.size(); ++l) {
      std::string_view t = body[l].text();
      if (starts_with(t, "--") && boundary_line(t, b) == 1) {
        bstate_[b] = 1;
        if (l + 1 < body.size() && !field_start(body[l + 1].text(), false)) f_.missing_mime_headers = true;
        start = l + 1;
        break;
      }
    }

    std::size_t part = new_node();
    bool in_body = false, have_header = false, have_array = false, nested = false;
    std::string header;
    std::vector<Line> array;
    std::size_t partcnt = 0;
    std::size_t line_count = body.size() - start;

    auto commit_header = [&](std::string* key_out) {
      std::size_t colon = header.find(':');
      if (colon == std::string::npos) return;  // cannot happen: the line matched field_start
      std::size_t v = colon + 1;
      while (v < header.size() && is_space(header[v])) ++v;
      std::string key = lower(std::string_view(header).substr(0, colon));
      std::string_view rest = std::string_view(header).substr(v);
      nodes[part].fields.push_back({header.substr(0, colon), key, std::string(rest), unfold_header_value(rest)});
      if (key_out) *key_out = key;
    };

    for (std::size_t idx = start; idx < body.size(); ++idx) {
      const Line& line = body[idx];
      int kind = boundary_line(line.text(), b);
      bool found_end = kind != 0;
      bool found_last = kind == 2;
      if (found_end && nested) {
        found_end = false;
        if (found_last) nested = false;
      }
      if (--line_count == 0 || found_end) {
        if (!found_end) {
          push_split(array, line);
          have_array = true;
        } else if (have_array && !array.empty()) {
          array.back().nl = false;  // the line break before a boundary is the boundary's
          if (array.back().len == 0) array.pop_back();
        }
        have_array = true;
        ContentType ct = parse_content_type(nodes[part].last("content-type"));
        nodes[part].type = ct.type;
        if (ct.missing && parent_type == "multipart/digest") nodes[part].type = "message/rfc822";
        std::optional<std::string> pb = perl_false(ct.boundary) ? std::optional<std::string>(b) : ct.boundary;
        nodes[job.node].children.push_back(part);
        queue_.push_back({part, std::move(pb), std::move(array), subparse});
        array = {};
        if (found_last) {
          bstate_[b]--;
          break;
        }
        if (line_count && !field_start(body[idx + 1].text(), false)) f_.missing_mime_headers = true;
        if (++partcnt == kPartsPerMultipart || nodes.size() >= kMaxParts) {
          f_.mimepart_limit_exceeded = true;
          return;
        }
        in_body = have_header = have_array = false;
        header.clear();
        part = new_node();
        continue;
      }
      std::string_view t = line.text();
      if (!in_body) {
        if (field_start(t, true)) {
          if (have_header) commit_header(nullptr);
          header.assign(t);
          if (line.nl) header += '\n';
          have_header = true;
          continue;
        }
        if (!t.empty() && is_wsp(t[0]) && have_header) {
          header.append(t);
          if (line.nl) header += '\n';
          continue;
        }
        if (have_header) {
          std::string key;
          commit_header(&key);
          if (key == "content-type") {
            auto inner = parse_content_type(nodes[part].last("content-type")).boundary;
            if (inner && *inner == b) nested = true;
          }
        }
        in_body = true;
        if (t.empty() || t == "\r") continue;
        f_.missing_mime_head_body_separator = true;
      }
      push_split(array, line);
      have_array = true;
    }
    // Anything but white space and dots after the closing boundary is an epilogue.
    for (std::size_t idx = body.size() - line_count; idx < body.size(); ++idx) {
      std::string_view t = body[idx].text();
      if (std::any_of(t.begin(), t.end(), [](char c) { return !is_space(c) && c != '.'; })) {
        f_.mime_epilogue_exists = true;
        break;
      }
    }
  }

  std::deque<Job> queue_;
  std::map<std::string, int, std::less<>> bstate_;  // mime_boundary_state
};


}  // namespace

std::optional<std::string> Part::last(std::string_view key) const {
  for (auto it = fields.rbegin(); it != fields.rend(); ++it)
    if (it->key == key) return it->value;
  return std::nullopt;
}

std::optional<std::string> Part::last_raw(std::string_view key) const {
  for (auto it = fields.rbegin(); it != fields.rend(); ++it)
    if (it->key == key) return it->raw;
  return std::nullopt;
}

std::optional<std::string> Part::get_header(std::string_view key) const {
  for (auto it = fields.rbegin(); it != fields.rend(); ++it)
    if (it->key == key) return decode_header_value(it->value, it->key) + '\n';
  return std::nullopt;
}

std::string Part::all_headers(bool raw) const {
  // Node.pm adds field names in order of first appearance, all values of a name
  // at once, and stops at 64 KB; what was added keeps its place in the order.
  std::vector<std::string> lines(fields.size());
  std::vector<bool> taken(fields.size(), false), done(fields.size(), false);
  std::size_t size = 0;
  bool full = false;
  for (std::size_t i = 0; i < fields.size() && !full; ++i) {
    if (done[i]) continue;
    for (std::size_t j = i; j < fields.size(); ++j) {
      if (fields[j].key != fields[i].key) continue;
      done[j] = true;
      std::string v;
      if (raw) {  // s/\015?\012\s+/ /gs
        const std::string& r = fields[j].raw;
        for (std::size_t k = 0; k < r.size(); ++k) {
          std::size_t nl = r[k] == '\n' ? k : (r[k] == '\r' && k + 1 < r.size() && r[k + 1] == '\n' ? k + 1 : r.npos);
          if (nl != r.npos && nl + 1 < r.size() && is_space(r[nl + 1])) {
            k = nl + 1;
            while (k + 1 < r.size() && is_space(r[k + 1])) ++k;
            v += ' ';
            continue;
          }
          v += r[k];
        }
      } else {
        v = decode_header_value(fields[j].value, fields[j].key) + '\n';
      }
      size += fields[j].key.size() + v.size() + 2;
      if (size > kMaxHeaderTotal) {
        full = true;
        break;
      }
      lines[j] = fields[j].name + ": " + v;
      taken[j] = true;
    }
  }
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (taken[i]) out += lines[i];
  return out;
}

std::string Part::decode() const {
  std::string raw_text;
  for (const Line& l : raw) {
    raw_text.append(l.text());
    if (l.nl) raw_text += '\n';
  }
  std::string cte = lower(last("content-transfer-encoding").value_or(""));
  if (cte == "quoted-printable") return crlf_to_lf(qp_decode(raw_text));
  if (cte == "base64") {
    std::string out = base64_decode(raw_text);
    bool text = type.starts_with("text/") || type.starts_with("message/");
    return text ? crlf_to_lf(std::move(out)) : out;
  }
  return raw_text;
}

std::string Part::name() const {
  // /name=\s*"?([^";]+)"?/i on the decoded Content-Disposition, else the type's name.
  if (auto cd = last("content-disposition")) {
    std::string d = decode_header_value(*cd, "content-disposition");
    std::string low = lower(d);
    for (std::size_t p = low.find("name="); p != std::string::npos; p = low.find("name=", p + 1)) {
      std::size_t i = p + 5;
      while (i < d.size() && is_space(d[i])) ++i;
      if (i < d.size() && d[i] == '"') ++i;
      std::size_t j = i;
      while (j < d.size() && d[j] != '"' && d[j] != ';') ++j;
      if (j > i) return d.substr(i, j - i);
    }
  }
  auto ct = last("content-type");
  auto n = parse_content_type(ct ? std::optional<std::string>(decode_header_value(*ct, "content-type")) : std::nullopt).name;
  return perl_false(n) ? std::string() : *n;
}

std::vector<std::size_t> Message::find_parts() const {
  std::vector<std::size_t> out, stack{0};
  if (parts.empty()) return out;
  while (!stack.empty()) {
    const Part& p = parts[stack.back()];
    std::size_t idx = stack.back();
    stack.pop_back();
    for (auto it = p.children.rbegin(); it != p.children.rend(); ++it) stack.push_back(*it);
    if (!p.type.empty()) out.push_back(idx);
  }
  return out;
}

Message parse(std::string_view data) {
  Message m;
  Walker(m).run(data);
  return m;
}

const Message& message(EvalContext& ctx) {
  return ctx.fact<Message>([&] { return parse(ctx.msg.data()); });
}

}  // namespace mxgate::sa
