// Compiling a RuleSet, once, at load time: the engine ladder for each pattern
// (rule_compiler.hpp), the Hyperscan databases per scope, and reuse of compiled scopes
// from this process's memory or the disk cache (rule_cache.cpp). Scanning is
// rule_scan.cpp; counts and `rules lint` are rule_lint.cpp.
#include "rules/rule_compiler.hpp"
#include "rules/rule_capture.hpp"
#include "rules/rule_cache.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <hs/hs.h>
#include <pcre2.h>
#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>

namespace mxgate::rules {

void HsDatabaseDeleter::operator()(hs_database* db) const { hs_free_database(db); }
void Pcre2CodeDeleter::operator()(pcre2_real_code_8* c) const { pcre2_code_free(c); }
void Pcre2MatchContextDeleter::operator()(pcre2_real_match_context_8* c) const { pcre2_match_context_free(c); }
void Re2Deleter::operator()(re2::RE2* r) const { delete r; }

std::string strip_extended(std::string_view p) {
  std::string out;
  out.reserve(p.size());
  bool in_class = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\') {
      out += c;
      if (i + 1 < p.size()) out += p[++i];
      continue;
    }
    if (in_class) {
      if (c == '[' && i + 1 < p.size() && (p[i + 1] == ':' || p[i + 1] == '.' || p[i + 1] == '=')) {
        // POSIX [:alpha:] inside a class: copy through the closing ":]".
        std::size_t close = p.find(std::string{p[i + 1], ']'}, i + 2);
        if (close != std::string_view::npos) {
          out.append(p.substr(i, close + 2 - i));
          i = close + 1;
          continue;
        }
      }
      out += c;
      if (c == ']') in_class = false;
      continue;
    }
    if (c == '[') {
      out += c;
      in_class = true;
      // A ']' right after '[' or '[^' is a literal member.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') continue;
    if (c == '#') {
      while (i + 1 < p.size() && p[i + 1] != '\n') ++i;
      continue;
    }
    if (c == '(' && p.substr(i, 3) == "(?#") {
      std::size_t close = p.find(')', i);
      if (close == std::string_view::npos) { out.append(p.substr(i)); break; }
      i = close;
      continue;
    }
    out += c;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Pattern shape: how large a pattern becomes once its counted repeats are unrolled
// (what Hyperscan builds from), and a looser form for prefilter use only.

namespace {

constexpr std::size_t kShapeCap = std::size_t{1} << 40;  // sizes saturate here
constexpr int kShapeMaxDepth = 200;

std::size_t sat_add(std::size_t a, std::size_t b) { return std::min(kShapeCap, a + b); }
std::size_t sat_mul(std::size_t a, std::size_t b) {
  if (a == 0 || b == 0) return 0;
  return a > kShapeCap / b ? kShapeCap : std::min(kShapeCap, a * b);
}

// A recursive walk over Perl/PCRE syntax that copies the pattern, counting each
// atom once per copy Hyperscan would make of it (X{1,3} is three copies of X) and,
// where `relax_above` allows, writing a costly counted repeat X{m,n} (n >= 2, X
// copied more than relax_above positions in all) as X* or X+. That only widens what
// the pattern matches: every match of the original is a match of the looser form,
// with the same parse. Atomic groups and possessive quantifiers become plain ones
// for the same reason (an atomic parse is a valid plain parse). Inside a negative
// lookaround a wider language would narrow the whole, so nothing there is touched.
// A construct the walk does not know (conditionals, recursion, \Q...\E, verbs)
// stops it: the shape is then "unknown" and the pattern is used as written.
class ShapeWalker {
 public:
  ShapeWalker(std::string_view p, std::size_t relax_above) : p_(p), relax_above_(relax_above) {}
  bool run(std::size_t& size, std::string& out) {
    out.reserve(p_.size());
    size = alternation(out, true, 0);
    return ok_ && i_ == p_.size();
  }

 private:
  std::string_view p_;
  std::size_t relax_above_;
  std::size_t i_ = 0;
  bool ok_ = true;

  bool at(char c, std::size_t ahead = 0) const { return i_ + ahead < p_.size() && p_[i_ + ahead] == c; }
  static bool digit(char c) { return c >= '0' && c <= '9'; }

  std::size_t alternation(std::string& out, bool relax, int depth) {
    if (depth > kShapeMaxDepth) {
      ok_ = false;
      return 0;
    }
    std::size_t total = 0, branch = 0;
    while (ok_ && i_ < p_.size() && p_[i_] != ')') {
      if (p_[i_] == '|') {
        total = sat_add(total, branch);
        branch = 0;
        out += '|';
        ++i_;
        continue;
      }
      std::size_t s = atom(out, relax, depth);
      if (!ok_) break;
      branch = sat_add(branch, quantifier(out, s, relax));
    }
    return sat_add(total, branch);
  }

  // {n}, {n,}, {n,m} as Perl and PCRE2 read them (anything else: a literal '{').
  bool braces(std::size_t& lo, std::size_t& hi, bool& unbounded, std::size_t& len) const {
    std::size_t j = i_ + 1, n = p_.size();
    auto number = [&](std::size_t& v) {
      std::size_t start = j;
      v = 0;
      while (j < n && digit(p_[j]) && j - start < 9) v = v * 10 + static_cast<std::size_t>(p_[j++] - '0');
      return j > start && (j >= n || !digit(p_[j]));
    };
    if (!number(lo)) return false;
    unbounded = false;
    hi = lo;
    if (j < n && p_[j] == ',') {
      ++j;
      if (j < n && p_[j] == '}') unbounded = true;
      else if (!number(hi)) return false;
    }
    if (j >= n || p_[j] != '}') return false;
    len = j + 1 - i_;
    return true;
  }

  std::size_t quantifier(std::string& out, std::size_t s, bool relax) {
    std::size_t start = i_, lo = 0, hi = 0, len = 0;
    bool unbounded = false, counted = false;
    if (at('*')) { lo = 0; unbounded = true; len = 1; }
    else if (at('+')) { lo = 1; unbounded = true; len = 1; }
    else if (at('?')) { lo = 0; hi = 1; len = 1; }
    else if (at('{') && braces(lo, hi, unbounded, len)) counted = true;
    else return s;
    i_ += len;
    bool possessive = false;
    if (at('?')) ++i_;
    else if (at('+')) { ++i_; possessive = true; }
    if (at('*') || at('+') || at('?') || (at('{') && braces(lo, hi, unbounded, len))) {
      ok_ = false;  // a quantifier of a quantifier: let the engines judge
      return 0;
    }
    std::size_t copies = unbounded ? std::max<std::size_t>(lo, 1) : hi;
    std::size_t size = sat_mul(s, copies);
    if (relax && counted && (unbounded ? lo : hi) >= 2 && size > relax_above_) {
      out += lo == 0 ? '*' : '+';
      return s;
    }
    std::string_view q = p_.substr(start, i_ - start);
    if (relax && possessive) q.remove_suffix(1);
    out.append(q);
    return size;
  }

  std::size_t atom(std::string& out, bool relax, int depth) {
    char c = p_[i_];
    switch (c) {
      case '\\': return escape(out);
      case '[': return char_class(out);
      case '(': return group(out, relax, depth);
      case '*': case '+': case '?':
        ok_ = false;
        return 0;
      case '^': case '$':
        out += c;
        ++i_;
        return 0;
      default:
        out += c;
        ++i_;
        return 1;
    }
  }

  std::size_t escape(std::string& out) {
    std::size_t start = i_++;
    if (i_ >= p_.size()) { ok_ = false; return 0; }
    char e = p_[i_++];
    auto skip_to = [&](char close) {
      std::size_t end = p_.find(close, i_);
      if (end == std::string_view::npos) ok_ = false;
      else i_ = end + 1;
    };
    if (e == 'Q' || e == 'E') {
      ok_ = false;
      return 0;
    }
    if ((e == 'x' || e == 'o' || e == 'p' || e == 'P' || e == 'N' || e == 'g' || e == 'k') && at('{')) skip_to('}');
    else if (e == 'k' && at('<')) skip_to('>');
    else if (e == 'k' && at('\'')) skip_to('\'');
    else if (e == 'x') { for (int k = 0; k < 2 && i_ < p_.size() && std::isxdigit(static_cast<unsigned char>(p_[i_])); ++k) ++i_; }
    else if (e == 'c') { if (i_ < p_.size()) ++i_; else ok_ = false; }
    else if (e == 'g') { if (at('-')) ++i_; while (i_ < p_.size() && digit(p_[i_])) ++i_; }
    else if (digit(e)) { while (i_ < p_.size() && digit(p_[i_])) ++i_; }
    out.append(p_.substr(start, i_ - start));
    return std::string_view("bBAzZGK").find(e) == std::string_view::npos ? 1 : 0;
  }

  std::size_t char_class(std::string& out) {
    std::size_t start = i_++;
    if (at('^')) ++i_;
    if (at(']')) ++i_;
    while (i_ < p_.size()) {
      char c = p_[i_];
      if (c == '\\') { i_ += 2; continue; }
      if (c == '[' && (at(':', 1) || at('.', 1) || at('=', 1))) {
        std::size_t close = p_.find(std::string{p_[i_ + 1], ']'}, i_ + 2);
        if (close != std::string_view::npos) { i_ = close + 2; continue; }
      }
      ++i_;
      if (c == ']') {
        out.append(p_.substr(start, i_ - start));
        return 1;
      }
    }
    ok_ = false;
    return 0;
  }

  std::size_t group(std::string& out, bool relax, int depth) {
    std::size_t start = i_++;
    bool inner_relax = relax;
    std::size_t weight = 1;  // 0: the group matches no text (lookaround)
    if (at('(') || at('*')) { ok_ = false; return 0; }  // (*VERB), conditionals
    if (at('?')) {
      std::string_view rest = p_.substr(i_ + 1);
      if (rest.starts_with("#")) {
        std::size_t close = p_.find(')', i_);
        if (close == std::string_view::npos) { ok_ = false; return 0; }
        i_ = close + 1;
        out.append(p_.substr(start, i_ - start));
        return 0;
      }
      if (rest.starts_with(">")) {
        i_ += 2;
        out += relax ? "(?:" : "(?>";
      } else if (rest.starts_with("=") || rest.starts_with("!") || rest.starts_with("<=") || rest.starts_with("<!")) {
        bool negative = rest.starts_with("!") || rest.starts_with("<!");
        i_ += rest.starts_with("<") ? 3 : 2;
        out.append(p_.substr(start, i_ - start));
        if (negative) inner_relax = false;
        weight = 0;
      } else if (rest.starts_with("<") || rest.starts_with("P<") || rest.starts_with("'")) {
        char close = rest.starts_with("'") ? '\'' : '>';
        std::size_t end = p_.find(close, i_ + 2);
        if (end == std::string_view::npos) { ok_ = false; return 0; }
        i_ = end + 1;
        out.append(p_.substr(start, i_ - start));
      } else if (rest.starts_with("|") || rest.starts_with(":")) {
        i_ += 2;
        out.append(p_.substr(start, i_ - start));
      } else {
        // Inline flags: (?i) for the rest of the group, or (?i:...). Only letters,
        // '^' and '-'; anything else ((?P=name), (?R), (?1), (?&name)...) is unknown.
        std::size_t j = i_ + 1;
        while (j < p_.size() && (std::isalpha(static_cast<unsigned char>(p_[j])) || p_[j] == '^' || p_[j] == '-')) {
          if (p_[j] == 'x') { ok_ = false; return 0; }  // (?x) would change how the rest reads
          ++j;
        }
        if (j >= p_.size() || (p_[j] != ')' && p_[j] != ':') || j == i_ + 1) { ok_ = false; return 0; }
        i_ = j + 1;
        out.append(p_.substr(start, i_ - start));
        if (p_[j] == ')') return 0;
      }
    } else {
      out += '(';
    }
    std::size_t size = alternation(out, inner_relax, depth + 1);
    if (!ok_ || !at(')')) { ok_ = false; return 0; }
    ++i_;
    out += ')';
    return weight ? size : 0;
  }
};

}  // namespace

PatternShape pattern_shape(std::string_view pattern, std::size_t relax_above) {
  PatternShape shape;
  std::string copy;
  ShapeWalker exact(pattern, kShapeCap);
  if (!exact.run(shape.expanded, copy)) {
    shape.expanded = 0;
    shape.relaxed = std::string(pattern);
    return shape;
  }
  shape.parsed = true;
  std::size_t ignored = 0;
  ShapeWalker loose(pattern, relax_above);
  if (!loose.run(ignored, shape.relaxed)) shape.relaxed = std::string(pattern);
  return shape;
}

namespace {
void mark_referenced(const MetaNode& n, std::vector<char>& used) {
  if (n.kind == MetaNode::Kind::Rule && n.rule_index >= 0) used[static_cast<std::size_t>(n.rule_index)] = 1;
  for (const auto& k : n.kids) mark_referenced(k, used);
}
}  // namespace

std::vector<char> disabled_rules(const std::vector<Rule>& rules) {
  std::vector<char> used(rules.size(), 0), off(rules.size(), 0);
  for (const auto& r : rules)
    if (r.scope == Scope::Meta) mark_referenced(r.meta, used);
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    // The score set is chosen per message: a rule is off only if no set scores it.
    const bool scored = std::any_of(r.scores.begin(), r.scores.end(), [](double v) { return v != 0; });
    off[i] = !scored && !r.name.starts_with("__") && !used[i];
  }
  return off;
}

namespace {

// Body and rawbody texts hold one paragraph (body) or line (rawbody) per line, the
// units SpamAssassin matches one at a time: `^` and `$` must anchor at each of them.
bool forces_multiline(Scope s) { return s == Scope::Body || s == Scope::RawBody; }

struct Flags {
  bool caseless, multiline, dotall;
};
Flags flags_for(const Rule& r) {
  return {r.regex.caseless, r.regex.multiline || forces_multiline(r.scope), r.regex.dotall};
}

unsigned hs_flags_for(const Rule& r) {
  Flags fl = flags_for(r);
  unsigned f = HS_FLAG_ALLOWEMPTY | HS_FLAG_SINGLEMATCH;
  if (fl.caseless) f |= HS_FLAG_CASELESS;
  if (fl.multiline) f |= HS_FLAG_MULTILINE;
  if (fl.dotall) f |= HS_FLAG_DOTALL;
  return f;
}

// Thread CPU time, not wall time: whether a pattern counts as slow to build must
// not depend on what else the machine is doing (other builds, the other compile
// threads), or the same rules would be laid out differently from run to run.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Builds the pattern alone. hs_expression_info only parses, and a pattern it accepts
// can still fail in the database ("Pattern is too large"); finding that out in
// hs_compile_multi would cost a rebuild of the whole scope per such pattern.
// The database is handed back so that a slow-to-build pattern can keep its own.
std::string hs_check(const std::string& pattern, unsigned flags, HsDatabasePtr* keep = nullptr,
                     std::chrono::milliseconds* took = nullptr) {
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  double t0 = thread_cpu_seconds();
  hs_error_t rc = hs_compile(pattern.c_str(), flags, HS_MODE_BLOCK, nullptr, &db, &err);
  if (took) *took = std::chrono::milliseconds(static_cast<long long>((thread_cpu_seconds() - t0) * 1000));
  if (rc != HS_SUCCESS) {
    std::string msg = err && err->message ? err->message : "hs_compile failed";
    hs_free_compile_error(err);
    return msg;
  }
  HsDatabasePtr owned(db);
  if (keep) *keep = std::move(owned);
  return {};
}

std::string pcre2_error(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<const char*>(buf);
}

// Where the character class opening at p[i] ('[') ends: the index of its ']'.
std::size_t class_end(std::string_view p, std::size_t i) {
  std::size_t j = i + 1;
  if (j < p.size() && p[j] == '^') ++j;
  if (j < p.size() && p[j] == ']') ++j;  // a leading ']' is literal
  for (; j < p.size(); ++j) {
    if (p[j] == '\\') { ++j; continue; }
    if (p[j] == '[' && j + 1 < p.size() && p[j + 1] == ':') {  // [:alpha:]
      std::size_t e = p.find(":]", j + 2);
      if (e != std::string_view::npos) { j = e + 1; continue; }
    }
    if (p[j] == ']') return j;
  }
  return std::string_view::npos;
}

// Debian's PCRE2 (2-byte links) refuses a compiled pattern over 64 KB. SpamAssassin's
// __FILL_THIS_FORM_LONG1/2 repeat a large alternation five times, (?:X){5}, which
// no engine takes as written. As a named group and subroutine calls,
// (?<mxrepN>X)(?&mxrepN){4}, X is compiled once, and PCRE2 (10.30 on) backtracks into
// subroutine calls, so what matches is unchanged. Only large groups, and only in
// patterns without back-references (the new group shifts the group numbers).
std::optional<std::string> repeats_as_subroutines(std::string_view p) {
  static constexpr std::size_t kLargeGroup = 256;
  for (std::size_t i = 0; i + 1 < p.size(); ++i) {
    if (p[i] != '\\') continue;
    char c = p[i + 1];
    if ((c >= '1' && c <= '9') || c == 'g' || c == 'k') return std::nullopt;
    ++i;
  }
  if (p.find("(?P=") != std::string_view::npos) return std::nullopt;
  std::string out;
  int groups = 0;
  for (std::size_t i = 0; i < p.size();) {
    if (p[i] == '\\') { out.append(p.substr(i, 2)); i += 2; continue; }
    if (p[i] == '[') {
      std::size_t e = class_end(p, i);
      if (e == std::string_view::npos) return std::nullopt;
      out.append(p.substr(i, e + 1 - i));
      i = e + 1;
      continue;
    }
    if (p.substr(i, 3) != "(?:") { out += p[i++]; continue; }
    // The group's closing parenthesis.
    std::size_t j = i + 3;
    int depth = 1;
    for (; j < p.size() && depth > 0; ++j) {
      if (p[j] == '\\') { ++j; continue; }
      if (p[j] == '[') {
        j = class_end(p, j);
        if (j == std::string_view::npos) return std::nullopt;
        continue;
      }
      if (p[j] == '(') ++depth;
      else if (p[j] == ')') --depth;
    }
    if (depth != 0) return std::nullopt;
    // j is just past ')'; a counted repeat {n}, {n,} or {n,m} with n >= 2 follows?
    std::size_t q = j, n = 0, m = 0;
    bool has_m = false, open_ended = false, ok = q < p.size() && p[q] == '{';
    if (ok) {
      std::size_t k = q + 1, d = k;
      while (k < p.size() && p[k] >= '0' && p[k] <= '9') n = n * 10 + static_cast<std::size_t>(p[k++] - '0');
      ok = k > d && k - d < 5;
      if (ok && k < p.size() && p[k] == ',') {
        ++k;
        std::size_t d2 = k;
        while (k < p.size() && p[k] >= '0' && p[k] <= '9') m = m * 10 + static_cast<std::size_t>(p[k++] - '0');
        has_m = k > d2;
        open_ended = !has_m;
        ok = k - d2 < 5;
      }
      ok = ok && k < p.size() && p[k] == '}' && n >= 2 && (!has_m || m >= n);
      q = k + 1;
    }
    if (!ok || j - i < kLargeGroup) {
      out.append(p.substr(i, 3));
      i += 3;
      continue;
    }
    std::string name = "mxrep" + std::to_string(++groups);
    out += "(?<" + name + ">";
    out.append(p.substr(i + 3, j - 1 - (i + 3)));  // X, as written (groups inside stay as they are)
    out += ")(?&" + name + ")";
    if (open_ended) out += "{" + std::to_string(n - 1) + ",}";
    else if (has_m) out += "{" + std::to_string(n - 1) + "," + std::to_string(m - 1) + "}";
    else if (n > 2) out += "{" + std::to_string(n - 1) + "}";
    i = q;
  }
  if (groups == 0) return std::nullopt;
  return out;
}

Pcre2CodePtr pcre2_build(const std::string& pattern, const Rule& r, std::string& err) {
  // No PCRE2_UTF: subjects are arbitrary bytes, as in SpamAssassin.
  Flags fl = flags_for(r);
  std::uint32_t opts = 0;
  if (fl.caseless) opts |= PCRE2_CASELESS;
  if (fl.multiline) opts |= PCRE2_MULTILINE;
  if (fl.dotall) opts |= PCRE2_DOTALL;
  opts |= PCRE2_DUPNAMES;  // Perl allows a group name twice: (?<D>a)|(?<D>b)
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), opts, &code,
                                 &offset, nullptr);
  if (!re && code == PCRE2_ERROR_PATTERN_TOO_LARGE) {
    if (auto shorter = repeats_as_subroutines(pattern)) {
      int code2 = 0;
      PCRE2_SIZE offset2 = 0;
      re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(shorter->data()), shorter->size(), opts, &code2, &offset2,
                         nullptr);
    }
  }
  if (!re) {
    err = "pcre2: " + pcre2_error(code) + " at offset " + std::to_string(offset);
    return nullptr;
  }
  // JIT failure (e.g. no executable memory) is not fatal: the interpreter still works.
  (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
  return Pcre2CodePtr(re);
}

