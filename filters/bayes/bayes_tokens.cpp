#include "filters/bayes/bayes_tokens.hpp"

#include <algorithm>
#include <array>

#include "base/text.hpp"

namespace mxgate::bayes {
namespace {

// SpamAssassin's measured choices: words under 3 bytes carry no signal worth the
// space; over 15 they are mostly random strings.
constexpr std::size_t kMinWord = 3;
constexpr std::size_t kMaxWord = 15;
constexpr std::size_t kSkipChars = 7;           // "sk:" keeps this many characters
// Received fields read, from the bottom: the hops nearest the origin, which the
// message already carries when it reaches the gateway and still carries in the
// mailbox it is learned from (the hops above are the delivering side's own).
constexpr std::size_t kOriginReceived = 2;
constexpr std::size_t kMaxUrls = 1000;
constexpr std::size_t kMaxHeaderTokens = 10000;  // raw tokens from the header section

bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_high(char c) { return static_cast<unsigned char>(c) >= 0x80; }
bool is_alnum(char c) { return is_upper(c) || is_lower(c) || is_digit(c); }
// What a body word may contain (SpamAssassin keeps , @ * ! _ ' " $ . - in words:
// "$31,000,000", "f*ck", "www.clock-speed.net", "Hits!"), and any non-ASCII byte,
// so that UTF-8 letters stay inside their words.
bool is_word_byte(char c) {
  switch (c) {
    case ',': case '@': case '*': case '!': case '_': case '\'': case '"': case '$': case '.': case '-':
      return true;
    default:
      return is_alnum(c) || is_high(c);
  }
}
bool is_trim_byte(char c) { return c == '-' || c == '\'' || c == '"' || c == '.' || c == ','; }
// Perl's \w under `use bytes`, plus the separators SpamAssassin keeps in decomposed
// forms (':' and '*'); non-ASCII bytes are kept too.
bool is_bare_byte(char c) { return is_alnum(c) || c == '_' || c == ':' || c == '*' || is_high(c); }

std::string_view trim_ends(std::string_view w) {
  while (!w.empty() && is_trim_byte(w.front())) w.remove_prefix(1);
  while (!w.empty() && is_trim_byte(w.back())) w.remove_suffix(1);
  return w;
}

// Length of the UTF-8 sequence that starts with lead byte c (1 for anything else).
std::size_t utf8_len(unsigned char c) {
  if (c >= 0xF0 && c <= 0xF4) return 4;
  if (c >= 0xE0) return c <= 0xEF ? 3 : 1;
  if (c >= 0xC0) return 2;
  return 1;
}

std::uint64_t mix64(std::uint64_t x) {  // splitmix64's finaliser: full avalanche
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// Collects tokens as hashes, bounded; duplicates are removed at the end.
class Sink {
 public:
  Sink(std::size_t max, bool names) : max_(max), names_(names) {}
  bool full() const { return full_; }
  void add(std::string_view prefix, std::string_view tok) {
    if (full_ || tok.empty()) return;
    std::string s;
    s.reserve(prefix.size() + tok.size());
    s.append(prefix).append(tok);
    hashes_.push_back(token_hash(s));
    if (names_) text_.push_back(std::move(s));
    if (hashes_.size() >= 2 * max_ + 64) compact();
  }
  MessageTokens finish() {
    compact();  // sorted by hash, distinct
    MessageTokens out;
    out.hashes = std::move(hashes_);
    out.names = std::move(text_);
    return out;
  }

 private:
  void compact() {
    if (!names_) {
      std::sort(hashes_.begin(), hashes_.end());
      hashes_.erase(std::unique(hashes_.begin(), hashes_.end()), hashes_.end());
    } else {
      // Keep the first text of each hash, in arrival order.
      std::vector<std::size_t> order(hashes_.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return hashes_[a] < hashes_[b]; });
      std::vector<std::uint64_t> h;
      std::vector<std::string> t;
      for (std::size_t i : order) {
        if (!h.empty() && h.back() == hashes_[i]) continue;
        h.push_back(hashes_[i]);
        t.push_back(std::move(text_[i]));
      }
      hashes_ = std::move(h);
      text_ = std::move(t);
    }
    if (hashes_.size() >= max_) {
      hashes_.resize(max_);
      if (names_) text_.resize(max_);
      full_ = true;
    }
  }

  std::size_t max_;
  bool names_;
  bool full_ = false;
  std::vector<std::uint64_t> hashes_;
  std::vector<std::string> text_;
};

// Domain-ish tokens: the name and each parent ("a.b.example.com", "b.example.com",
// "example.com", "com"), so the registrable domain is always among them.
template <typename Emit>
void with_parents(std::string_view name, Emit&& emit) {
  while (!name.empty()) {
    emit(name);
    std::size_t dot = name.find('.');
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
}

template <typename Emit>
void mail_address_tokens(std::string_view addr, Emit&& emit) {
  std::size_t at = addr.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= addr.size()) return;
  emit("U*", addr.substr(0, at));
  with_parents(addr.substr(at + 1), [&](std::string_view d) { emit("D*", d); });
}

// A word over kMaxWord bytes: each 3- and 4-byte UTF-8 character ("u8:"), for
// scripts written without spaces; otherwise "sk:" and its first characters.
template <typename Emit>
bool long_word(std::string_view w, std::string_view prefix, Emit&& emit) {
  bool wide = false;
  auto continuation = [&](std::size_t from, std::size_t n) {
    for (std::size_t k = from + 1; k < from + n; ++k)
      if ((static_cast<unsigned char>(w[k]) & 0xC0) != 0x80) return false;
    return true;
  };
  for (std::size_t i = 0; i < w.size();) {
    std::size_t n = utf8_len(static_cast<unsigned char>(w[i]));
    if (n >= 3 && i + n <= w.size() && continuation(i, n)) {
      emit(prefix, std::string("u8:").append(w.substr(i, n)));
      wide = true;
    }
    i += n;
  }
  if (wide) return true;
  std::size_t end = 0;
  for (std::size_t k = 0; k < kSkipChars && end < w.size(); ++k) end += utf8_len(static_cast<unsigned char>(w[end]));
  if (end + 2 <= w.size()) emit(prefix, std::string("sk:").append(w.substr(0, std::min(end, w.size()))));
  else emit(prefix, w);
  return true;
}

std::string bare(std::string_view w) {
  std::string out;
  for (char c : w)
    if (is_bare_byte(c)) out.push_back(c);
  return out;
}

bool has_upper(std::string_view w) { return std::any_of(w.begin(), w.end(), is_upper); }
bool has_nonbare(std::string_view w) { return !std::all_of(w.begin(), w.end(), is_bare_byte); }

// Splits text into SpamAssassin's word candidates: runs of word bytes, with runs of
// 3 to 6 dots or 2 to 6 dashes between letters cut out as words of their own
// ("wait...what" -> "wait", "...", "what"). `at_start` tells whether the word begins
// a sentence (start of text or line, or after a word ending in a full stop).
template <typename Fn>
void split_words(std::string_view text, Fn&& fn) {
  bool sentence = true;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_word_byte(text[i])) {
      if (text[i] == '\n') sentence = true;
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && is_word_byte(text[j])) ++j;
    std::string_view run = text.substr(i, j - i);
    // Cut at "..." and "--" between word characters.
    std::size_t start = 0;
    for (std::size_t k = 1; k + 1 < run.size(); ++k) {
      char c = run[k];
      if (c != '.' && c != '-') continue;
      std::size_t e = k;
      while (e < run.size() && run[e] == c) ++e;
      std::size_t n = e - k;
      bool cut = (c == '.' ? n >= 3 : n >= 2) && n <= 6 && e < run.size() && is_alnum(run[k - 1]) && is_alnum(run[e]);
      if (cut) {
        fn(run.substr(start, k - start), sentence);
        sentence = false;
        fn(run.substr(k, n), false);
        start = e;
      }
      k = e - 1;
    }
    std::string_view last = run.substr(start);
    fn(last, sentence);
    sentence = !last.empty() && last.back() == '.';  // SpamAssassin: after a full stop
    i = j;
  }
}

