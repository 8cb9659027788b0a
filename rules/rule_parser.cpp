#include "rules/rule_parser.hpp"
#include "base/text.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>

namespace mxgate::rules {

namespace fs = std::filesystem;

std::string_view scope_name(Scope s) {
  switch (s) {
    case Scope::Header: return "header";
    case Scope::Body: return "body";
    case Scope::RawBody: return "rawbody";
    case Scope::Full: return "full";
    case Scope::Uri: return "uri";
    case Scope::Meta: return "meta";
    case Scope::Eval: return "eval";
  }
  return "?";
}

double default_score(std::string_view name) {
  if (name.starts_with("__")) return 0.0;
  if (name.starts_with("T_")) return 0.01;
  return 1.0;
}

std::string Warning::str() const {
  std::string out = loc.file + ":" + std::to_string(loc.line) + ": ";
  out += rule.empty() ? directive : "rule " + rule;
  return out + ": " + what;
}

std::map<std::string, std::size_t> ParsedRules::warning_counts() const {
  std::map<std::string, std::size_t> out;
  for (const auto& w : warnings) ++out[w.directive];
  return out;
}

std::string HeaderTarget::key() const {
  std::string k = field;
  // SpamAssassin's ALL, ALL-* and MESSAGEID are exact; every other name is a header
  // name (case-insensitive) or a case-insensitive pseudo-header (ToCc, EnvelopeFrom).
  if (field != "ALL" && !field.starts_with("ALL-") && field != "MESSAGEID") {
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
  }
  for (const auto& m : modifiers) k += ":" + m;
  return k;
}

bool ConditionEnv::can(std::string_view what) const {
  // Mail::SpamAssassin::Conf::feature_* of 4.0.1 that concern the rule language we
  // accept (dns_block_rule we do not implement).
  static const std::set<std::string, std::less<>> kFeatures = {
      "Mail::SpamAssassin::Conf::feature_bug6558_free",
      "Mail::SpamAssassin::Conf::feature_capture_rules",
      "Mail::SpamAssassin::Conf::feature_compile_regexp",
      "Mail::SpamAssassin::Conf::feature_yesno_takes_args",
      "Mail::SpamAssassin::Conf::feature_registryboundaries",
      "Mail::SpamAssassin::Conf::feature_blocklist_welcomelist",
      "Mail::SpamAssassin::Conf::feature_welcomelist_blocklist",
      "Mail::SpamAssassin::Conf::feature_header_first_last",
      "Mail::SpamAssassin::Conf::feature_header_match_many",
      "Mail::SpamAssassin::Conf::feature_local_tests_only",
      "Mail::SpamAssassin::Conf::feature_originating_ip_headers",
      "Mail::SpamAssassin::Conf::perl_min_version_5010000",
  };
  if (kFeatures.count(what)) return true;
  // Mail::SpamAssassin::Plugin::X::has_y: only for plugins we implement.
  auto pos = what.rfind("::");
  if (pos != std::string_view::npos && what.starts_with("Mail::SpamAssassin::Plugin::")) {
    std::string_view cls = what.substr(0, pos);
    if (plugins.count(std::string(cls))) return true;
  }
  return false;
}

namespace {

// Splits off the first whitespace-separated word.
std::pair<std::string, std::string> split_word(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  std::string first(s.substr(0, i));
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return {first, std::string(s.substr(i))};
}

std::vector<std::string> split_ws(std::string_view s) {
  std::vector<std::string> out;
  std::istringstream in{std::string(s)};
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// Constants.pm RULENAME_RE: [_a-zA-Z][_a-zA-Z0-9]{0,127}
bool valid_rule_name(std::string_view n) {
  if (n.empty() || n.size() > 128) return false;
  if (!(std::isalpha(static_cast<unsigned char>(n[0])) || n[0] == '_')) return false;
  return std::all_of(n.begin(), n.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

std::optional<double> parse_number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string tmp(s);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(tmp.c_str(), &end);
  if (errno != 0 || end != tmp.c_str() + tmp.size()) return std::nullopt;
  return v;
}

bool is_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

}  // namespace

std::string parse_eval_call(std::string_view text, EvalCall& out) {
  // Conf::Parser: /^eval:(\w+)\((.*)\)$/ then the argument list is Perl; the stock
  // rules only use quoted strings, numbers and bare words, comma separated.
  std::string_view t = trim(text);
  std::size_t i = 0;
  while (i < t.size() && is_word(t[i])) ++i;
  if (i == 0) return "missing function name";
  out.function = std::string(t.substr(0, i));
  std::string_view rest = trim(t.substr(i));
  if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') return "expected " + out.function + "(...)";
  rest = rest.substr(1, rest.size() - 2);
  out.args.clear();
  std::size_t k = 0;
  auto skip_ws = [&] { while (k < rest.size() && std::isspace(static_cast<unsigned char>(rest[k]))) ++k; };
  skip_ws();
  if (k == rest.size()) return "";
  while (true) {
    skip_ws();
    if (k >= rest.size()) return "missing argument after ','";
    std::string arg;
    char q = rest[k];
    if (q == '\'' || q == '"') {
      ++k;
      bool closed = false;
      while (k < rest.size()) {
        char c = rest[k++];
        if (c == q) { closed = true; break; }
        if (c == '\\' && k < rest.size()) {
          char e = rest[k++];
          if (q == '\'') {  // Perl '...': only \\ and \' are escapes
            if (e != '\\' && e != '\'') arg += '\\';
            arg += e;
          } else {
            switch (e) {
              case 'n': arg += '\n'; break;
              case 't': arg += '\t'; break;
              default: arg += e;
            }
          }
          continue;
        }
        arg += c;
      }
      if (!closed) return "unterminated string in arguments";
    } else {
      std::size_t j = k;
      while (j < rest.size() && rest[j] != ',' && !std::isspace(static_cast<unsigned char>(rest[j]))) ++j;
      arg = std::string(rest.substr(k, j - k));
      k = j;
      if (arg.empty()) return "empty argument";
    }
    out.args.push_back(std::move(arg));
    skip_ws();
    if (k == rest.size()) return "";
    if (rest[k] != ',') return "expected ',' between arguments";
    ++k;
  }
}

// ---------------------------------------------------------------------------
// Regex delimiters: Mail::SpamAssassin::Util::compile_regexp($re, 1).

std::vector<std::string> template_tags(std::string_view p) {
  std::vector<std::string> out;
  auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  for (std::size_t i = p.find("%{"); i != std::string_view::npos; i = p.find("%{", i + 1)) {
    if (i > 0 && p[i - 1] == '\\') continue;
    // [A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*(?:\([^)}]*\))?\}
    std::size_t j = i + 2;
    if (j >= p.size() || !upper(p[j])) continue;
    while (j < p.size() && (upper(p[j]) || digit(p[j]) || (p[j] == '_' && j + 1 < p.size() &&
                                                             (upper(p[j + 1]) || digit(p[j + 1])))))
      ++j;
    if (j < p.size() && p[j] == '(') {
      std::size_t k = p.find_first_of(")}", j + 1);
      if (k == std::string_view::npos || p[k] != ')') continue;
      j = k + 1;
    }
    if (j >= p.size() || p[j] != '}') continue;
    std::string name(p.substr(i + 2, j - i - 2));
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
  }
  return out;
}

bool has_capture_groups(std::string_view p) {
  for (std::size_t i = p.find("(?"); i != std::string_view::npos; i = p.find("(?", i + 1)) {
    std::size_t j = i + 2;
    if (j < p.size() && p[j] == 'P') ++j;
    if (j + 1 < p.size() && (p[j] == '<' || p[j] == '\'') && p[j + 1] >= 'A' && p[j + 1] <= 'Z') return true;
  }
  return false;
}

std::string parse_delimited_regex(std::string_view text, RegexSpec& out) {
  std::string re(text);
  std::string delim_end;
  if (re.starts_with("/")) {
    re.erase(0, 1);
    delim_end = "/";
  } else {
    std::size_t prefix = re.starts_with("qr") ? 2 : re.starts_with("m") ? 1 : 0;
    if (prefix == 0 || re.size() <= prefix) return "missing regexp delimiters";
    char d = re[prefix];
    if (d == '{' || d == '(' || d == '<' || d == '[') {
      delim_end = d == '{' ? "}" : d == '(' ? ")" : d == '<' ? ">" : "]";
    } else if (!is_word(d) && !(d & 0x80)) {
      if (d == '\\') return "backslash delimiter not allowed";
      delim_end = std::string(1, d);
    } else {
      return "missing regexp delimiters";
    }
    re.erase(0, prefix + 1);
  }
  // Cut the end delimiter and the modifiers ([a-df-z]*, "e" refused).
  std::size_t mods_start = re.size();
  while (mods_start > 0) {
    char c = re[mods_start - 1];
    if (c >= 'a' && c <= 'z' && c != 'e') --mods_start;
    else break;
  }
  // Perl's regex backtracks over the modifier letters; the delimiter must sit
  // right before the longest modifier run that leaves one.
  bool found = false;
  for (std::size_t m = mods_start; m <= re.size(); ++m) {
    if (m >= delim_end.size() && re.compare(m - delim_end.size(), delim_end.size(), delim_end) == 0) {
      out.modifiers = re.substr(m);
      re.resize(m - delim_end.size());
      found = true;
      break;
    }
  }
  if (!found) return "invalid end delimiter/mods";
  if (re.find("(?{") != std::string::npos || re.find("(??{") != std::string::npos) {
    return "eval (?{}) found";
  }
  if (delim_end != "}" && delim_end != ")" && delim_end != "]") {
    // An unescaped end delimiter inside the pattern (after removing "\\" pairs).
    std::string s;
    for (std::size_t i = 0; i < re.size(); ++i) {
      if (re[i] == '\\' && i + 1 < re.size() && re[i + 1] == '\\') { ++i; continue; }
      s += re[i];
    }
    for (std::size_t i = s.find(delim_end); i != std::string::npos; i = s.find(delim_end, i + 1)) {
      if (i == 0 || s[i - 1] != '\\') return "unquoted delimiter '" + delim_end + "' found";
    }
  }
  for (char c : out.modifiers) {
    switch (c) {
      case 'i': out.caseless = true; break;
      case 'm': out.multiline = true; break;
      case 's': out.dotall = true; break;
      case 'x': out.extended = true; break;
      // Match-neutral here: g and o (no effect on a qr//), n (no captures),
      // p (${^MATCH}), and the charset modifiers a, u, d, l (bytes are matched
      // as bytes either way; \d \w \s stay ASCII).
      case 'g': case 'o': case 'n': case 'p': case 'a': case 'u': case 'd': case 'l': break;
      default: return std::string("unknown regexp modifier '") + c + "'";
    }
  }
  out.pattern = re;
  return {};
}

// ---------------------------------------------------------------------------
// Meta expressions.

namespace {

struct MetaParser {
  std::vector<std::string> toks;
  std::size_t pos = 0;
  std::string err;

  bool lex(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
      char c = s[i];
      if (std::isspace(static_cast<unsigned char>(c))) { ++i; continue; }
      if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
        std::size_t j = i;
        while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
        toks.emplace_back(s.substr(i, j - i));
        i = j;
        continue;
      }
      if (is_word(c)) {
        std::size_t j = i;
        while (j < s.size() && is_word(s[j])) ++j;
        toks.emplace_back(s.substr(i, j - i));
        i = j;
        continue;
      }
      static const char* kOps[] = {"&&", "||", ">=", "<=", "==", "!=", "!", ">", "<", "(", ")", "+", "-", "*", "/"};
      bool ok = false;
      for (const char* op : kOps) {
        std::string_view o(op);
        if (s.substr(i, o.size()) == o) { toks.emplace_back(o); i += o.size(); ok = true; break; }
      }
      if (!ok) { err = std::string("unexpected character '") + c + "' in meta expression"; return false; }
    }
    return true;
  }
  const std::string* peek() const { return pos < toks.size() ? &toks[pos] : nullptr; }
  bool accept(std::string_view t) {
    if (pos < toks.size() && toks[pos] == t) { ++pos; return true; }
    return false;
  }
  static MetaNode bin(MetaNode::Kind k, MetaNode a, MetaNode b) {
    MetaNode n; n.kind = k; n.kids.push_back(std::move(a)); n.kids.push_back(std::move(b)); return n;
  }
  // Perl precedence: ! and unary - > * / > + - > < > <= >= > == != > && > ||
  MetaNode parse_or() {
    MetaNode l = parse_and();
    while (err.empty() && accept("||")) l = bin(MetaNode::Kind::Or, std::move(l), parse_and());
    return l;
  }
  MetaNode parse_and() {
    MetaNode l = parse_eq();
    while (err.empty() && accept("&&")) l = bin(MetaNode::Kind::And, std::move(l), parse_eq());
    return l;
  }
  MetaNode parse_eq() {
    MetaNode l = parse_rel();
    while (err.empty()) {
      if (accept("==")) l = bin(MetaNode::Kind::Eq, std::move(l), parse_rel());
      else if (accept("!=")) l = bin(MetaNode::Kind::Ne, std::move(l), parse_rel());
      else break;
    }
    return l;
  }
  MetaNode parse_rel() {
    MetaNode l = parse_add();
    while (err.empty()) {
      if (accept(">=")) l = bin(MetaNode::Kind::Ge, std::move(l), parse_add());
      else if (accept("<=")) l = bin(MetaNode::Kind::Le, std::move(l), parse_add());
      else if (accept(">")) l = bin(MetaNode::Kind::Gt, std::move(l), parse_add());
      else if (accept("<")) l = bin(MetaNode::Kind::Lt, std::move(l), parse_add());
      else break;
    }
    return l;
  }
  MetaNode parse_add() {
    MetaNode l = parse_mul();
    while (err.empty()) {
      if (accept("+")) l = bin(MetaNode::Kind::Add, std::move(l), parse_mul());
      else if (accept("-")) l = bin(MetaNode::Kind::Sub, std::move(l), parse_mul());
      else break;
    }
    return l;
  }
  MetaNode parse_mul() {
    MetaNode l = parse_unary();
    while (err.empty()) {
      if (accept("*")) l = bin(MetaNode::Kind::Mul, std::move(l), parse_unary());
      else if (accept("/")) l = bin(MetaNode::Kind::Div, std::move(l), parse_unary());
      else break;
    }
    return l;
  }
  MetaNode parse_unary() {
    MetaNode n;
    if (accept("!")) { n.kind = MetaNode::Kind::Not; n.kids.push_back(parse_unary()); return n; }
    if (accept("-")) { n.kind = MetaNode::Kind::Neg; n.kids.push_back(parse_unary()); return n; }
    if (accept("+")) return parse_unary();
    const std::string* t = peek();
    if (!t) { if (err.empty()) err = "meta expression ends early"; return n; }
    if (accept("(")) {
      n = parse_or();
      if (err.empty() && !accept(")")) err = "missing ')' in meta expression";
      return n;
    }
    if (std::isdigit(static_cast<unsigned char>((*t)[0])) || (*t)[0] == '.') {
      auto v = parse_number(*t);
      if (!v) { err = "bad number '" + *t + "' in meta expression"; return n; }
      n.kind = MetaNode::Kind::Number; n.number = *v; ++pos; return n;
    }
    if (is_word((*t)[0])) {
      if (pos + 1 < toks.size() && toks[pos + 1] == "(") {
        err = "function '" + *t + "(...)' in meta expression is not supported";
        return n;
      }
      n.kind = MetaNode::Kind::Rule; n.rule = *t; ++pos; return n;
    }
    err = "unexpected '" + *t + "' in meta expression";
    return n;
  }
};

}  // namespace

std::string parse_meta_expression(std::string_view text, MetaNode& out) {
  MetaParser p;
  if (!p.lex(text)) return p.err;
  if (p.toks.empty()) return "empty meta expression";
  out = p.parse_or();
  if (p.err.empty() && p.pos != p.toks.size()) p.err = "unexpected '" + p.toks[p.pos] + "' in meta expression";
  return p.err;
}

// ---------------------------------------------------------------------------
// ReplaceTags (Plugin/ReplaceTags.pm, finish_parsing_end).

namespace {

// First match of the Perl regex /$start(.+?)$end/ at or after `from`: returns
// [begin, end) of the whole match and the captured name, or npos.
struct TagMatch { std::size_t begin = std::string::npos, end = 0; std::string inner; };
TagMatch find_tag(const std::string& s, const std::string& start, const std::string& end,
                  std::size_t from = 0, std::string_view after_start = {}) {
  std::string open = start + std::string(after_start);
  for (std::size_t i = s.find(open, from); i != std::string::npos; i = s.find(open, i + 1)) {
    std::size_t body = i + open.size();
    // (.+?): at least one character, no newline, then the first `end`.
    for (std::size_t j = body + 1; j + end.size() <= s.size(); ++j) {
      if (s[j - 1] == '\n') break;
      if (s.compare(j, end.size(), end) == 0) {
        return {i, j + end.size(), s.substr(body, j - body)};
      }
    }
  }
  return {};
}

// split(/(<[^<>]+>)/, $re): keeps the separators, keeps a leading empty field,
// drops trailing empty fields.
std::vector<std::string> perl_split_tags(const std::string& s) {
  std::vector<std::string> out;
  std::size_t last = 0, i = 0;
  while (i < s.size()) {
    if (s[i] == '<') {
      std::size_t j = i + 1;
      while (j < s.size() && s[j] != '<' && s[j] != '>') ++j;
      if (j < s.size() && s[j] == '>' && j > i + 1) {
        out.push_back(s.substr(last, i - last));
        out.push_back(s.substr(i, j + 1 - i));
        last = i = j + 1;
        continue;
      }
    }
    ++i;
  }
  out.push_back(s.substr(last));
  while (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

bool perl_true(const std::string* v) { return v && !v->empty() && *v != "0"; }

const std::string* lookup(const std::map<std::string, std::string>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? nullptr : &it->second;
}

}  // namespace

std::string replace_tags(const std::string& re_in, const ReplaceTagConfig& cfg) {
  const std::string& start = cfg.start;
  const std::string& end = cfg.end;
  std::string re = re_in;
  int passes = 0;
  bool doagain = false;
  do {
    std::optional<std::string> pre_name, post_name, inter_name;
    doagain = false;
    auto take = [&](std::string_view which, std::optional<std::string>& name) {
      TagMatch m = find_tag(re, start, end, 0, which);
      if (m.begin != std::string::npos) {
        name = m.inner;
        re.erase(m.begin, m.end - m.begin);
      }
    };
    take("pre ", pre_name);
    take("post ", post_name);
    take("inter ", inter_name);

    std::vector<std::string> parts = perl_split_tags(re);
    if (pre_name && !pre_name->empty()) {
      const std::string* pre = lookup(cfg.pre, *pre_name);
      if (perl_true(pre)) {
        for (auto& p : parts) {  // s{($start.+?$end)}{$pre$1}: first match only
          TagMatch m = find_tag(p, start, end);
          if (m.begin != std::string::npos) p.insert(m.begin, *pre);
        }
      }
    }
    if (post_name && !post_name->empty()) {
      const std::string* post = lookup(cfg.post, *post_name);
      if (perl_true(post)) {
        for (auto& p : parts) {  // s{($start.+?$end)}{$1$post}g
          std::string out;
          std::size_t from = 0;
          for (TagMatch m = find_tag(p, start, end); m.begin != std::string::npos;
               m = find_tag(p, start, end, from)) {
            out += p.substr(from, m.end - from) + *post;
            from = m.end;
          }
          p = out + p.substr(from);
        }
      }
    }
    if (inter_name && !inter_name->empty()) {
      const std::string* inter = lookup(cfg.inter, *inter_name);
      if (perl_true(inter)) {
        for (auto& p : parts) if (p.empty()) p = *inter;  // s{^$}{$inter}
      }
    }
    for (auto& p : parts) {
      TagMatch m = find_tag(p, start, end);
      if (m.begin == std::string::npos || m.inner.empty() || m.inner == "0") continue;
      const std::string* replacement = lookup(cfg.tag, m.inner);
      if (!perl_true(replacement)) continue;
      std::string whole = start + m.inner + end, out;
      std::size_t from = 0;
      for (std::size_t k = p.find(whole); k != std::string::npos; k = p.find(whole, from)) {
        out += p.substr(from, k - from) + *replacement;
        from = k + whole.size();
      }
      p = out + p.substr(from);
      // $replacement =~ /<[^>]+>/
      if (!doagain) {
        std::size_t lt = replacement->find('<');
        while (lt != std::string::npos) {
          std::size_t gt = replacement->find('>', lt + 1);
          if (gt != std::string::npos && gt > lt + 1) { doagain = true; break; }
          lt = replacement->find('<', lt + 1);
        }
      }
    }
    re.clear();
    for (const auto& p : parts) re += p;
    ++passes;
  } while (doagain && passes <= 5);
  return re;
}

// ---------------------------------------------------------------------------
// The parser proper.

namespace {

struct IfFrame {
  bool outer_skip = false;  // skip state before this block
  int line = 0;
  std::string type;
  std::string missing_plugin;  // `ifplugin X` that turned skipping on: X
};

// Directives that define a rule (for the count of rules in skipped plugin blocks).
bool defines_rule(std::string_view key) {
  static const std::set<std::string, std::less<>> kRuleKeys = {
      "header", "body", "rawbody", "full", "uri", "meta", "mimeheader", "uri_detail", "askdns", "urirhssub",
      "urirhsbl", "uridnsbl", "uridnssub", "hashbl", "header_reuse", "full_reuse"};
  return kRuleKeys.count(key) > 0;
}

class Parser {
 public:
  explicit Parser(const ParseOptions& opt) : opt_(opt) {}

  void parse_file(const fs::path& path, int depth, const SourceLoc* from) {
    if (depth > opt_.max_include_depth) {
      error(from ? *from : SourceLoc{path.string(), 0}, "include", "includes nested deeper than " +
            std::to_string(opt_.max_include_depth) + " (a loop?)");
      return;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      if (from) error(*from, "include", "cannot read " + path.string());
      else error({path.string(), 0}, "", "cannot read rule file");
      return;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    parse_text(ss.str(), path.string(), depth);
  }

  void parse_text(const std::string& text, const std::string& file, int depth) {
    ++out_.stats.files;
    std::vector<IfFrame> ifs;
    bool skip = false;
    int lineno = 0;
    std::size_t p = 0;
    while (p <= text.size()) {
      std::size_t nl = text.find('\n', p);
      std::string line = text.substr(p, nl == std::string::npos ? std::string::npos : nl - p);
      p = nl == std::string::npos ? text.size() + 1 : nl + 1;
      ++lineno;
      ++out_.stats.lines;
      SourceLoc loc{file, lineno};
      // Comments: s/(?<!\\)#.*$//; s/\\#/#/g
      if (line.find('#') != std::string::npos) {
        for (std::size_t i = 0; i < line.size(); ++i) {
          if (line[i] == '#' && (i == 0 || line[i - 1] != '\\')) { line.resize(i); break; }
        }
        std::string un;
        for (std::size_t i = 0; i < line.size(); ++i) {
          if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '#') continue;
          un += line[i];
        }
        line = std::move(un);
      }
      line = std::string(trim(line));
      if (line.empty()) continue;
      if (line.starts_with("lang") && line.size() > 4 && std::isspace(static_cast<unsigned char>(line[4]))) {
        // SpamAssassin reads `lang xx` lines only when $LANG starts with xx; under
        // LANG=C (en_US) none of the stock translations apply.
        ++out_.stats.lang_lines;
        continue;
      }
      auto [key, value] = split_word(line);
      std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
      std::replace(key.begin(), key.end(), '-', '_');

      if (key == "endif") {
        if (!value.empty()) { error(loc, key, "'endif' must be standalone"); continue; }
        if (ifs.empty()) { error(loc, key, "missing starting 'if' for 'endif'"); continue; }
        skip = ifs.back().outer_skip;
        ifs.pop_back();
        continue;
      }
      if (key == "if" || key == "ifplugin") {
        if (value.empty()) { error(loc, key, "missing '" + key + "' condition"); continue; }
        ifs.push_back({skip, lineno, key, {}});
        if (!skip) {
          std::string err;
          bool v = key == "ifplugin" ? opt_.env.plugins.count(std::string(trim(value))) > 0 : eval_condition(value, err);
          if (!err.empty()) error(loc, key, err);
          if (!v) {
            skip = true;
            if (key == "ifplugin") ifs.back().missing_plugin = std::string(trim(value));
          }
        }
        continue;
      }
      if (key == "else") {
        if (!value.empty()) { error(loc, key, "'else' must be standalone"); continue; }
        if (ifs.empty()) { error(loc, key, "'else' missing starting if"); continue; }
        skip = ifs.back().outer_skip ? true : !skip;
        if (!skip) ifs.back().missing_plugin.clear();  // the else branch of a missing plugin runs
        continue;
      }
      if (skip) {
        ++out_.stats.skipped_by_conditionals;
        // A rule of a plugin mxgate does not implement: counted per plugin, so that
        // `rules lint` says what is waiting (network tests, Bayes, ...).
        if (defines_rule(key))
          for (const auto& f : ifs)
            if (!f.missing_plugin.empty()) {
              ++out_.stats.rules_of_missing_plugins[f.missing_plugin];
              break;
            }
        continue;
      }
      if (key == "include") {
        if (value.empty()) { error(loc, key, "missing 'include' value"); continue; }
        fs::path inc(value);
        if (inc.is_relative()) inc = fs::path(file).parent_path() / inc;
        parse_file(inc, depth + 1, &loc);
        continue;
      }
      directive(loc, key, value);
    }
    for (const auto& f : ifs) {
      error({file, f.line}, f.type, "unclosed '" + f.type + "' at end of file");
    }
  }

  ParsedRules finish() {
    // ReplaceTags, after all files (finish_parsing_end). Only regex rules qualify.
    for (const auto& [name, loc] : replace_rules_) {
      auto it = out_.index.find(name);
      if (it == out_.index.end() || !out_.rules[it->second].is_regex()) {
        warn(loc, "replace_rules", name, "replace requested for a non-existing or non-regex rule");
        continue;
      }
      Rule& r = out_.rules[it->second];
      // qr_to_string(qr/(?mods)re/aa) on Perl >= 5.14 reads "(?aa)(?mods)re": the
      // prefix matters, because it keeps split() from yielding a leading empty
      // field (so replace_inter never lands before the first tag).
      std::string prefix = "(?aa)" + (r.regex.modifiers.empty() ? "" : "(?" + r.regex.modifiers + ")");
      std::string expanded = replace_tags(prefix + r.regex.pattern, tags_);
      if (expanded.starts_with(prefix)) expanded.erase(0, prefix.size());
      if (expanded != r.regex.pattern) {
        r.regex.pattern = expanded;
        r.replaced_tags = true;
        ++out_.stats.tag_expansions;
      }
    }
    // Scores, descriptions, tflags and priorities may come before or after the rule.
    for (auto& r : out_.rules) {
      r.scores.fill(default_score(r.name));
      if (auto s = scores_.find(r.name); s != scores_.end()) { r.scores = s->second; r.has_score = true; }
      if (auto d = describes_.find(r.name); d != describes_.end()) r.describe = d->second;
      if (r.is_regex()) {
        r.templates = template_tags(r.regex.pattern);
        // Capture rules run first (priority -10000) so that their tags are set
        // before any rule reads them; an explicit priority line still wins.
        r.captures = has_capture_groups(r.regex.pattern);
        if (r.captures) r.priority = -10000;
      }
      if (auto p = priorities_.find(r.name); p != priorities_.end()) r.priority = p->second;
      if (auto t = tflags_.find(r.name); t != tflags_.end()) {
        r.tflags = t->second;
        for (const auto& f : r.tflags) {
          if (f == "nice") r.nice = true;
          else if (f == "multiple") r.multiple = true;
          else if (f == "nosubject") r.nosubject = true;
          else if (f.starts_with("maxhits=")) r.maxhits = std::atoi(f.c_str() + 8);
        }
      }
      // Conf::Parser: an unscored `nice` rule defaults to -1 (-0.01 for T_), so a
      // list-manager sign such as MAILING_LIST_MULTI counts for the message.
      if (!r.has_score && r.nice)
        for (double& v : r.scores) v = -v;
      r.score = r.scores[kSetLocal];
    }
    // Meta references. SpamAssassin only warns about an undefined dependency and
    // evaluates it as 0; so do we.
    for (auto& r : out_.rules) {
      if (r.scope != Scope::Meta) continue;
      std::function<void(MetaNode&)> resolve = [&](MetaNode& n) {
        if (n.kind == MetaNode::Kind::Rule) {
          auto it = out_.index.find(n.rule);
          if (it != out_.index.end()) {
            n.rule_index = static_cast<int>(it->second);
          } else if (out_.unsupported_rules.count(n.rule)) {
            warn(r.loc, "meta dependency", r.name, "depends on unsupported rule " + n.rule + " (counts as 0)");
          } else {
            warn(r.loc, "meta dependency", r.name, "depends on undefined rule " + n.rule + " (counts as 0)");
          }
        }
        for (auto& k : n.kids) resolve(k);
      };
      resolve(r.meta);
    }
    check_meta_cycles();
    return std::move(out_);
  }

  std::vector<ConfigError> errors;

 private:
  void error(const SourceLoc& loc, const std::string& key, const std::string& what) {
    errors.push_back({loc.file, loc.line, key, what});
  }
  void rule_error(const SourceLoc& loc, const std::string& rule, const std::string& what) {
    error(loc, "rule " + rule, what);
  }
  void warn(const SourceLoc& loc, const std::string& directive, const std::string& rule, const std::string& what) {
    out_.warnings.push_back({loc, directive, rule, what});
  }

  // `if` expressions: Conf::Parser::handle_conditional's tokens, evaluated here.
  bool eval_condition(const std::string& text, std::string& err) {
    std::vector<std::string> toks;
    std::size_t i = 0;
    while (i < text.size()) {
      char c = text[i];
      if (std::isspace(static_cast<unsigned char>(c))) { ++i; continue; }
      if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
        std::size_t j = i;
        while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) ++j;
        toks.push_back(text.substr(i, j - i)); i = j; continue;
      }
      if (is_word(c)) {
        std::size_t j = i;
        while (j < text.size() && (is_word(text[j]) || text[j] == ':')) ++j;
        toks.push_back(text.substr(i, j - i)); i = j; continue;
      }
      static const char* kOps[] = {"&&", "||", ">=", "<=", "==", "!=", "!", ">", "<", "(", ")"};
      bool ok = false;
      for (const char* op : kOps) {
        std::string_view o(op);
        if (std::string_view(text).substr(i, o.size()) == o) { toks.emplace_back(o); i += o.size(); ok = true; break; }
      }
      if (!ok) { err = "unparseable condition '" + text + "'"; return false; }
    }
    std::size_t pos = 0;
    std::function<double()> parse_or, parse_and, parse_cmp, parse_unary;
    auto accept = [&](std::string_view t) { if (pos < toks.size() && toks[pos] == t) { ++pos; return true; } return false; };
    parse_unary = [&]() -> double {
      if (!err.empty()) return 0;
      if (accept("!")) return parse_unary() != 0 ? 0 : 1;
      if (accept("(")) { double v = parse_or(); if (!accept(")")) err = "missing ')' in condition"; return v; }
      if (pos >= toks.size()) { err = "condition ends early"; return 0; }
      std::string t = toks[pos++];
      if (t == "version") return opt_.env.version;
      if (t == "perl_version") return opt_.env.perl_version;
      if (t == "local_tests_only") return opt_.env.local_tests_only ? 1 : 0;
      if (t == "plugin" || t == "can" || t == "has") {
        if (!accept("(") || pos >= toks.size()) { err = "expected '(' after " + t; return 0; }
        std::string arg = toks[pos++];
        if (!accept(")")) { err = "missing ')' after " + t + "(" + arg; return 0; }
        // Renames done by handle_conditional.
        if (arg == "Mail::SpamAssassin::Plugin::Dmarc") arg = "Mail::SpamAssassin::Plugin::DMARC";
        if (arg == "Mail::SpamAssassin::Plugin::WhiteListSubject") arg = "Mail::SpamAssassin::Plugin::WelcomeListSubject";
        if (t == "plugin") return opt_.env.plugins.count(arg) ? 1 : 0;
        return opt_.env.can(arg) ? 1 : 0;
      }
      if (auto v = parse_number(t)) return *v;
      err = "unparseable value '" + t + "' in condition";
      return 0;
    };
    parse_cmp = [&]() -> double {
      double l = parse_unary();
      while (err.empty()) {
        if (accept(">=")) l = l >= parse_unary();
        else if (accept("<=")) l = l <= parse_unary();
        else if (accept(">")) l = l > parse_unary();
        else if (accept("<")) l = l < parse_unary();
        else if (accept("==")) l = l == parse_unary();
        else if (accept("!=")) l = l != parse_unary();
        else break;
      }
      return l;
    };
    parse_and = [&]() -> double {
      double l = parse_cmp();
      while (err.empty() && accept("&&")) { double r = parse_cmp(); l = (l != 0 && r != 0); }
      return l;
    };
    parse_or = [&]() -> double {
      double l = parse_and();
      while (err.empty() && accept("||")) { double r = parse_and(); l = (l != 0 || r != 0); }
      return l;
    };
    double v = parse_or();
    if (err.empty() && pos != toks.size()) err = "unexpected '" + toks[pos] + "' in condition";
    return err.empty() && v != 0;
  }

  Rule& define(const SourceLoc& loc, const std::string& name, Scope scope) {
    out_.unsupported_rules.erase(name);
    auto it = out_.index.find(name);
    if (it != out_.index.end()) {
      // SpamAssassin: a later definition replaces the earlier one (Conf::Parser::add_test).
      ++out_.stats.redefinitions;
      Rule& r = out_.rules[it->second];
      r = Rule{};
      r.name = name; r.scope = scope; r.loc = loc;
      return r;
    }
    out_.index.emplace(name, out_.rules.size());
    Rule& r = out_.rules.emplace_back();
    r.name = name; r.scope = scope; r.loc = loc;
    return r;
  }

  void unsupported(const SourceLoc& loc, const std::string& directive, const std::string& name,
                   const std::string& what) {
    // A rule replaced by something we cannot run no longer exists for us.
    if (auto it = out_.index.find(name); it != out_.index.end()) {
      Rule& r = out_.rules[it->second];
      r.scope = Scope::Meta;  // an always-0 meta keeps indices stable
      r.meta = MetaNode{};
      r.meta_text = "0";
      r.loc = loc;
    }
    out_.unsupported_rules.insert(name);
    warn(loc, directive, name, what);
  }

  // `KEY NAME eval:function(args)`: a Scope::Eval rule if the caller runs the
  // function, else unsupported (metas read it as 0), counted per function.
  void eval_rule(const SourceLoc& loc, const std::string& key, const std::string& name, const std::string& call,
                 Scope target) {
    EvalCall ev;
    ev.target = target;
    if (std::string err = parse_eval_call(call, ev); !err.empty()) {
      rule_error(loc, name, "invalid eval test '" + call + "': " + err);
      return;
    }
    if (!opt_.eval_supported || ev.function == kMimeHeaderEval || ev.function == kUriDetailEval ||
        !opt_.eval_supported(ev.function, target)) {
      ++out_.unsupported_evals[ev.function];
      unsupported(loc, key + " eval:", name, "eval function " + ev.function + " is not implemented");
      return;
    }
    Rule& r = define(loc, name, Scope::Eval);
    r.eval = std::move(ev);
  }

  // MIMEHeader.pm's set_config: /^([^:\s]+(?:\:(?:raw)?)?)\s*([=!]~)\s*(.+)$/, then
  // `[if-unset: X]` off the end of the pattern.
  void mimeheader_rule(const SourceLoc& loc, const std::string& value) {
    std::string name, rest;
    if (!rule_name(loc, "mimeheader", value, name, rest)) return;
    std::size_t i = 0;
    while (i < rest.size() && rest[i] != ':' && !is_space(rest[i])) ++i;
    std::string field = rest.substr(0, i);
    if (i < rest.size() && rest[i] == ':') {
      ++i;
      if (rest.compare(i, 3, "raw") == 0) i += 3, field += ":raw";
    }
    std::size_t j = i;
    while (j < rest.size() && is_space(rest[j])) ++j;
    bool op_ok = j + 1 < rest.size() && (rest[j] == '=' || rest[j] == '!') && rest[j + 1] == '~';
    if (field.empty() || !op_ok) {
      rule_error(loc, name, "invalid mimeheader test '" + rest + "' (expected 'Field[:raw] =~ /regexp/')");
      return;
    }
    std::string op = rest.substr(j, 2);
    std::string pattern(trim(std::string_view(rest).substr(j + 2)));
    std::string if_unset;
    if (pattern.ends_with("]")) {
      std::size_t k = pattern.rfind("[if-unset:");
      if (k != std::string::npos && k > 0 && is_space(pattern[k - 1]) && k + 10 < pattern.size() &&
          is_space(pattern[k + 10])) {
        if_unset = std::string(trim(std::string_view(pattern).substr(k + 10, pattern.size() - k - 11)));
        pattern = std::string(trim(std::string_view(pattern).substr(0, k)));
      }
    }
    RegexSpec re;
    if (std::string err = parse_delimited_regex(pattern, re); !err.empty()) {
      rule_error(loc, name, "invalid regexp '" + pattern + "': " + err);
      return;
    }
    Rule& r = define(loc, name, Scope::Eval);
    r.eval.target = Scope::Body;
    r.eval.function = std::string(kMimeHeaderEval);
    r.eval.args = {field, op, pattern, if_unset};
  }

  // URIDetail.pm's set_config: criteria found by
  // m{\b(\w+)\b\s*([\=\!]\~)\s*((?:/.*?/|m(\W).*?\4)[imsx]*)(?=\s|$)}g over the
  // rest of the line; an unknown key or a bad regexp makes the rule invalid.
  void uri_detail_rule(const SourceLoc& loc, const std::string& value) {
    std::string name, rest;
    if (!rule_name(loc, "uri_detail", value, name, rest)) return;
    static const char* kCriterion = R"(\b(\w+)\b\s*([\=\!]\~)\s*((?:/.*?/|m(\W).*?\4)[imsx]*)(?=\s|$))";
    int code = 0;
    PCRE2_SIZE off = 0;
    static pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kCriterion), PCRE2_ZERO_TERMINATED, 0, &code,
                                          &off, nullptr);
    static const char* kKeys[] = {"raw", "type", "cleaned", "text", "domain", "host"};
    // Another line for the same name adds to its criteria, as URIDetail.pm keeps
    // them per name and key ($conf->{uri_detail}{NAME}{key}).
    auto& found = uri_detail_criteria_[name];  // key -> (op, /re/)
    auto before = found;
    std::size_t added = 0;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(re, nullptr);
    std::string err;
    for (PCRE2_SIZE at = 0; at <= rest.size();) {
      int rc = pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(rest.data()), rest.size(), at, 0, md, nullptr);
      if (rc < 0) break;
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      auto group = [&](int g) { return rest.substr(ov[2 * g], ov[2 * g + 1] - ov[2 * g]); };
      std::string key = group(1), op = group(2), pattern = group(3);
      at = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
      if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
        err = "unknown uri_detail key '" + key + "' (raw, type, cleaned, text, domain or host)";
        break;
      }
      RegexSpec spec;
      if (std::string e = parse_delimited_regex(pattern, spec); !e.empty()) {
        err = "invalid regexp '" + pattern + "': " + e;
        break;
      }
      found[key] = {op, pattern};
      ++added;
    }
    pcre2_match_data_free(md);
    if (err.empty() && added == 0)
      err = "no criteria (expected 'key =~ /regexp/ ...')";
    if (!err.empty()) {
      found = std::move(before);
      rule_error(loc, name, err);
      return;
    }
    Rule& r = define(loc, name, Scope::Eval);
    r.eval.target = Scope::Body;
    r.eval.function = std::string(kUriDetailEval);
    for (const char* k : kKeys)
      if (auto it = found.find(k); it != found.end())
        r.eval.args.insert(r.eval.args.end(), {k, it->second.first, it->second.second});
  }

  // header/body/rawbody/full/uri/meta: "NAME rest", NAME checked like add_test.
  bool rule_name(const SourceLoc& loc, const std::string& key, const std::string& value,
                 std::string& name, std::string& rest) {
    std::tie(name, rest) = split_word(value);
    if (name.empty()) { error(loc, key, "missing rule name"); return false; }
    if (!valid_rule_name(name)) {
      rule_error(loc, name, "invalid rule name (letters, digits and _, not starting with a digit, at most 128)");
      return false;
    }
    if (rest.empty()) { rule_error(loc, name, "missing value for '" + key + "'"); return false; }
    return true;
  }

  void directive(const SourceLoc& loc, const std::string& key, const std::string& value) {
    static const std::map<std::string, Scope, std::less<>> kRegexScopes = {
        {"body", Scope::Body}, {"rawbody", Scope::RawBody}, {"full", Scope::Full}, {"uri", Scope::Uri}};
    std::string name, rest;
    if (auto sc = kRegexScopes.find(key); sc != kRegexScopes.end()) {
      if (!rule_name(loc, key, value, name, rest)) return;
      if (rest.starts_with("eval:")) {
        eval_rule(loc, key, name, rest.substr(5), sc->second);
        return;
      }
      RegexSpec re;
      if (std::string err = parse_delimited_regex(rest, re); !err.empty()) {
        rule_error(loc, name, "invalid regexp '" + rest + "': " + err);
        return;
      }
      Rule& r = define(loc, name, sc->second);
      r.regex = std::move(re);
      return;
    }
    if (key == "header") {
      if (!rule_name(loc, key, value, name, rest)) return;
      if (rest.starts_with("eval:")) {
        eval_rule(loc, key, name, rest.substr(5), Scope::Header);
        return;
      }
      if (rest.starts_with("rbleval:")) {
        eval_rule(loc, key, name, rest.substr(8), Scope::Header);
        return;
      }
      HeaderTarget h;
      if (rest.starts_with("exists:")) {
        std::string hdr = rest.substr(7);
        if (!hdr.empty() && hdr.back() == ':') hdr.pop_back();
        bool ok = !hdr.empty() && std::all_of(hdr.begin(), hdr.end(), [](char c) { return is_word(c) || c == '.' || c == '-'; });
        if (!ok) { rule_error(loc, name, "invalid header name in 'exists:" + rest.substr(7) + "'"); return; }
        h.field = hdr;
        h.exists_test = true;
        Rule& r = define(loc, name, Scope::Header);
        r.header = std::move(h);
        return;
      }
      // ^([\w.-]+(?:\:|(?:\:[a-z]+){1,2})?)\s*([=!]~)\s*(.+)$
      std::size_t i = 0;
      while (i < rest.size() && (is_word(rest[i]) || rest[i] == '.' || rest[i] == '-')) ++i;
      if (i == 0) { rule_error(loc, name, "invalid header test '" + rest + "'"); return; }
      h.field = rest.substr(0, i);
      while (i < rest.size() && rest[i] == ':') {
        std::size_t j = i + 1;
        while (j < rest.size() && rest[j] >= 'a' && rest[j] <= 'z') ++j;
        if (j > i + 1) h.modifiers.push_back(rest.substr(i + 1, j - i - 1));
        i = j;
      }
      while (i < rest.size() && std::isspace(static_cast<unsigned char>(rest[i]))) ++i;
      if (rest.compare(i, 2, "=~") != 0 && rest.compare(i, 2, "!~") != 0) {
        rule_error(loc, name, "invalid header test '" + rest + "' (expected Field =~ /re/ or exists:Field)");
        return;
      }
      h.negate = rest[i] == '!';
      i += 2;
      while (i < rest.size() && std::isspace(static_cast<unsigned char>(rest[i]))) ++i;
      std::string pat = rest.substr(i);
      if (h.modifiers.size() > 2) { rule_error(loc, name, "at most two header modifiers"); return; }
      static const std::set<std::string, std::less<>> kMods = {"raw", "addr", "name", "host", "domain",
                                                                 "ip", "revip", "first", "last"};
      for (const auto& m : h.modifiers) {
        if (!kMods.count(m)) { rule_error(loc, name, "invalid header modifier ':" + m + "'"); return; }
      }
      // \s+\[if-unset:\s+(.+)\]$
      if (auto k = pat.rfind("[if-unset:"); k != std::string::npos && pat.back() == ']' && k > 0 &&
          std::isspace(static_cast<unsigned char>(pat[k - 1]))) {
        h.has_if_unset = true;
        h.if_unset = std::string(trim(pat.substr(k + 10, pat.size() - k - 11)));
        pat = std::string(trim(pat.substr(0, k)));
      }
      if (pat.empty()) { rule_error(loc, name, "missing regexp in header test"); return; }
      RegexSpec re;
      if (std::string err = parse_delimited_regex(pat, re); !err.empty()) {
        rule_error(loc, name, "invalid regexp '" + pat + "': " + err);
        return;
      }
      // Synthetic headers SpamAssassin builds from its trust-path analysis of the
      // Received chain (the content filter's relays.hpp provides them): ALL-TRUSTED,
      // ALL-UNTRUSTED, ALL-INTERNAL, ALL-EXTERNAL exactly, X-Spam-Relays-Trusted,
      // -Untrusted, -Internal, -External in any case. Other ALL-* names we do not know.
      static const std::set<std::string, std::less<>> kTrustPath = {
          "ALL-TRUSTED", "ALL-UNTRUSTED", "ALL-INTERNAL", "ALL-EXTERNAL",
          "x-spam-relays-trusted", "x-spam-relays-untrusted", "x-spam-relays-internal", "x-spam-relays-external"};
      const bool all_star = h.field.starts_with("ALL-");
      if ((all_star && !kTrustPath.count(h.field)) ||
          (istarts_with(h.field, "X-Spam-Relays-") && !kTrustPath.count(lower(h.field)))) {
        unsupported(loc, "header pseudo-field", name, "pseudo-header " + h.field + " is not one SpamAssassin defines");
        return;
      }
      Rule& r = define(loc, name, Scope::Header);
      r.header = std::move(h);
      r.regex = std::move(re);
      return;
    }
    if (key == "meta") {
      if (!rule_name(loc, key, value, name, rest)) return;
      MetaNode node;
      if (std::string err = parse_meta_expression(rest, node); !err.empty()) {
        if (err.find("is not supported") != std::string::npos) {
          unsupported(loc, "meta function", name, err);
        } else {
          rule_error(loc, name, err);
        }
        return;
      }
      Rule& r = define(loc, name, Scope::Meta);
      r.meta = std::move(node);
      r.meta_text = rest;
      return;
    }
    if (key == "score") {
      auto w = split_ws(value);
      if (w.size() < 2) { error(loc, key, "score needs a rule name and a value"); return; }
      if (w.size() != 2 && w.size() != 5) {
        rule_error(loc, w[0], "score takes one or four values");
        return;
      }
      std::array<double, kScoreSets> set{};
      for (std::size_t k = 1; k < w.size(); ++k) {
        std::string v = w[k];
        if (v.starts_with("(") && v.ends_with(")")) {
          // A relative score "(n)" adds to the previous one; SpamAssassin uses this in
          // user_prefs. Treat as absolute and say so.
          if (k == 1) warn(loc, "score (relative)", w[0], "relative score " + v + " taken as absolute");
          v = v.substr(1, v.size() - 2);
        }
        auto n = parse_number(v);
        if (!n) { rule_error(loc, w[0], "bad score '" + w[k] + "'"); return; }
        if (w.size() == 2) set.fill(*n);
        else set[k - 1] = *n;
      }
      scores_[w[0]] = set;
      return;
    }
    if (key == "describe") {
      auto [n, text] = split_word(value);
      if (n.empty()) { error(loc, key, "missing rule name"); return; }
      describes_[n] = text;
      return;
    }
    if (key == "tflags") {
      auto w = split_ws(value);
      if (w.empty()) { error(loc, key, "missing rule name"); return; }
      tflags_[w[0]] = std::vector<std::string>(w.begin() + 1, w.end());
      return;
    }
    if (key == "priority") {
      auto w = split_ws(value);
      if (w.size() != 2 || !parse_number(w[1])) { error(loc, key, "priority needs a rule name and an integer"); return; }
      priorities_[w[0]] = static_cast<int>(*parse_number(w[1]));
      return;
    }
    if (key == "replace_tag" || key == "replace_pre" || key == "replace_inter" || key == "replace_post") {
      auto [n, v] = split_word(value);
      if (n.empty() || v.empty()) { error(loc, key, "needs a tag name and an expression"); return; }
      auto& m = key == "replace_tag" ? tags_.tag : key == "replace_pre" ? tags_.pre
              : key == "replace_inter" ? tags_.inter : tags_.post;
      m[n] = v;
      return;
    }
    if (key == "replace_rules") {
      auto w = split_ws(value);
      if (w.empty()) { error(loc, key, "missing rule names"); return; }
      for (const auto& n : w) replace_rules_.emplace(n, loc);  // first request keeps its line
      return;
    }
    if (key == "replace_start" || key == "replace_end") {
      if (value.empty()) { error(loc, key, "missing value"); return; }
      (key == "replace_start" ? tags_.start : tags_.end) = value;
      return;
    }
    if (key == "mimeheader" && opt_.eval_supported && opt_.eval_supported(kMimeHeaderEval, Scope::Body)) {
      mimeheader_rule(loc, value);
      return;
    }
    if (key == "uri_detail" && opt_.eval_supported && opt_.eval_supported(kUriDetailEval, Scope::Body)) {
      uri_detail_rule(loc, value);
      return;
    }
    if (opt_.keep_settings.count(key)) {
      out_.settings.push_back({loc, key, value});
      return;
    }
    // Rule types of plugins we do not implement: the rule exists in SpamAssassin,
    // so metas that use it get "unsupported" rather than "undefined". (A type the
    // eval tests read as a setting, urirhssub, was kept just above.)
    static const std::set<std::string, std::less<>> kPluginRuleTypes = {
        "mimeheader", "uri_detail", "askdns", "urirhssub", "urirhsbl", "uridnsbl", "uridnssub",
        "check_rbl", "hashbl", "dns_block_rule", "header_reuse", "full_reuse"};
    if (kPluginRuleTypes.count(key)) {
      auto [n, r] = split_word(value);
      if (valid_rule_name(n) && key != "dns_block_rule") {
        unsupported(loc, key, n, "'" + key + "' rules are not supported");
      } else {
        warn(loc, key, "", "'" + key + "' is not supported");
      }
      return;
    }
    if (key == "test" || key == "reuse") {
      // Rule self-tests and mass-check rule reuse: no effect on matching.
      warn(loc, key, split_word(value).first, "'" + key + "' has no effect in mxgate");
      return;
    }
    warn(loc, key, "", "setting '" + key + "' is not used by mxgate");
  }

  void check_meta_cycles() {
    // 0 = unvisited, 1 = on the stack, 2 = done.
    std::vector<int> state(out_.rules.size(), 0);
    // The rule that closes a cycle is reported, once.
    std::set<std::size_t> reported;
    std::function<void(std::size_t)> visit = [&](std::size_t i) {
      state[i] = 1;
      std::function<void(const MetaNode&)> walk = [&](const MetaNode& n) {
        if (n.kind == MetaNode::Kind::Rule && n.rule_index >= 0) {
          auto j = static_cast<std::size_t>(n.rule_index);
          if (out_.rules[j].scope == Scope::Meta) {
            if (state[j] == 1 && reported.insert(j).second) {
              rule_error(out_.rules[j].loc, out_.rules[j].name, "meta rule depends on itself (circular dependency)");
            } else if (state[j] == 0) {
              visit(j);
            }
          }
        }
        for (const auto& k : n.kids) walk(k);
      };
      walk(out_.rules[i].meta);
      state[i] = 2;
    };
    for (std::size_t i = 0; i < out_.rules.size(); ++i) {
      if (state[i] == 0 && out_.rules[i].scope == Scope::Meta) visit(i);
    }
  }

  const ParseOptions& opt_;
  ParsedRules out_;
  ReplaceTagConfig tags_;
  std::map<std::string, SourceLoc> replace_rules_;
  std::map<std::string, std::array<double, kScoreSets>> scores_;
  std::map<std::string, std::string> describes_;
  std::map<std::string, std::vector<std::string>> tflags_;
  std::map<std::string, int> priorities_;
  std::map<std::string, std::map<std::string, std::pair<std::string, std::string>>> uri_detail_criteria_;
};