bool has_perl_dollar(const std::string& p) {
  bool in_class = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\') { ++i; continue; }
    if (in_class) { if (p[i] == ']') in_class = false; continue; }
    if (p[i] == '[') {
      in_class = true;
      if (i + 1 < p.size() && p[i + 1] == '^') ++i;
      if (i + 1 < p.size() && p[i + 1] == ']') ++i;
      continue;
    }
    if (p[i] == '$') return true;
  }
  return false;
}

Re2Ptr re2_build(const std::string& pattern, const Rule& r, const CompileOptions& copt, std::string& err) {
  // RE2's `$` without (?m) matches only at the very end, Perl's also before a final
  // newline: leave such patterns to PCRE2 rather than match differently.
  Flags fl = flags_for(r);
  if (!fl.multiline && has_perl_dollar(pattern)) {
    err = "re2: '$' differs from Perl's (end or before a final newline)";
    return nullptr;
  }
  re2::RE2::Options o;
  o.set_encoding(re2::RE2::Options::EncodingLatin1);
  o.set_log_errors(false);
  o.set_max_mem(copt.re2_max_mem);
  o.set_case_sensitive(!fl.caseless);
  o.set_dot_nl(fl.dotall);
  std::string p = fl.multiline ? "(?m)" + pattern : pattern;
  auto re = std::make_unique<re2::RE2>(p, o);
  if (!re->ok()) {
    err = "re2: " + re->error();
    return nullptr;
  }
  return Re2Ptr(re.release());
}