// One text of the body region: words, their decompositions, and word pairs.
class BodyTokenizer {
 public:
  BodyTokenizer(Sink& sink, std::size_t window) : sink_(sink), window_(window) {}

  void text(std::string_view t) {
    recent_.clear();
    split_words(t, [&](std::string_view raw, bool at_start) { word(raw, at_start); });
  }

  // The tokens of one word, in SpamAssassin's order.
  template <typename Emit>
  static void word_tokens(std::string_view raw, bool at_start, Emit&& emit, std::string* pair_form) {
    std::string_view w = trim_ends(raw);
    if (w.size() < kMinWord) return;
    std::string tok(w);
    // Title case at the start of a sentence reads as the plain word.
    if (at_start && tok.size() > 1 && is_upper(tok[0]) && !has_upper(std::string_view(tok).substr(1))) tok[0] = static_cast<char>(tok[0] - 'A' + 'a');
    std::size_t at = tok.find('@');
    if (at != std::string::npos && at > 0 && at + 1 < tok.size()) {
      mail_address_tokens(tok, [&](std::string_view p, std::string_view t) { emit(p, t); });
    } else {
      std::size_t dot = tok.find('.');
      while (dot != std::string::npos && (dot == 0 || dot + 1 >= tok.size() || !is_lower(ascii_lower(tok[dot + 1]))))
        dot = tok.find('.', dot + 1);
      if (dot != std::string::npos) with_parents(tok, [&](std::string_view d) { emit("UD:", d); });
    }
    if (tok.size() > kMaxWord && tok.find('*') == std::string::npos) {
      long_word(tok, "", emit);
      return;
    }
    const bool punct = has_nonbare(tok);
    if (punct) emit("", bare(tok));
    if (has_upper(tok)) {
      std::string l = lower(tok);
      emit("", l);
      if (punct) emit("", bare(l));
    }
    emit("", tok);
    if (pair_form) *pair_form = bare(lower(tok));
  }

