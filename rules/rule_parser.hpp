// Rule-file parser: a SpamAssassin-compatible subset of the .cf rule language.
//
// A rule set is a folder of `*.cf` files read in byte-sorted name order (as
// SpamAssassin's read_cf does), plus `include FILE` (relative to the including
// file). Parsing follows Mail::SpamAssassin::Conf::Parser (4.0.1): `#` starts a
// comment unless escaped (`\#` becomes `#`), `lang xx ...` lines are ignored (we
// run as SpamAssassin would under LANG=C, which only reads untranslated lines),
// a later definition of a rule replaces the earlier one, and ReplaceTags
// (`replace_tag`, `replace_pre`, `replace_inter`, `replace_post`, `replace_rules`,
// `replace_start`, `replace_end`) is applied after the last line, like the
// plugin's finish_parsing_end.
//
// Supported: header (Field, Field:raw/:addr/:name/..., ALL, exists:Field,
// =~ and !~, [if-unset: X]), body, rawbody, full, uri, meta, score (one or four
// values; see kScoreSet), describe, tflags, priority, if/ifplugin/else/endif
// (see ConditionEnv), include, and `eval:` tests whose function the caller
// implements (ParseOptions::eval_supported; the content filter runs them,
// filters/content/eval_tests.hpp). Settings the caller asks for
// (ParseOptions::keep_settings: freemail_domains, welcomelist_from, ...) are kept
// in order, with their line, for it to read.
// Not supported, reported as a Warning and counted, never dropped silently:
// eval: tests of functions the caller lacks, mimeheader, uri_detail, askdns,
// urirhssub, uridnsbl and every other directive (plugin and global settings).
// Errors (ConfigError; loading is all-or-nothing): bad regex delimiters or
// modifiers, bad rule names, malformed header tests and meta expressions, unbalanced
// if/endif, a missing include. Each prints as `file:line: rule NAME: reason`.
//
// ConfigError/Result come from base/config_error.hpp (printed by format_errors).
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/config_error.hpp"