std::string scope_key(const Rule& r) {
  if (r.scope == Scope::Header) return "header:" + r.header.key();
  return std::string(scope_name(r.scope));
}

std::string short_reason(const std::string& hs_err) {
  return hs_err;
}

}  // namespace

namespace {

// The compile's work on up to hardware_concurrency threads (1..16): jobs run in
// queue order, urgent ones first, and a job may queue more. run() returns when the
// queue is empty and no job is running. Hyperscan, RE2 and PCRE2 compiles are
// thread-safe and independent per pattern and per database.
class JobQueue {
 public:
  void push(std::function<void()> job, bool urgent = false) {
    {
      std::lock_guard lock(m_);
      if (urgent) q_.push_front(std::move(job));
      else q_.push_back(std::move(job));
    }
    cv_.notify_one();
  }
  void run() {
    auto work = [this] {
      for (;;) {
        std::function<void()> job;
        {
          std::unique_lock lock(m_);
          cv_.wait(lock, [&] { return !q_.empty() || busy_ == 0; });
          if (q_.empty()) return;  // nothing queued and nothing running: done
          job = std::move(q_.front());
          q_.pop_front();
          ++busy_;
        }
        job();
        {
          std::lock_guard lock(m_);
          --busy_;
        }
        cv_.notify_all();
      }
    };
    std::size_t threads = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 16);
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < threads; ++t) {
      try {
        pool.emplace_back(work);
      } catch (const std::system_error&) {
        break;  // no more threads to be had: fewer do the same work
      }
    }
    work();
    for (auto& t : pool) t.join();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  std::size_t busy_ = 0;
};