 private:
  void word(std::string_view raw, bool at_start) {
    std::string pair;
    word_tokens(raw, at_start, [&](std::string_view p, std::string_view t) { sink_.add(p, t); }, &pair);
    if (window_ < 2 || pair.size() < kMinWord) return;
    // Orthogonal sparse bigrams: this word with each of the window's previous words,
    // the distance part of the token.
    for (std::size_t d = 1; d <= recent_.size(); ++d) {
      const std::string& prev = recent_[recent_.size() - d];
      std::string t;
      t.reserve(prev.size() + pair.size() + 4);
      t.append("B").append(std::to_string(d)).append(":").append(prev).append(" ").append(pair);
      sink_.add("", t);
    }
    recent_.push_back(std::move(pair));
    if (recent_.size() >= window_) recent_.erase(recent_.begin());
  }

  Sink& sink_;
  std::size_t window_;
  std::vector<std::string> recent_;
};

// ------------------------------------------------------------------ headers

// Fields that teach the wrong thing: added by filters, lists, mailbox software or
// the delivering server (so they differ between a learned copy and the same
// message arriving here), or dates and sizes (a corpus's age, not its class).
bool ignored_field(std::string_view n) {
  static constexpr std::array<std::string_view, 40> kExact = {
      "sender", "x-sender", "delivered-to", "delivery-date", "envelope-to", "x-envelope-to", "x-original-to",
      "return-path", "subject", "date", "authentication-results", "received-spf", "arc-authentication-results",
      "x-mime-autoconverted", "x-converted-to-plain-text", "mail-followup-to", "x-loop", "x-beenthere",
      "x-mailman-version", "mailing-list", "x-mailing-list", "precedence", "errors-to", "x-virus-scanned",
      "x-virus-status", "x-scanned-by", "x-bogosity", "content-length", "lines", "status", "x-status", "x-flags",
      "x-keywords", "x-uid", "x-uidl", "xref", "x-imapbase", "thread-index", "thread-topic", "content-class"};
  if (std::find(kExact.begin(), kExact.end(), n) != kExact.end()) return true;
  static constexpr std::array<std::string_view, 12> kPrefix = {
      "x-spam", "list-", "x-list", "resent-", "x-original-", "x-mailscanner", "x-antispam", "x-dcc-", "x-vm-",
      "x-bugzilla-", "x-gnus-", "x-unsub"};
  return std::any_of(kPrefix.begin(), kPrefix.end(), [&](std::string_view p) { return n.starts_with(p); });
}

