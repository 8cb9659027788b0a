// The From parser (filters/auth/from_authors.hpp): a tokenizer that removes CFWS
// (nested comments, quoted pairs, folding) and yields atoms, quoted strings, domain
// literals and specials; then a small recursive-descent parser over the tokens. Both
// work on std::string and vectors, and comment nesting is a counter, not recursion,
// so "((((..." cannot exhaust the stack.
#include "filters/auth/from_authors.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "filters/filter_state.hpp"

namespace mxgate {
namespace {

bool is_atext(unsigned char c) {
  if (c >= 0x80) return true;  // RFC 6532 UTF8-non-ascii; the domain is checked later
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}':
    case '~':
      return true;
    default:
      return false;
  }
}

enum class Tok { Atom, Quoted, Literal, Special, End };

struct Token {
  Tok type = Tok::End;
  std::string text;  // atom text, unquoted string, literal with brackets, or the special
  std::size_t offset = 0;
  bool is(char c) const { return type == Tok::Special && text.size() == 1 && text[0] == c; }
  bool word() const { return type == Tok::Atom || type == Tok::Quoted; }
};

struct ParseError {
  std::string what;
};

class Tokenizer {
 public:
  explicit Tokenizer(std::string_view s) : s_(s) {}

  // Every token, ending with End; or throws ParseError.
  std::vector<Token> run() {
    std::vector<Token> out;
    for (;;) {
      skip_cfws();
      Token t;
      t.offset = i_;
      if (i_ >= s_.size()) {
        out.push_back(t);
        return out;
      }
      auto c = static_cast<unsigned char>(s_[i_]);
      if (is_atext(c)) {
        std::size_t start = i_;
        while (i_ < s_.size() && is_atext(static_cast<unsigned char>(s_[i_]))) ++i_;
        t.type = Tok::Atom;
        t.text = std::string(s_.substr(start, i_ - start));
      } else if (c == '"') {
        t.type = Tok::Quoted;
        t.text = quoted();
      } else if (c == '[') {
        t.type = Tok::Literal;
        t.text = literal();
      } else if (c == '<' || c == '>' || c == '@' || c == ',' || c == ';' || c == ':' || c == '.') {
        t.type = Tok::Special;
        t.text = std::string(1, static_cast<char>(c));
        ++i_;
      } else if (c == ')') {
        fail("unbalanced ')'");
      } else if (c == '\r' || c == '\n') {
        fail("line break that is not folding");
      } else if (c == 0) {
        fail("NUL byte");
      } else {
        fail(std::string("unexpected character '") + (c >= 0x20 && c < 0x7f ? std::string(1, char(c)) : "?") + "'");
      }
      out.push_back(std::move(t));
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ParseError{what + " at offset " + std::to_string(i_)};
  }

  // Folding: CRLF followed by WSP. Returns true and skips the CRLF if at one.
  bool folding() {
    if (i_ + 2 < s_.size() && s_[i_] == '\r' && s_[i_ + 1] == '\n' && (s_[i_ + 2] == ' ' || s_[i_ + 2] == '\t')) {
      i_ += 2;
      return true;
    }
    return false;
  }

  void skip_cfws() {
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == ' ' || c == '\t') {
        ++i_;
      } else if (c == '\r') {
        if (!folding()) return;  // the caller reports it
      } else if (c == '(') {
        comment();
      } else {
        return;
      }
    }
  }

  void comment() {
    std::size_t depth = 0;
    std::size_t start = i_;
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '\\') {
        if (i_ + 1 >= s_.size()) break;
        if (s_[i_ + 1] == '\r' || s_[i_ + 1] == '\n' || s_[i_ + 1] == 0) fail("bad quoted-pair in comment");
        i_ += 2;
        continue;
      }
      if (c == '\r') {
        if (!folding()) fail("line break that is not folding, in a comment");
        continue;
      }
      if (c == '\n' || c == 0) fail("bad character in a comment");
      ++i_;
      if (c == '(') ++depth;
      if (c == ')' && --depth == 0) return;
    }
    i_ = start;
    fail("unterminated comment");
  }

  std::string quoted() {
    std::size_t start = i_;
    std::string out;
    ++i_;  // the opening quote
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '"') {
        ++i_;
        return out;
      }
      if (c == '\\') {
        if (i_ + 1 >= s_.size()) break;
        char q = s_[i_ + 1];
        if (q == '\r' || q == '\n' || q == 0) fail("bad quoted-pair in a quoted string");
        out.push_back(q);
        i_ += 2;
        continue;
      }
      if (c == '\r') {
        if (!folding()) fail("line break that is not folding, in a quoted string");
        continue;
      }
      if (c == '\n' || c == 0) fail("bad character in a quoted string");
      out.push_back(c);
      ++i_;
    }
    i_ = start;
    fail("unterminated quoted string");
  }

  std::string literal() {
    std::size_t start = i_;
    std::string out = "[";
    ++i_;
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == ']') {
        ++i_;
        return out + "]";
      }
      if (c == '[' || c == '\n' || c == 0) fail("bad character in a domain literal");
      if (c == '\\') {  // obs-dtext quoted-pair
        if (i_ + 1 >= s_.size()) break;
        out.push_back(s_[i_ + 1]);
        i_ += 2;
        continue;
      }
      if (c == '\r') {
        if (!folding()) fail("line break that is not folding, in a domain literal");
        continue;
      }
      out.push_back(c);
      ++i_;
    }
    i_ = start;
    fail("unterminated domain literal");
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