// The text Hyperscan's prefilter mode builds for this entry.
const std::string& prefilter_text(const CompiledRegex& cr) { return cr.prefilter.empty() ? cr.pattern : cr.prefilter; }

// Hyperscan's verdict on one expression of the entry. A pattern presumed slow to
// build is only parsed (hs_expression_info): its one build is in the slow database.
std::string hs_try(const CompiledRegex& cr, const std::string& pattern, unsigned flags, HsDatabasePtr* keep,
                   std::chrono::milliseconds* took) {
  if (!cr.presumed_slow) return hs_check(pattern, flags, keep, took);
  hs_expr_info_t* info = nullptr;
  hs_compile_error_t* err = nullptr;
  if (hs_expression_info(pattern.c_str(), flags, &info, &err) == HS_SUCCESS) {
    std::free(info);
    return {};
  }
  std::string msg = err && err->message ? err->message : "hs_expression_info failed";
  hs_free_compile_error(err);
  return msg;
}

// Rungs 2 to 4 for a pattern Hyperscan refused as it is (hs_err says why).
void below_hyperscan(CompiledRegex& cr, const Rule& r, const CompileOptions& copt, const std::string& hs_err) {
  HsDatabasePtr solo;
  std::chrono::milliseconds took{0};
  cr.reason = "hyperscan: " + short_reason(hs_err);
  // Rung 2: RE2.
  std::string re2_err;
  if (Re2Ptr re = re2_build(cr.pattern, r, copt, re2_err)) {
    cr.engine = Engine::Re2;
    cr.re2 = std::move(re);
    // RE2 decides, but only on texts a Hyperscan prefilter of the pattern flags:
    // otherwise RE2 runs over every text (SpamAssassin's __FILL_THIS_FORM_SHORT2
    // alone cost a third of the body scan time, tests/bench/scan_bench).
    if (hs_try(cr, prefilter_text(cr), cr.hs_flags | HS_FLAG_PREFILTER, &solo, &took).empty()) {
      cr.gated = true;
      cr.hs_flags |= HS_FLAG_PREFILTER;
      if (took >= copt.hs_solo_threshold) cr.solo = std::move(solo);
    }
  } else {
    std::string pcre_err;
    Pcre2CodePtr code = pcre2_build(cr.pattern, r, pcre_err);
    if (!code) {
      cr.engine = Engine::Unsupported;
      cr.reason += "; " + re2_err + "; " + pcre_err;
    } else {
      cr.pcre2 = std::move(code);
      // Rung 3: Hyperscan prefilter + PCRE2; rung 4: PCRE2 alone.
      std::string pre_err = hs_try(cr, prefilter_text(cr), cr.hs_flags | HS_FLAG_PREFILTER, &solo, &took);
      if (pre_err.empty()) {
        cr.engine = Engine::Prefilter;
        cr.hs_flags |= HS_FLAG_PREFILTER;
        if (took >= copt.hs_solo_threshold) cr.solo = std::move(solo);
      } else {
        cr.engine = Engine::Pcre2;
        cr.reason += "; hyperscan prefilter: " + pre_err;
      }
    }
  }
  if (cr.engine != Engine::Prefilter && !cr.gated) cr.presumed_slow = false;
}