// Fields whose presence is the signal; their values are unique per message.
bool presence_only(std::string_view n) {
  return n == "dkim-signature" || n == "x-google-dkim-signature" || n == "domainkey-signature" || n == "x-face" ||
         n == "autocrypt" || n.starts_with("arc-");
}

bool is_address_field(std::string_view n) {
  return n == "from" || n == "to" || n == "cc" || n == "reply-to" || n == "x-from" || n == "x-to";
}

// A host name: letters, digits, '-' and at least one inner '.'.
bool looks_like_host(std::string_view w) {
  if (w.size() > 253 || w.find('.') == std::string_view::npos || w.front() == '.' || w.back() == '.') return false;
  return std::all_of(w.begin(), w.end(), [](char c) { return is_alnum(c) || c == '-' || c == '.'; });
}

// Tokens of a header value: words split at white space, ends trimmed, long words
// shortened unless they carry a '*' marker (D*example.com) or are host names
// (relays' names are worth their length; SpamAssassin cuts them to 7 characters).
template <typename Emit>
void header_words(std::string_view v, Emit&& emit) {
  split_words(v, [&](std::string_view raw, bool) {
    std::string_view w = trim_ends(raw);
    if (w.size() < kMinWord) return;
    if (w.size() > kMaxWord && w.find('*') == std::string_view::npos && !looks_like_host(w)) long_word(w, "", emit);
    else emit("", w);
  });
}

std::string addresses_chewed(std::string_view v) {
  // Display-name words as N*word, addresses as U*/D* (the same form body addresses
  // get), so a name and an address are never confused.
  std::string out;
  std::string cleaned(v);
  for (char& c : cleaned)
    if (c == '<' || c == '>' || c == '(' || c == ')' || c == ',' || c == ';' || c == '"' || c == '\t' || c == '\r' ||
        c == '\n')
      c = ' ';
  std::size_t i = 0;
  while (i < cleaned.size()) {
    if (cleaned[i] == ' ') { ++i; continue; }
    std::size_t j = cleaned.find(' ', i);
    if (j == std::string::npos) j = cleaned.size();
    std::string_view w(cleaned.data() + i, j - i);
    if (w.find('@') != std::string_view::npos) {
      mail_address_tokens(lower(w), [&](std::string_view p, std::string_view t) {
        out.append(p).append(t).push_back(' ');
      });
    } else if (w.size() >= 2 && w.back() != ':') {
      out.append("N*").append(w).push_back(' ');
    }
    i = j;
  }
  return out;
}

std::string message_id_chewed(std::string_view v) {
  std::string out(v);
  for (char& c : out)
    if (!is_alnum(c) && c != '_') c = ' ';
  return out;
}

// The boundary's shape ("----=_NextPart_000_HHHH_HHHHHHHH.HHHHHHHH"), not its
// random digits; and "text"/"charset", which every message has.
std::string content_type_chewed(std::string_view v) {
  std::string low = lower(v);
  std::string out;
  std::size_t b = low.find("boundary=");
  std::string_view rest(low);
  if (b != std::string::npos) {
    std::string_view bv = std::string_view(v).substr(b + 9);
    char q = !bv.empty() && (bv[0] == '"' || bv[0] == '\'') ? bv[0] : 0;
    if (q) bv.remove_prefix(1);
    std::size_t e = q ? bv.find(q) : bv.find_first_of(" ;\t\r\n");
    if (e != std::string_view::npos) bv = bv.substr(0, e);
    std::string shape;
    for (char c : bv) {
      bool hex = is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
      bool sep = c == '-' || c == '_' || c == '.' || c == '=';
      if (sep && !shape.empty() && shape.back() != ' ' && !(shape.back() == '-' || shape.back() == '_' || shape.back() == '.' || shape.back() == '=')) shape.push_back(' ');
      if (!sep && !shape.empty() && (shape.back() == '-' || shape.back() == '_' || shape.back() == '.' || shape.back() == '=')) shape.push_back(' ');
      shape.push_back(hex ? 'H' : c);
    }
    out.append(low.substr(0, b)).append(" ").append(shape);
  } else {
    out.assign(rest);
  }
  std::string words;
  split_words(out, [&](std::string_view raw, bool) {
    std::string_view w = trim_ends(raw);
    if (w == "text" || w == "charset") return;
    words.append(w).push_back(' ');
  });
  return words;
}