struct Address {
  bool group = false;
  std::vector<Address> members;  // a group's mailboxes
  std::string local;
  std::string domain;  // as written, atoms joined with '.'
  bool literal = false;
};

class Parser {
 public:
  explicit Parser(std::vector<Token> t) : t_(std::move(t)) {}

  // address-list with obs-addr-list's empty elements ("a@x, , b@y").
  std::vector<Address> address_list() {
    std::vector<Address> out;
    for (;;) {
      while (peek().is(',')) ++p_;
      if (peek().type == Tok::End) return out;
      out.push_back(address(/*in_group=*/false));
      if (peek().type == Tok::End) return out;
      if (!peek().is(',')) fail("expected ',' or the end after an address");
    }
  }

 private:
  const Token& peek() const { return t_[p_]; }  // the last token is End
  const Token& take() {
    const Token& t = t_[p_];
    if (t.type != Tok::End) ++p_;
    return t;
  }
  [[noreturn]] void fail(const std::string& what) const {
    const Token& t = peek();
    std::string got = t.type == Tok::End ? "the end" : "'" + t.text.substr(0, 40) + "'";
    throw ParseError{what + " (got " + got + " at offset " + std::to_string(t.offset) + ")"};
  }

  // Words and dots: a phrase (display name, obs-phrase) or a local part.
  std::vector<const Token*> words() {
    std::vector<const Token*> out;
    while (peek().word() || peek().is('.')) out.push_back(&take());
    return out;
  }

  Address address(bool in_group) {
    std::vector<const Token*> w = words();
    if (peek().is('<')) {
      if (!w.empty() && !w.front()->word()) fail("display name starts with '.'");
      return angle_addr();
    }
    if (peek().is('@')) return addr_spec_after(w);
    if (peek().is(':')) {
      if (in_group) fail("group inside a group");
      if (w.empty()) fail("group without a name");
      ++p_;
      Address g;
      g.group = true;
      for (;;) {
        while (peek().is(',')) ++p_;
        if (peek().is(';')) {
          ++p_;
          return g;
        }
        if (peek().type == Tok::End) fail("group without ';'");
        g.members.push_back(address(/*in_group=*/true));
        if (peek().type == Tok::End) fail("group without ';'");
        if (!peek().is(',') && !peek().is(';')) fail("expected ',' or ';' in a group");
      }
    }
    if (w.empty()) fail("expected an address");
    fail("address without '@'");
  }

  // local-part (dot-atom, quoted-string or obs-local-part) '@' domain.
  Address addr_spec_after(const std::vector<const Token*>& w) {
    Address a;
    if (w.empty()) fail("address without local part");
    bool last_word = false;
    for (const Token* t : w) {
      // obs-local-part is word *("." word): two words with only CFWS between them are
      // a display name written without <>, as in "Joe" joe@example.com. Dots are
      // allowed anywhere else ("john..doe", "john.") as real mailers send them.
      if (t->word() && last_word) fail("words before an address need <> around the address");
      last_word = t->word();
      a.local += t->text;
    }
    if (a.local.find_first_not_of('.') == std::string::npos) fail("local part without a word");
    ++p_;  // '@'
    domain(a);
    return a;
  }