// Climbs the ladder for one pattern (cr.pattern, cr.prefilter, cr.expanded and
// cr.hs_flags are set).
void classify(CompiledRegex& cr, const Rule& r, const CompileOptions& copt) {
  // A large pattern is presumed slow to build: Hyperscan only parses it here, and
  // it is built once, in the scope's slow database, instead of alone and then again
  // there. A refusal in that build still moves it down the ladder (build_database).
  cr.presumed_slow = cr.expanded >= copt.hs_presume_slow_expanded;
  // Rung 1: Hyperscan as is, unless the pattern is predictably too large for it.
  HsDatabasePtr solo;
  std::chrono::milliseconds took{0};
  std::string hs_err;
  if (cr.expanded > copt.hs_max_expanded) {
    hs_err = "Pattern is too large (" + std::to_string(cr.expanded) +
             " positions once its counted repeats are unrolled; not tried above " +
             std::to_string(copt.hs_max_expanded) + ")";
  } else {
    hs_err = hs_try(cr, cr.pattern, cr.hs_flags, &solo, &took);
  }
  if (hs_err.empty()) {
    cr.engine = Engine::Hyperscan;
    if (took >= copt.hs_solo_threshold) cr.solo = std::move(solo);
  } else {
    below_hyperscan(cr, r, copt, hs_err);
  }
  // `tflags multiple` counts matches the way Perl's m//g does; Hyperscan's
  // end-offset reports cannot, so keep a PCRE2 code for counting. Body patterns that
  // may span paragraphs are confirmed per paragraph with it too.
  // `tflags nosubject` rules are matched per paragraph from the one after the
  // Subject line, with that code too.
  if ((r.multiple || r.nosubject || cr.crosses || cr.line_only) && !cr.pcre2 && cr.engine == Engine::Hyperscan) {
    std::string ignored;
    cr.pcre2 = pcre2_build(cr.pattern, r, ignored);
  }
}

using Scopes = std::vector<std::unique_ptr<CompiledScope>>;

// One scope per text key, one entry per regex rule, patterns and flags set: the
// input of both the compile and the cache key.
void lay_out(Scopes& scopes, const std::vector<Rule>& rules, const CompileOptions& copt) {
  std::map<std::string, std::size_t> by_key;
  std::vector<char> off = disabled_rules(rules);
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    // A rule that reads capture tags (%{NAME}) is compiled per message.
    if (!r.is_regex() || off[i] || !r.templates.empty()) continue;
    std::string key = scope_key(r);
    auto [it, fresh] = by_key.emplace(key, scopes.size());
    if (fresh) {
      auto sc = std::make_unique<CompiledScope>();
      sc->key = key;
      sc->scope = r.scope;
      pcre2_match_context* mc = pcre2_match_context_create(nullptr);
      pcre2_set_match_limit(mc, copt.pcre2_match_limit);
      pcre2_set_depth_limit(mc, copt.pcre2_depth_limit);
      sc->match_context.reset(mc);
      scopes.push_back(std::move(sc));
    }
    CompiledRegex& cr = scopes[it->second]->regexes.emplace_back();
    cr.rule = i;
    cr.pattern = r.regex.extended ? strip_extended(r.regex.pattern) : r.regex.pattern;
    cr.hs_flags = hs_flags_for(r);
    PatternShape shape = pattern_shape(cr.pattern, copt.prefilter_relax_above);
    cr.expanded = shape.expanded;
    if (shape.expanded > copt.prefilter_loose_above && shape.relaxed != cr.pattern) cr.prefilter = std::move(shape.relaxed);
    if (r.scope == Scope::Body) {
      cr.crosses = may_match_newline(cr.pattern, r.regex.dotall);
      // A paragraph is matched with its line end (count_per_line), which `\s$` can
      // take: the whole text, where the next paragraph follows that line end, would
      // miss such a match, so a crossing pattern with a `$` runs per line too.
      cr.line_only = has_buffer_anchor(cr.pattern) || (cr.crosses && has_end_anchor(cr.pattern));
    }
  }
}