bool looks_like_ipv4(std::string_view w, std::array<std::string_view, 4>* parts) {
  std::size_t n = 0, i = 0;
  while (n < 4) {
    std::size_t j = i;
    while (j < w.size() && is_digit(w[j]) && j - i < 3) ++j;
    if (j == i) return false;
    (*parts)[n++] = w.substr(i, j - i);
    if (n == 4) return j == w.size();
    if (j >= w.size() || w[j] != '.') return false;
    i = j + 1;
  }
  return false;
}

// A Received field's lasting parts: host names and addresses (a /24 and, apart,
// the full address as ip*), without dates, queue ids and the fixed words.
std::string received_chewed(std::string_view v) {
  static constexpr std::array<std::string_view, 12> kDrop = {"from", "by", "with", "for", "via", "smtp", "esmtp",
                                                             "esmtps", "esmtpa", "id", "localhost", "unknown"};
  static constexpr std::array<std::string_view, 19> kDateWords = {
      "mon", "tue", "wed", "thu", "fri", "sat", "sun", "jan", "feb", "mar", "apr",
      "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  std::string out;
  std::string cleaned(v);
  std::size_t semi = cleaned.rfind(';');  // the date follows the last ';'
  if (semi != std::string::npos) cleaned.resize(semi);
  for (char& c : cleaned)
    if (c == '(' || c == ')' || c == '[' || c == ']' || c == '<' || c == '>' || c == ';' || c == '=' || c == '\t' ||
        c == '\r' || c == '\n')
      c = ' ';
  bool after_id = false;
  std::size_t i = 0;
  while (i < cleaned.size()) {
    if (cleaned[i] == ' ') { ++i; continue; }
    std::size_t j = cleaned.find(' ', i);
    if (j == std::string::npos) j = cleaned.size();
    std::string w = lower(std::string_view(cleaned).substr(i, j - i));
    i = j;
    bool was_id = after_id;
    after_id = w == "id";
    if (was_id) continue;  // a queue id
    if (std::find(kDrop.begin(), kDrop.end(), w) != kDrop.end()) continue;
    if (std::find(kDateWords.begin(), kDateWords.end(), w) != kDateWords.end()) continue;
    if (w.find(':') != std::string::npos && std::all_of(w.begin(), w.end(), [](char c) { return is_digit(c) || c == ':'; })) continue;
    std::array<std::string_view, 4> p;
    if (looks_like_ipv4(w, &p)) {
      out.append(p[0]).append(".").append(p[1]).append(".").append(p[2]).append(" ip*").append(w).push_back(' ');
      continue;
    }
    out.append(w).push_back(' ');
  }
  return out;
}

void header_tokens(const MimeView& view, Sink& sink, std::size_t max_bytes) {
  std::size_t emitted = 0, bytes = 0;
  std::size_t received_total = 0, received = 0;
  for (const auto& h : view.headers)
    if (iequals(trim(h.name), "received")) ++received_total;
  auto add = [&](std::string_view prefix, std::string_view value) {
    std::string pre(prefix);
    header_words(value, [&](std::string_view p, std::string_view t) {
      if (emitted >= kMaxHeaderTokens) return;
      ++emitted;
      sink.add(pre + std::string(p), t);
    });
  };
  for (const auto& h : view.headers) {
    if (bytes > max_bytes || emitted >= kMaxHeaderTokens) break;
    std::string n = lower(trim(h.name));
    if (n.empty() || ignored_field(n)) continue;
    bytes += h.decoded.size();
    std::string pre = "H" + n + ":";
    if (n == "received") {
      if (received_total - received++ <= kOriginReceived) add("H*r:", received_chewed(h.raw));
    } else if (presence_only(n)) {
      sink.add(pre, "1");
    } else if (is_address_field(n)) {
      std::string v = addresses_chewed(h.decoded);
      add(pre, v);
      if (n == "from" || n == "to" || n == "cc") add("H*Ad:", v);
    } else if (n == "message-id" || n == "in-reply-to" || n == "references" || n == "x-message-id") {
      std::string v = message_id_chewed(h.raw);
      add(pre, v);
      add("H*MI:", v);
    } else if (n == "content-type") {
      add(pre, content_type_chewed(h.raw));
    } else if (n == "mime-version") {
      std::string v = h.decoded;
      if (trim(v) == "1.0") continue;  // every message says so
      add(pre, v);
    } else {
      add(pre, h.decoded);
      if (n == "x-mailer" || n == "user-agent") add("H*UA:", h.decoded);
    }
  }
}

// ------------------------------------------------------------------ URLs

void url_tokens(const std::vector<std::string>& urls, Sink& sink) {
  std::size_t n = 0;
  for (const auto& u : urls) {
    if (n++ >= kMaxUrls || sink.full()) break;
    std::string_view s(u);
    std::size_t colon = s.find(':');
    std::string scheme = colon == std::string_view::npos ? "" : lower(s.substr(0, colon));
    if (scheme == "mailto") {
      std::string_view addr = s.substr(colon + 1);
      addr = addr.substr(0, addr.find('?'));
      mail_address_tokens(lower(addr), [&](std::string_view p, std::string_view t) { sink.add(p, t); });
      continue;
    }
    std::string host = url_host(s);
    if (host.empty()) continue;
    std::size_t hs = s.find("//");
    std::string_view rest = s.substr(hs + 2);
    std::size_t he = rest.find_first_of("/?#");
    std::string_view path = he == std::string_view::npos ? std::string_view() : rest.substr(he);
    std::array<std::string_view, 4> p;
    if (looks_like_ipv4(host, &p)) {
      sink.add("UH:", host);
      sink.add("UH:ip*", std::string(p[0]) + "." + std::string(p[1]) + "." + std::string(p[2]));
    } else {
      with_parents(host, [&](std::string_view d) { sink.add("UH:", d); });
    }
    sink.add("US:", scheme);
    // The path's words: campaign names and script names recur, ids do not.
    std::string words(path.substr(0, 512));
    for (char& c : words)
      if (!is_alnum(c) && !is_high(c) && c != '_' && c != '-') c = ' ';
    split_words(words, [&](std::string_view raw, bool) {
      std::string_view w = trim_ends(raw);
      if (w.size() < kMinWord) return;
      if (w.size() > kMaxWord) long_word(lower(w), "UP:", [&](std::string_view pp, std::string_view t) { sink.add(pp, t); });
      else sink.add("UP:", lower(w));
    });
  }
}

}  // namespace