  // '<' [obs-route] addr-spec '>'
  Address angle_addr() {
    ++p_;  // '<'
    if (peek().is('>')) fail("empty address <>");
    if (peek().is('@') || peek().is(',')) {  // obs-route: "@a.example,@b.example:"
      for (;;) {
        while (peek().is(',')) ++p_;
        if (!peek().is('@')) break;
        ++p_;
        Address ignored;
        domain(ignored);
      }
      if (!peek().is(':')) fail("expected ':' after a source route");
      ++p_;
    }
    std::vector<const Token*> w = words();
    if (!peek().is('@')) fail(w.empty() ? "expected an address after '<'" : "address without '@'");
    Address a = addr_spec_after(w);
    if (!peek().is('>')) fail("expected '>'");
    ++p_;
    return a;
  }

  // dot-atom / obs-domain (atoms and dots, CFWS between them) / domain-literal.
  // One trailing dot is accepted ("example.com."), as the absolute form of the name.
  void domain(Address& a) {
    if (peek().type == Tok::Literal) {
      a.literal = true;
      a.domain = take().text;
      return;
    }
    if (peek().type != Tok::Atom) fail("expected a domain after '@'");
    a.domain = take().text;
    while (peek().is('.')) {
      ++p_;
      if (peek().type != Tok::Atom) {
        if (peek().is('.')) fail("empty label in domain");
        a.domain += '.';  // the trailing dot
        return;
      }
      a.domain += '.';
      a.domain += take().text;
    }
  }

  std::vector<Token> t_;
  std::size_t p_ = 0;
};

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8 (RFC 3629).
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

// One mailbox -> its domain, or why it has none usable.
FromDomain check_mailbox(const Address& a, bool smtputf8) {
  FromDomain out;
  out.local_part = a.local;
  if (a.literal) {
    out.error = "address literal " + a.domain + " in From";
    return out;
  }
  bool eight_bit = false;
  for (unsigned char c : a.domain) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.' || c >= 0x80;
    if (!ok) {
      out.error = "From domain \"" + a.domain + "\" is not a domain name";
      return out;
    }
    eight_bit = eight_bit || c >= 0x80;
  }
  if (eight_bit && !smtputf8) {
    out.error = "8-bit From domain without SMTPUTF8";
    return out;
  }
  if (eight_bit && !valid_utf8(a.domain)) {
    out.error = "From domain is not valid UTF-8";
    return out;
  }
  std::string d = normalize_domain(a.domain);
  if (d.empty()) {
    out.error = "From domain \"" + a.domain.substr(0, 300) + "\" is not a domain name";
    return out;
  }
  out.ok = true;
  out.domain = std::move(d);
  return out;
}

// One field value: its mailboxes (group members included) and, if the field is not
// a plain mailbox-list, why. A field that does not parse has no mailboxes.
struct FieldAuthors {
  std::vector<FromDomain> mailboxes;
  std::string problem;
  bool syntax_error = false;
};

FieldAuthors parse_field(std::string_view value, bool smtputf8) {
  FieldAuthors out;
  std::vector<Address> list;
  try {
    Parser p(Tokenizer(value).run());
    list = p.address_list();
  } catch (const ParseError& e) {
    out.problem = "From syntax error: " + e.what;
    out.syntax_error = true;
    return out;
  }
  if (list.empty()) {
    out.problem = "no address in From";
    return out;
  }
  for (const auto& a : list) {
    if (!a.group) {
      out.mailboxes.push_back(check_mailbox(a, smtputf8));
      continue;
    }
    // RFC 5322 3.6.2 allows no group in From (RFC 6854 only an empty one): a mail
    // client may still show its members, so they are authors too.
    if (out.problem.empty())
      out.problem = "group syntax in From (" + std::to_string(a.members.size()) + " members), not a mailbox list";
    for (const auto& m : a.members) out.mailboxes.push_back(check_mailbox(m, smtputf8));
  }
  return out;
}

}  // namespace