// An entry Hyperscan refused inside a database (though it built alone, or was never
// built alone): down the ladder. A gated RE2 entry runs RE2 on every text; others
// go to RE2, else PCRE2 alone, else unsupported, with Hyperscan's reason.
void demote(CompiledRegex& cr, const std::string& msg, const Rule& r, const CompileOptions& copt) {
  cr.presumed_slow = false;
  if (cr.gated) {
    cr.gated = false;
    cr.hs_flags &= ~static_cast<unsigned>(HS_FLAG_PREFILTER);
    return;
  }
  cr.reason = "hyperscan: " + msg;
  cr.hs_flags &= ~static_cast<unsigned>(HS_FLAG_PREFILTER);
  std::string re2_err, pcre_err;
  if (cr.engine == Engine::Hyperscan) {
    if (Re2Ptr re = re2_build(cr.pattern, r, copt, re2_err)) {
      cr.engine = Engine::Re2;
      cr.re2 = std::move(re);
      return;
    }
  }
  if (!cr.pcre2) cr.pcre2 = pcre2_build(cr.pattern, r, pcre_err);
  cr.engine = cr.pcre2 ? Engine::Pcre2 : Engine::Unsupported;
  if (!cr.pcre2) cr.reason += "; " + re2_err + "; " + pcre_err;
}

// One database of the entries `ids`. An entry Hyperscan refuses in it leaves the
// set and the build is retried, so that every error names its rule's file and
// line: one with a database of its own keeps that, any other moves down the ladder
// (demote). Returns null if nothing is left or Hyperscan names no entry (then
// `why` says why).
HsDatabasePtr build_database(CompiledScope& sc, std::vector<unsigned>& ids, const std::vector<Rule>& rules,
                             const CompileOptions& copt, std::string& why) {
  for (int attempt = 0; attempt < 64 && !ids.empty(); ++attempt) {
    std::vector<const char*> exprs;
    std::vector<unsigned> flags;
    for (unsigned k : ids) {
      exprs.push_back(hs_expression(sc.regexes[k]).c_str());
      flags.push_back(sc.regexes[k].hs_flags);
    }
    hs_database_t* db = nullptr;
    hs_compile_error_t* err = nullptr;
    auto rc = hs_compile_multi(exprs.data(), flags.data(), ids.data(), static_cast<unsigned>(exprs.size()),
                               HS_MODE_BLOCK, nullptr, &db, &err);
    if (rc == HS_SUCCESS) return HsDatabasePtr(db);
    std::string msg = err && err->message ? err->message : "hs_compile_multi failed";
    int expr = err ? err->expression : -1;
    hs_free_compile_error(err);
    if (expr < 0 || static_cast<std::size_t>(expr) >= ids.size()) {
      why = msg;
      return nullptr;
    }
    CompiledRegex& cr = sc.regexes[ids[static_cast<std::size_t>(expr)]];
    const Rule& r = rules[cr.rule];
    if (cr.presumed_slow && cr.engine == Engine::Hyperscan) {
      // Only parsed so far, and refused as it is: the rest of the ladder, where a
      // prefilter of it (RE2 gated, or PCRE2 confirming) stays in this database.
      below_hyperscan(cr, r, copt, msg);
      if (cr.engine == Engine::Prefilter || cr.gated) continue;
      ids.erase(ids.begin() + expr);
      continue;
    }
    ids.erase(ids.begin() + expr);
    if (!cr.solo) demote(cr, msg, r, copt);
  }
  why = ids.empty() ? "" : "too many patterns refused";
  return nullptr;
}

// The scope's shared database, part `part`: entries on Hyperscan (exact, as a
// prefilter, or gating RE2) that are not slow to build. Returns an error text,
// empty if fine.
std::string build_shared(CompiledScope& sc, std::size_t part, std::vector<unsigned> ids,
                         const std::vector<Rule>& rules, const CompileOptions& copt) {
  std::string why;
  sc.hs[part] = build_database(sc, ids, rules, copt, why);
  return sc.hs[part] || why.empty() ? std::string() : "hyperscan rejected the database: " + why;
}

// The slow-to-build entries `ids` of a scope: one database together (measured on
// the stock body rules: 32 of them build in ~5 s and scan twice as fast as 32
// separate passes). Those that built alone keep that database if the group fails;
// those presumed slow (never built alone) are then built one by one.
void build_slow(CompiledScope& sc, std::size_t part, std::vector<unsigned> ids, const std::vector<Rule>& rules,
                const CompileOptions& copt) {
  bool presumed = std::any_of(ids.begin(), ids.end(), [&](unsigned k) { return sc.regexes[k].presumed_slow; });
  if (ids.size() < 2 && !presumed) return;
  std::string why;
  if (HsDatabasePtr db = build_database(sc, ids, rules, copt, why)) {
    sc.slow[part] = std::move(db);
    for (unsigned k : ids) {
      sc.regexes[k].solo.reset();
      sc.regexes[k].grouped = true;
      sc.regexes[k].presumed_slow = false;
    }
    return;
  }
  for (unsigned k : ids) {
    CompiledRegex& cr = sc.regexes[k];
    if (!cr.presumed_slow) continue;
    cr.presumed_slow = false;
    std::string err = hs_check(hs_expression(cr), cr.hs_flags, &cr.solo);
    if (!err.empty()) demote(cr, err, rules[cr.rule], copt);
  }
}