namespace mxgate::rules {

// Where a regex rule (or a whole header field) is matched.
enum class Scope { Header, Body, RawBody, Full, Uri, Meta, Eval };
std::string_view scope_name(Scope s);

// SpamAssassin's four score sets: 0 (no Bayes, no network tests), 1 (network),
// 2 (Bayes), 3 (Bayes and network). A `score` line with four values gives one per
// set, with one value the same for all. Which set a message is scored with is
// decided per message (PerMsgStatus: the Bayes bit once the classifier has learned
// enough to answer, the network bit when network tests run): ScoreSet below.
inline constexpr int kScoreSets = 4;
enum ScoreSet : int { kSetLocal = 0, kSetNet = 1, kSetBayes = 2, kSetBayesNet = 3 };
// SpamAssassin's default score for a rule without a `score` line (1.0; 0.01 for
// T_ rules; __ sub-rules have none); negated for `tflags nice` rules.
double default_score(std::string_view name);

struct SourceLoc {
  std::string file;
  int line = 0;
};

// A regex as SpamAssassin's compile_regexp reads it: delimiters stripped,
// modifiers split off. `pattern` already has ReplaceTags applied.
struct RegexSpec {
  std::string pattern;
  std::string modifiers;  // as written after the end delimiter ("i", "is", ...)
  bool caseless = false;   // i
  bool multiline = false;  // m
  bool dotall = false;     // s
  bool extended = false;   // x (whitespace and #-comments are stripped at compile time)
};

// Parses `/re/flags`, `m{re}flags`, `m!re!flags`, `qr(...)` etc. exactly as
// Mail::SpamAssassin::Util::compile_regexp($re, 1) does. Returns an error text
// ("missing regexp delimiters", "invalid end delimiter/mods", ...) or empty.
std::string parse_delimited_regex(std::string_view text, RegexSpec& out);

// SpamAssassin 4 capture rules (Conf/Parser.pm parse_captures): the tag names of
// a pattern's %{NAME} templates, in order, each once (`\%{NAME}` is literal;
// NAME is [A-Z][A-Z0-9]*(_[A-Z0-9]+)*, optionally with a `(args)` suffix), and
// whether it has a named group (?<NAME>...), (?P<NAME>...) or (?'NAME'...) whose
// name starts with an upper-case letter.
std::vector<std::string> template_tags(std::string_view pattern);
bool has_capture_groups(std::string_view pattern);

// Header test target: `Subject`, `From:addr`, `ALL`, `exists:X-Foo`.
struct HeaderTarget {
  std::string field;                    // as written ("Subject", "ALL", "ToCc")
  std::vector<std::string> modifiers;   // "raw", "addr", "name", "host", ... in order
  bool exists_test = false;             // `exists:Field`: no regex
  bool negate = false;                  // `!~`
  bool has_if_unset = false;
  std::string if_unset;                 // `[if-unset: X]`: the text used when absent
  // The key of the header text this rule reads, e.g. "subject", "from:addr", "ALL".
  std::string key() const;
};

// An `eval:` test: one of SpamAssassin's Perl plugin functions, with its arguments
// as Perl would read them (quoted strings unquoted, escapes resolved, numbers and
// bare words as written). `header X eval:check_for_shifted_date('-6', '-3')`.
struct EvalCall {
  Scope target = Scope::Header;   // the directive that defined it (header, body, rawbody, full, uri)
  std::string function;           // "check_for_shifted_date"
  std::vector<std::string> args;  // {"-6", "-3"}
};
// Parses `function(args)` (after "eval:"); returns an error text or empty.

// `mimeheader NAME Field[:raw] =~ /re/ [if-unset: X]` (SpamAssassin's MIMEHeader
// plugin: a header test on every MIME part) is read as SpamAssassin reads it, as a
// body eval test of this function with the arguments {Field[:raw], "=~" or "!~",
// "/re/", if-unset text}, when the caller runs it (eval_supported(kMimeHeaderEval,
// Scope::Body)); no `eval:` test can call it by name.
inline constexpr std::string_view kMimeHeaderEval = "mimeheader";
// `uri_detail NAME key =~ /re/ [key !~ /re/ ...]` (SpamAssassin's URIDetail plugin,
// keys raw, type, cleaned, text, domain, host; a later key replaces an earlier
// one) likewise: a body eval test of this function with {key, op, "/re/"} triples
// in that key order.
inline constexpr std::string_view kUriDetailEval = "check_uri_detail";
std::string parse_eval_call(std::string_view text, EvalCall& out);

// Meta expression tree. Values follow Perl: && and || return an operand,
// comparisons give 1 or 0, arithmetic on hit counts.
struct MetaNode {
  enum class Kind { Number, Rule, Not, Neg, And, Or, Add, Sub, Mul, Div, Gt, Ge, Lt, Le, Eq, Ne };
  Kind kind = Kind::Number;
  double number = 0;
  std::string rule;             // Kind::Rule
  int rule_index = -1;          // resolved after parsing; -1 = undefined (evaluates to 0)
  std::vector<MetaNode> kids;   // 1 for Not/Neg, 2 for binary operators
};
// Parses a meta expression; returns an error text or empty.
std::string parse_meta_expression(std::string_view text, MetaNode& out);
// Evaluates with `hits(rule_index)` giving each referenced rule's hit count.
template <typename Hits>
double eval_meta(const MetaNode& n, const Hits& hits);

struct Rule {
  std::string name;
  Scope scope = Scope::Body;
  SourceLoc loc;          // the line that defined it (the last definition wins)
  RegexSpec regex;        // regex rules
  HeaderTarget header;    // Scope::Header
  MetaNode meta;          // Scope::Meta
  EvalCall eval;          // Scope::Eval
  std::string meta_text;
  bool replaced_tags = false;  // ReplaceTags changed the pattern
  // Filled from score/describe/tflags/priority lines, whichever file they are in.
  double score = 1.0;                // in set 0 (no Bayes, no network): = scores[kSetLocal]
  std::array<double, kScoreSets> scores{1.0, 1.0, 1.0, 1.0};
  bool has_score = false;
  std::string describe;
  std::vector<std::string> tflags;  // every flag as written, including unknown ones
  bool nice = false;                // tflags nice (score may be negative)
  bool multiple = false;            // tflags multiple: count every match
  bool nosubject = false;           // tflags nosubject: a body rule skips the Subject line
  int maxhits = 0;                  // tflags maxhits=N (0 = no limit)
  int priority = 0;
  // SpamAssassin 4 capture rules (Conf.pm, "CAPTURING TAGS USING REGEX NAMED
  // CAPTURE GROUPS"): a regex rule whose pattern has named groups (?<NAME>...)
  // with an upper-case NAME sets tag NAME from its match (and gets priority
  // -10000); a rule whose pattern reads %{NAME} runs only once every tag it
  // reads is set, with the tag's values, quoted, in place of the template.
  bool captures = false;
  std::vector<std::string> templates;  // the NAMEs of its %{NAME}, each once
  bool is_regex() const {
    return scope != Scope::Meta && scope != Scope::Eval && !(scope == Scope::Header && header.exists_test);
  }
};

// A directive or rule mxgate does not implement.
struct Warning {
  SourceLoc loc;
  std::string directive;  // "body eval:", "askdns", "meta", "required_score", ...
  std::string rule;       // empty for settings that name no rule
  std::string what;
  std::string str() const;  // `file:line: rule NAME: what` (or `file:line: directive: what`)
};

// What `if`/`ifplugin` conditions see. plugin(X) is true only for what mxgate
// implements (ReplaceTags); can(X) is true for Mail::SpamAssassin::Conf features
// that describe rule syntax we accept, and false for features of plugins we lack;
// `version` is the SpamAssassin version whose rule language we follow.
struct ConditionEnv {
  std::set<std::string> plugins{"Mail::SpamAssassin::Plugin::ReplaceTags"};
  double version = 4.000001;
  double perl_version = 5.036000;
  bool local_tests_only = true;  // we run no SpamAssassin network tests
  bool can(std::string_view what) const;
};

struct ParseStats {
  std::size_t files = 0;
  std::size_t lines = 0;
  std::size_t skipped_by_conditionals = 0;  // lines inside false if/ifplugin blocks
  std::size_t lang_lines = 0;               // `lang xx ...` lines, ignored
  std::size_t redefinitions = 0;            // a rule defined again (the later wins)
  std::size_t tag_expansions = 0;           // rules whose pattern ReplaceTags changed
  // Rule definitions inside `ifplugin X` blocks of plugins mxgate does not
  // implement (DNSEval's network tests, Bayes, Razor2, ...), per plugin.
  std::map<std::string, std::size_t> rules_of_missing_plugins;
};

// A setting kept for the caller (ParseOptions::keep_settings), as written.
struct Setting {
  SourceLoc loc;
  std::string key;    // lower case, '-' read as '_' ("freemail_domains")
  std::string value;  // the rest of the line, trimmed
};

struct ParsedRules {
  std::vector<Rule> rules;                  // in first-definition order
  std::map<std::string, std::size_t, std::less<>> index;  // name -> rules[i]
  std::set<std::string, std::less<>> unsupported_rules;   // eval: and friends, by name
  std::vector<Warning> warnings;
  std::vector<Setting> settings;            // keep_settings keys, in file order
  // eval: tests the caller does not implement: rules per function name.
  std::map<std::string, std::size_t, std::less<>> unsupported_evals;
  ParseStats stats;
  // Warnings counted per directive ("body eval:", "askdns", ...).
  std::map<std::string, std::size_t> warning_counts() const;
};

struct ParseOptions {
  ConditionEnv env;
  int max_include_depth = 20;
  // Which eval: functions the caller runs, per directive (unset: none, every eval:
  // test is unsupported). A supported one becomes a Scope::Eval rule.
  std::function<bool(std::string_view function, Scope target)> eval_supported;
  // Settings to keep in ParsedRules::settings instead of warning "not used".
  std::set<std::string, std::less<>> keep_settings;
};

// The *.cf files of `dir` in the order SpamAssassin reads them (byte order of names).
std::vector<std::filesystem::path> rule_files_in(const std::filesystem::path& dir, std::error_code& ec);
// Loads every *.cf in `dir` (sorted). Errors list every problem found.
Result<ParsedRules> parse_rule_dir(const std::filesystem::path& dir, const ParseOptions& opt = {});
// Loads the given files in the given order.
Result<ParsedRules> parse_rule_files(const std::vector<std::filesystem::path>& files,
                                     const ParseOptions& opt = {});
// Several (name, text) files in the given order, as parse_rule_files reads files
// (the rule set compiled into the binary; `include` resolves against the disk).
Result<ParsedRules> parse_rule_texts(const std::vector<std::pair<std::string, std::string>>& files,
                                     const ParseOptions& opt = {});
// Parses text as if read from `file_name` (includes resolve relative to it).
Result<ParsedRules> parse_rule_text(std::string_view text, const std::string& file_name,
                                    const ParseOptions& opt = {});

// ReplaceTags on one pattern, exactly as Plugin::ReplaceTags::finish_parsing_end
// rewrites qr_to_string(qr). Pass what SpamAssassin 4 passes: "(?aa)(?mods)re"
// (rules compile as qr//aa, mods only when the rule has some).
struct ReplaceTagConfig {
  std::map<std::string, std::string> tag, pre, inter, post;
  std::string start = "<", end = ">";
};
std::string replace_tags(const std::string& re_with_mods, const ReplaceTagConfig& cfg);

// ---- implementation of the template ----
template <typename Hits>
double eval_meta(const MetaNode& n, const Hits& hits) {
  using K = MetaNode::Kind;
  switch (n.kind) {
    case K::Number: return n.number;
    case K::Rule: return n.rule_index < 0 ? 0.0 : static_cast<double>(hits(n.rule_index));
    case K::Not: return eval_meta(n.kids[0], hits) != 0 ? 0.0 : 1.0;
    case K::Neg: return -eval_meta(n.kids[0], hits);
    case K::And: { double a = eval_meta(n.kids[0], hits); return a == 0 ? a : eval_meta(n.kids[1], hits); }
    case K::Or: { double a = eval_meta(n.kids[0], hits); return a != 0 ? a : eval_meta(n.kids[1], hits); }
    default: break;
  }
  double a = eval_meta(n.kids[0], hits), b = eval_meta(n.kids[1], hits);
  switch (n.kind) {
    case K::Add: return a + b;
    case K::Sub: return a - b;
    case K::Mul: return a * b;
    case K::Div: return b == 0 ? 0.0 : a / b;  // Perl dies; SpamAssassin's eval then yields no hit
    case K::Gt: return a > b;
    case K::Ge: return a >= b;
    case K::Lt: return a < b;
    case K::Le: return a <= b;
    case K::Eq: return a == b;
    case K::Ne: return a != b;
    default: return 0;
  }
}

}  // namespace mxgate::rules