std::vector<std::string> domains_seen_in(std::string_view v) {
  std::vector<std::string> out;
  for (std::size_t at = v.find('@'); at != std::string_view::npos; at = v.find('@', at + 1)) {
    // As a reader's mail client might: white space, line folding and (comments)
    // between the '@' and the name do not hide it.
    std::size_t begin = at + 1;
    for (std::size_t depth = 0; begin < v.size(); ++begin) {
      char c = v[begin];
      if (c == '(') ++depth;
      else if (c == ')' && depth) --depth;
      else if (!depth && c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
    }
    std::size_t end = begin;
    while (end < v.size() && (std::isalnum(static_cast<unsigned char>(v[end])) || v[end] == '.' || v[end] == '-' ||
                              static_cast<unsigned char>(v[end]) >= 0x80))
      ++end;
    std::string d(v.substr(begin, end - begin));
    while (!d.empty() && d.back() == '.') d.pop_back();
    for (char& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!d.empty() && std::find(out.begin(), out.end(), d) == out.end()) out.push_back(std::move(d));
  }
  return out;
}

FromDomain parse_from_domain(std::string_view value, bool smtputf8) {
  FieldAuthors f = parse_field(value, smtputf8);
  FromDomain out;
  if (!f.problem.empty()) {
    out.error = f.problem;
    return out;
  }
  if (f.mailboxes.size() > 1) {
    out.error = std::to_string(f.mailboxes.size()) + " mailboxes in From";
    return out;
  }
  return f.mailboxes.front();
}

std::string normalize_domain(std::string_view domain) {
  std::string d(domain);
  if (!d.empty() && d.back() == '.') d.pop_back();
  if (d.empty() || d.size() > 253) return {};
  std::size_t label = 0;
  for (char& c : d) {
    if (c == '.') {
      if (label == 0) return {};
      label = 0;
      continue;
    }
    if (c == 0) return {};
    if (++label > 63) return {};
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (label == 0) return {};
  return d;
}

std::vector<std::string> FromAuthors::domains() const {
  std::vector<std::string> out;
  auto add = [&out](const std::string& d) {
    if (!d.empty() && std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  };
  for (const auto& m : mailboxes)
    if (m.ok) add(m.domain);
  for (const auto& d : salvaged) add(d);
  return out;
}

FromAuthors from_authors_of(const Message& msg, bool smtputf8) {
  FromAuthors out;
  auto fields = msg.fields("From");
  out.fields = fields.size();
  if (fields.empty()) out.problems.push_back("no From field");
  for (const HeaderField* f : fields) {
    FieldAuthors fa = parse_field(f->value, smtputf8);
    if (!fa.problem.empty()) out.problems.push_back(std::move(fa.problem));
    if (fa.syntax_error) {
      // What a lenient mail client might still show: every name after an '@'.
      for (auto& d : domains_seen_in(f->value))
        if (std::string n = normalize_domain(d); !n.empty()) out.salvaged.push_back(std::move(n));
    }
    for (auto& m : fa.mailboxes) {
      if (!m.ok) out.problems.push_back(m.error);
      out.mailboxes.push_back(std::move(m));
    }
  }
  return out;
}

FromDomain from_domain_of(const Message& msg, bool smtputf8) {
  auto fields = msg.fields("From");
  if (fields.size() != 1) {
    FromDomain out;
    out.error = fields.empty() ? "no From field" : std::to_string(fields.size()) + " From fields";
    return out;
  }
  return parse_from_domain(fields.front()->value, smtputf8);
}

std::string single_author_domain(const FromAuthors& a) {
  if (a.fields != 1 || a.mailboxes.size() != 1 || !a.problems.empty() || !a.mailboxes.front().ok) return {};
  return a.mailboxes.front().domain;
}

std::shared_ptr<const FromAuthors> authors_of(const Envelope& env, const Message& msg) {
  FilterState* st = env.state.get();
  if (st && st->authors && !env.txn_id.empty() && st->authors_txn == env.txn_id) return st->authors;
  auto a = std::make_shared<const FromAuthors>(from_authors_of(msg, env.smtputf8));
  if (st && !env.txn_id.empty()) {
    st->authors_txn = env.txn_id;
    st->authors = a;
  }
  return a;
}

}  // namespace mxgate