// The ladder for every pattern, then each scope's databases. One queue of jobs on
// every core: the patterns of the largest scopes first (body), and as soon as the
// last pattern of a scope is placed its databases go to the front of the queue, so
// the long body database builds while the other scopes' patterns are still being
// placed, instead of after all of them.
void build(Scopes& scopes, const std::vector<Rule>& rules, const CompileOptions& copt,
           std::vector<ConfigError>& errors, CompileReport& rep, std::chrono::steady_clock::time_point t0) {
  JobQueue jobs;
  std::mutex rep_mutex;
  auto timed = [&](const CompiledScope& sc, const char* kind, std::size_t n, auto&& fn) {
    auto since = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    CompileReport::Build b{sc.key, kind, n, since(), 0, 0};
    double c0 = thread_cpu_seconds();
    fn();
    b.cpu = thread_cpu_seconds() - c0;
    b.end = since();
    std::lock_guard lock(rep_mutex);
    rep.builds.push_back(std::move(b));
  };
  std::atomic<long long> ladder_us{0};
  std::mutex errors_mutex;
  std::vector<std::atomic<std::size_t>> left(scopes.size());
  auto databases = [&](std::size_t si) {
    CompiledScope& sc = *scopes[si];
    // Split once every entry is placed, so that the jobs touch disjoint entries.
    std::vector<unsigned> shared, slow;
    for (std::size_t k = 0; k < sc.regexes.size(); ++k) {
      const auto& cr = sc.regexes[k];
      if (cr.engine != Engine::Hyperscan && cr.engine != Engine::Prefilter && !cr.gated) continue;
      std::size_t size = 0;
      if (cr.presumed_slow) slow.push_back(static_cast<unsigned>(k));
      else if (!cr.solo) shared.push_back(static_cast<unsigned>(k));
      else if (hs_database_size(cr.solo.get(), &size) == HS_SUCCESS && size < copt.hs_group_max_db_bytes)
        slow.push_back(static_cast<unsigned>(k));
    }
    // Queued at the front: the slow database's parts (on the stock body rules the
    // longest builds) run next, the shared database's parts after them. Patterns
    // are dealt to the shared parts round-robin, so that each gets its share of a
    // rule file's costly families.
    CompiledScope* scp = &sc;
    std::size_t max_part = std::max<std::size_t>(copt.hs_shared_max_patterns, 1);
    std::size_t parts = shared.empty() ? 0 : 1 + (shared.size() - 1) / max_part;
    sc.hs.resize(parts);
    for (std::size_t p = 0; p < parts; ++p) {
      std::vector<unsigned> ids;
      for (std::size_t j = p; j < shared.size(); j += parts) ids.push_back(shared[j]);
      jobs.push([&, scp, p, ids] {
        std::string why;
        timed(*scp, "shared", ids.size(), [&] { why = build_shared(*scp, p, ids, rules, copt); });
        if (why.empty()) return;
        std::lock_guard lock(errors_mutex);
        errors.push_back({"", 0, "scope " + scp->key, why});
      }, true);
    }
    // The slow database's parts: the largest patterns dealt first, so that each
    // part gets its share of the costliest.
    std::stable_sort(slow.begin(), slow.end(),
                     [&](unsigned a, unsigned b) { return sc.regexes[a].expanded > sc.regexes[b].expanded; });
    std::size_t max_slow = std::max<std::size_t>(copt.hs_slow_max_patterns, 1);
    std::size_t slow_parts = slow.empty() ? 0 : 1 + (slow.size() - 1) / max_slow;
    sc.slow.resize(slow_parts);
    for (std::size_t p = 0; p < slow_parts; ++p) {
      std::vector<unsigned> ids;
      for (std::size_t j = p; j < slow.size(); j += slow_parts) ids.push_back(slow[j]);
      std::sort(ids.begin(), ids.end());
      jobs.push([&, scp, p, ids] {
        timed(*scp, "slow", ids.size(), [&] { build_slow(*scp, p, ids, rules, copt); });
      }, true);
    }
  };
  std::vector<std::size_t> order(scopes.size());
  for (std::size_t si = 0; si < scopes.size(); ++si) {
    order[si] = si;
    left[si] = scopes[si]->regexes.size();
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scopes[a]->regexes.size() > scopes[b]->regexes.size(); });
  for (std::size_t si : order) {
    for (std::size_t k = 0; k < scopes[si]->regexes.size(); ++k) {
      jobs.push([&, si, k] {
        CompiledRegex& cr = scopes[si]->regexes[k];
        double c0 = thread_cpu_seconds();
        classify(cr, rules[cr.rule], copt);
        ladder_us += static_cast<long long>((thread_cpu_seconds() - c0) * 1e6);
        if (--left[si] == 0) databases(si);
      });
    }
  }
  jobs.run();
  rep.ladder_cpu = static_cast<double>(ladder_us.load()) / 1e6;
}

}  // namespace

const std::string& hs_expression(const CompiledRegex& cr) {
  return (cr.hs_flags & HS_FLAG_PREFILTER) ? prefilter_text(cr) : cr.pattern;
}

namespace {

// Compiled scopes of this process by cache key, for reloads whose patterns did not
// change. Weak: a set no configuration uses any more is freed.
std::mutex& memo_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, std::weak_ptr<const Scopes>>& memo() {
  static std::map<std::string, std::weak_ptr<const Scopes>> m;
  return m;
}

}  // namespace

// Rebuilds what the cache does not hold: RE2 and PCRE2 objects compile in
// microseconds; only Hyperscan databases are worth keeping.
void rebuild_side_engines(CompiledRegex& cr, const Rule& r, const CompileOptions& copt) {
  std::string ignored;
  if (cr.engine == Engine::Re2) cr.re2 = re2_build(cr.pattern, r, copt, ignored);
  if (cr.engine == Engine::Prefilter || cr.engine == Engine::Pcre2 ||
      ((r.multiple || r.nosubject || cr.crosses || cr.line_only) && cr.engine == Engine::Hyperscan))
    cr.pcre2 = pcre2_build(cr.pattern, r, ignored);
}