std::uint64_t token_hash(std::string_view token) {
  // FNV-1a over the bytes, then a full-avalanche finaliser: fast for short strings,
  // stable everywhere, and well spread for an open-addressing table.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : token) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h = mix64(h ^ token.size());
  return h ? h : 1;
}

std::vector<std::string> body_line_tokens(std::string_view line) {
  std::vector<std::string> out;
  split_words(line, [&](std::string_view raw, bool at_start) {
    BodyTokenizer::word_tokens(raw, at_start, [&](std::string_view p, std::string_view t) {
      out.push_back(std::string(p).append(t));
    }, nullptr);
  });
  return out;
}

MessageTokens tokenize(const MimeView& view, const TokenOptions& opt, bool keep_names) {
  Sink sink(std::max<std::size_t>(opt.max_tokens, 1), keep_names);
  BodyTokenizer body(sink, opt.bigram_window);
  // SpamAssassin's body starts with the Subject.
  std::string subject = view.subject();
  body.text(std::string_view(subject).substr(0, opt.max_text_bytes));
  for (const auto& p : view.text_parts) {
    if (sink.full()) break;
    body.text(std::string_view(p.rendered).substr(0, opt.max_text_bytes));
  }
  url_tokens(view.urls, sink);
  for (const auto& p : view.text_parts) sink.add("MIME:", p.content_type);
  for (const auto& a : view.attachments) {
    sink.add("MIME:", a.content_type);
    std::size_t dot = a.filename.rfind('.');
    if (dot != std::string::npos && a.filename.size() - dot <= 11) sink.add("ATT:", lower(std::string_view(a.filename).substr(dot + 1)));
  }
  header_tokens(view, sink, opt.max_text_bytes);
  return sink.finish();
}

}  // namespace mxgate::bayes