Result<ParsedRules> finish(Parser& p) {
  ParsedRules rules = p.finish();
  Result<ParsedRules> res;
  res.errors = std::move(p.errors);
  if (res.errors.empty()) res.value = std::move(rules);
  return res;
}

}  // namespace

Result<ParsedRules> parse_rule_files(const std::vector<fs::path>& files, const ParseOptions& opt) {
  Parser p(opt);
  for (const auto& f : files) p.parse_file(f, 0, nullptr);
  return finish(p);
}

std::vector<fs::path> rule_files_in(const fs::path& dir, std::error_code& ec) {
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".cf" && it->is_regular_file(ec)) files.push_back(it->path());
  }
  // Perl's default sort: byte order of the names.
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    return a.filename().string() < b.filename().string();
  });
  return files;
}

Result<ParsedRules> parse_rule_dir(const fs::path& dir, const ParseOptions& opt) {
  std::error_code ec;
  std::vector<fs::path> files = rule_files_in(dir, ec);
  if (ec) {
    Result<ParsedRules> res;
    res.errors.push_back({dir.string(), 0, "", "cannot read rule directory: " + ec.message()});
    return res;
  }
  return parse_rule_files(files, opt);
}

Result<ParsedRules> parse_rule_text(std::string_view text, const std::string& file_name, const ParseOptions& opt) {
  Parser p(opt);
  p.parse_text(std::string(text), file_name, 0);
  return finish(p);
}

Result<ParsedRules> parse_rule_texts(const std::vector<std::pair<std::string, std::string>>& files,
                                     const ParseOptions& opt) {
  Parser p(opt);
  for (const auto& [name, text] : files) p.parse_text(text, name, 0);
  return finish(p);
}

}  // namespace mxgate::rules