Result<RuleSetPtr> RuleSet::compile(ParsedRules parsed, const CompileOptions& copt, CompileReport* report) {
  auto t0 = std::chrono::steady_clock::now();
  CompileReport local;
  CompileReport& rep = report ? *report : local;
  rep = {};
  Result<RuleSetPtr> res;
  std::shared_ptr<RuleSet> rs(new RuleSet());
  rs->parsed_ = std::move(parsed);
  const auto& rules = rs->parsed_.rules;
  auto scopes = std::make_shared<Scopes>();
  lay_out(*scopes, rules, copt);
  rep.key = cache_key(*scopes, rules, copt);
  auto done = [&](std::shared_ptr<const Scopes> sc, CompileReport::Source src) {
    rs->scopes_ = std::move(sc);
    rs->index_captures(copt);
    rep.source = src;
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    res.value = rs;
    return res;
  };
  {
    std::lock_guard lock(memo_mutex());
    auto it = memo().find(rep.key);
    if (it != memo().end()) {
      if (auto live = it->second.lock()) return done(std::move(live), CompileReport::Source::Memory);
    }
  }
  auto remember = [&] {
    std::lock_guard lock(memo_mutex());
    for (auto it = memo().begin(); it != memo().end();) it = it->second.expired() ? memo().erase(it) : std::next(it);
    memo()[rep.key] = scopes;
  };
  std::filesystem::path file;
  if (!copt.cache_dir.empty()) {
    file = copt.cache_dir / ("rules-" + rep.key.substr(0, 32) + ".hsc");
    rep.cache_file = file.string();
    std::error_code ec;
    if (std::filesystem::exists(file, ec)) {
      std::string why = load_cache(*scopes, file, rep.key, rules, copt);
      if (why.empty()) {
        for (auto& sc : *scopes) sc->index_engines();
        remember();
        return done(scopes, CompileReport::Source::DiskCache);
      }
      rep.cache_note = "cache file unusable (" + why + "), compiled again";
      scopes = std::make_shared<Scopes>();
      lay_out(*scopes, rules, copt);
    }
  }
  build(*scopes, rules, copt, res.errors, rep, t0);
  if (!res.errors.empty()) return res;
  for (auto& sc : *scopes) sc->index_engines();
  if (!file.empty()) {
    std::string why = save_cache(*scopes, file, rep.key);
    if (!why.empty()) rep.cache_note = "not cached: " + why;
  }
  remember();
  return done(scopes, CompileReport::Source::Compiled);
}

Result<RuleSetPtr> RuleSet::load_dir(const std::filesystem::path& dir, const ParseOptions& popt,
                                     const CompileOptions& copt, CompileReport* report) {
  Result<ParsedRules> parsed = parse_rule_dir(dir, popt);
  if (!parsed.ok()) {
    Result<RuleSetPtr> res;
    res.errors = std::move(parsed.errors);
    return res;
  }
  return compile(std::move(*parsed.value), copt, report);
}

void RuleSet::index_captures(const CompileOptions& copt) {
  captures_ = std::make_shared<std::vector<CaptureRule>>();
  std::vector<char> off = disabled_rules(parsed_.rules);
  for (std::size_t i = 0; i < parsed_.rules.size(); ++i) {
    const Rule& r = parsed_.rules[i];
    if (!r.is_regex() || off[i]) continue;
    if (!r.templates.empty()) {
      templates_.push_back(i);
      continue;  // if it also sets tags, they are read when it hits (content_scan.cpp)
    }
    if (!r.captures) continue;
    std::string ignored;
    std::string pattern = r.regex.extended ? strip_extended(r.regex.pattern) : r.regex.pattern;
    if (Pcre2CodePtr code = pcre2_build(pattern, r, ignored)) captures_->push_back({i, std::move(code)});
  }
  // One walk in priority order, as SpamAssassin runs rules: a rule sets its tags
  // for the rules after it (capture rules default to -10000, so before the rules
  // reading them); ties in file order.
  steps_.clear();
  for (std::size_t k = 0; k < captures_->size(); ++k) steps_.push_back({(*captures_)[k].rule, static_cast<long>(k)});
  for (std::size_t i : templates_) steps_.push_back({i, -1});
  std::stable_sort(steps_.begin(), steps_.end(), [&](const CaptureStep& a, const CaptureStep& b) {
    const Rule &ra = parsed_.rules[a.rule], &rb = parsed_.rules[b.rule];
    return ra.priority != rb.priority ? ra.priority < rb.priority : a.rule < b.rule;
  });
  pcre2_match_context* mc = pcre2_match_context_create(nullptr);
  pcre2_set_match_limit(mc, copt.pcre2_match_limit);
  pcre2_set_depth_limit(mc, copt.pcre2_depth_limit);
  capture_mc_.reset(mc);
}

Pcre2CodePtr compile_for_rule(const std::string& pattern, const Rule& r, std::string& err) {
  return pcre2_build(pattern, r, err);
}

const CompiledScope* RuleSet::scope(std::string_view key) const {
  for (const auto& s : *scopes_) {
    if (s->key == key) return s.get();
  }
  return nullptr;
}

const Rule* RuleSet::find(std::string_view name) const {
  auto it = parsed_.index.find(name);
  return it == parsed_.index.end() ? nullptr : &parsed_.rules[it->second];
}

const CompiledRegex* RuleSet::regex_of(std::string_view name) const {
  auto it = parsed_.index.find(name);
  if (it == parsed_.index.end()) return nullptr;
  for (const auto& s : *scopes_) {
    for (const auto& cr : s->regexes) {
      if (cr.rule == it->second) return &cr;
    }
  }
  return nullptr;
}

bool may_match_newline(std::string_view p, bool dotall) {
  if (dotall) return true;  // `.` matches "\n"
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\' && i + 1 < p.size()) {
      char c = p[i + 1];
      // \s \v \R \n \W \D \H \X \C \p{} \P{} \c \e? and numeric escapes (octal, back-
      // references) may match a line break; \x only as 0a.
      if (std::string_view("svRnWDHXCpPc0123456789").find(c) != std::string_view::npos) return true;
      if (c == 'x') {
        std::string_view h = p.substr(i + 2, 4);
        if (h.starts_with("0a") || h.starts_with("0A") || h.starts_with("{a") || h.starts_with("{A") ||
            h.starts_with("{0a") || h.starts_with("{0A"))
          return true;
      }
      ++i;
      continue;
    }
    if (p.substr(i, 2) == "[^") return true;
    if (p.substr(i, 8) == "[:space:" || p.substr(i, 8) == "[:cntrl:" || p.substr(i, 3) == "[:^") return true;
    if (p.substr(i, 2) == "(?") {  // inline flags: (?s) and (?^...) turn on dotall
      for (std::size_t j = i + 2; j < p.size() && p[j] != ')' && p[j] != ':'; ++j)
        if (p[j] == 's') return true;
    }
  }
  return false;
}

bool has_end_anchor(std::string_view p) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\') {
      ++i;
      continue;
    }
    if (p[i] == '[') {  // a class: "$" there is a character
      i = class_end(p, i);
      if (i == std::string_view::npos) return false;
      continue;
    }
    if (p[i] == '$') return true;
  }
  return false;
}

bool has_buffer_anchor(std::string_view p) {
  for (std::size_t i = 0; i + 1 < p.size(); ++i) {
    if (p[i] != '\\') continue;
    char c = p[i + 1];
    if (c == 'A' || c == 'z' || c == 'Z' || c == 'G') return true;
    ++i;
  }
  return false;
}

}  // namespace mxgate::rules
