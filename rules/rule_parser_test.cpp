// The rule-language parser: directives, conditionals, ReplaceTags, errors, warnings.
#include "rules/rule_parser.hpp"
#include "rules/rule_compiler.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace mxgate::rules {
namespace {

ParsedRules ok(const std::string& text, const ParseOptions& opt = {}) {
  auto r = parse_rule_text(text, "t.cf", opt);
  EXPECT_TRUE(r.ok()) << format_errors(r.errors);
  return r.ok() ? std::move(*r.value) : ParsedRules{};
}

std::string errors_of(const std::string& text) {
  auto r = parse_rule_text(text, "t.cf");
  EXPECT_FALSE(r.ok()) << "expected errors for:\n" << text;
  return format_errors(r.errors);
}

const Rule& rule(const ParsedRules& p, const std::string& name) {
  static const Rule kMissing{};
  auto it = p.index.find(name);
  EXPECT_NE(it, p.index.end()) << name;
  return it == p.index.end() ? kMissing : p.rules[it->second];
}

bool has(const ParsedRules& p, const std::string& name) { return p.index.count(name) > 0; }

// ---- regex delimiters ------------------------------------------------------

TEST(Delimiters, AsCompileRegexpReadsThem) {
  struct Row { const char* in; const char* pattern; const char* mods; const char* err; };
  const Row rows[] = {
      {"/abc/", "abc", "", ""},
      {"/a\\/b/i", "a\\/b", "i", ""},
      {"m{a/b}is", "a/b", "is", ""},
      {"m!a/b!", "a/b", "", ""},
      {"m(a(b)c)", "a(b)c", "", ""},
      {"m[ab]x", "ab", "x", ""},
      {"m<ab>", "ab", "", ""},
      {"qr/ab/m", "ab", "m", ""},
      {"m#ab#", "ab", "", ""},
      {"abc", "", "", "missing regexp delimiters"},
      {"/abc", "", "", "invalid end delimiter/mods"},
      {"/abc/e", "", "", "invalid end delimiter/mods"},
      {"/a/b/", "", "", "unquoted delimiter '/' found"},
      {"m\\ab\\", "", "", "backslash delimiter not allowed"},
      {"/a(?{ 1 })/", "", "", "eval (?{}) found"},
      {"/ab/q", "", "", "unknown regexp modifier 'q'"},
      {"/a\\\\/", "a\\\\", "", ""},
  };
  for (const auto& row : rows) {
    RegexSpec re;
    std::string err = parse_delimited_regex(row.in, re);
    EXPECT_EQ(err, row.err) << row.in;
    if (err.empty()) {
      EXPECT_EQ(re.pattern, row.pattern) << row.in;
      EXPECT_EQ(re.modifiers, row.mods) << row.in;
    }
  }
}

TEST(Delimiters, FlagsMap) {
  RegexSpec re;
  ASSERT_EQ(parse_delimited_regex("/a/imsx", re), "");
  EXPECT_TRUE(re.caseless && re.multiline && re.dotall && re.extended);
  RegexSpec plain;
  ASSERT_EQ(parse_delimited_regex("/a/go", plain), "");  // match-neutral modifiers
  EXPECT_FALSE(plain.caseless || plain.multiline || plain.dotall || plain.extended);
}

// ---- directives per scope --------------------------------------------------

TEST(Directives, RegexScopes) {
  auto p = ok("body B /b/i\nrawbody R m{r}\nfull F /f/s\nuri U /u/\n");
  EXPECT_EQ(rule(p, "B").scope, Scope::Body);
  EXPECT_TRUE(rule(p, "B").regex.caseless);
  EXPECT_EQ(rule(p, "R").scope, Scope::RawBody);
  EXPECT_EQ(rule(p, "R").regex.pattern, "r");
  EXPECT_EQ(rule(p, "F").scope, Scope::Full);
  EXPECT_TRUE(rule(p, "F").regex.dotall);
  EXPECT_EQ(rule(p, "U").scope, Scope::Uri);
  EXPECT_EQ(rule(p, "B").loc.file, "t.cf");
  EXPECT_EQ(rule(p, "U").loc.line, 4);
}

TEST(Directives, HeaderForms) {
  auto p = ok(
      "header S Subject =~ /hi/i\n"
      "header N Subject !~ /^Re:/\n"
      "header A ALL =~ /^X-Mailer:/m\n"
      "header RAW From:raw =~ /=\\?utf-8\\?/i\n"
      "header ADDR From:addr =~ /\\@example\\.com$/\n"
      "header NAME From:name =~ /bob/\n"
      "header E exists:X-Foo\n"
      "header E2 exists:X-Bar:\n"
      "header U Reply-To =~ /x/ [if-unset: none]\n"
      "header TWO From:addr:first =~ /x/\n"
      "header NOSPACE Subject=~/x/\n");
  EXPECT_EQ(rule(p, "S").header.field, "Subject");
  EXPECT_EQ(rule(p, "S").header.key(), "subject");
  EXPECT_FALSE(rule(p, "S").header.negate);
  EXPECT_TRUE(rule(p, "N").header.negate);
  EXPECT_EQ(rule(p, "A").header.key(), "ALL");
  EXPECT_TRUE(rule(p, "A").regex.multiline);
  EXPECT_EQ(rule(p, "RAW").header.key(), "from:raw");
  EXPECT_EQ(rule(p, "ADDR").header.key(), "from:addr");
  EXPECT_EQ(rule(p, "NAME").header.key(), "from:name");
  EXPECT_TRUE(rule(p, "E").header.exists_test);
  EXPECT_FALSE(rule(p, "E").is_regex());
  EXPECT_EQ(rule(p, "E2").header.field, "X-Bar");
  EXPECT_TRUE(rule(p, "U").header.has_if_unset);
  EXPECT_EQ(rule(p, "U").header.if_unset, "none");
  EXPECT_EQ(rule(p, "U").regex.pattern, "x");
  EXPECT_EQ(rule(p, "TWO").header.key(), "from:addr:first");
  EXPECT_EQ(rule(p, "NOSPACE").regex.pattern, "x");
}

TEST(Directives, ScoreDescribeTflagsPriority) {
  auto p = ok(
      "score A 2.5\nbody A /a/\ndescribe A Some text here\ntflags A nice multiple maxhits=3 learn\n"
      "priority A -100\n"
      "body B /b/\nscore B 1.0 2.0 3.0 4.0\n"
      "body C /c/\nbody T_D /d/\nbody __E /e/\n");
  const Rule& a = rule(p, "A");
  EXPECT_DOUBLE_EQ(a.score, 2.5);
  EXPECT_TRUE(a.has_score);
  EXPECT_EQ(a.describe, "Some text here");
  EXPECT_TRUE(a.nice);
  EXPECT_TRUE(a.multiple);
  EXPECT_EQ(a.maxhits, 3);
  EXPECT_EQ(a.tflags, (std::vector<std::string>{"nice", "multiple", "maxhits=3", "learn"}));
  EXPECT_EQ(a.priority, -100);
  EXPECT_DOUBLE_EQ(rule(p, "B").score, 1.0);  // set 0: (no bayes, no net)
  EXPECT_EQ(rule(p, "B").scores, (std::array<double, 4>{1.0, 2.0, 3.0, 4.0}));
  EXPECT_EQ(a.scores, (std::array<double, 4>{2.5, 2.5, 2.5, 2.5}));  // one value: every set
  EXPECT_DOUBLE_EQ(rule(p, "C").score, 1.0);  // SpamAssassin's defaults
  EXPECT_DOUBLE_EQ(rule(p, "T_D").score, 0.01);
  EXPECT_DOUBLE_EQ(rule(p, "__E").score, 0.0);
}

TEST(Directives, ScoreSetsOfNiceAndZeroRules) {
  // A Bayes-only rule (0 in the sets without Bayes) is still compiled; an unscored
  // nice rule is negative in every set; a bad value in any set is an error.
  auto p = ok("body BAYESISH /x/\nscore BAYESISH 0 0 3.5 3.5\nbody N /n/\ntflags N nice\n");
  EXPECT_EQ(rule(p, "BAYESISH").scores, (std::array<double, 4>{0, 0, 3.5, 3.5}));
  EXPECT_EQ(rule(p, "N").scores, (std::array<double, 4>{-1, -1, -1, -1}));
  std::vector<char> off = disabled_rules(p.rules);
  EXPECT_FALSE(off[p.index.at("BAYESISH")]);
  EXPECT_EQ(errors_of("body A /a/\nscore A 1 2 x 4\n"), "t.cf:2: rule A: bad score 'x'\n");
}

TEST(Directives, CommentsAndEscapedHash) {
  auto p = ok("body A /a\\#b/ # trailing comment\n  # whole line\n\tbody B /c/\t\n");
  EXPECT_EQ(rule(p, "A").regex.pattern, "a#b");
  EXPECT_TRUE(has(p, "B"));
}

TEST(Directives, LangLinesIgnored) {
  auto p = ok("body A /a/\ndescribe A English\nlang de describe A Deutsch\nlang fr body B /b/\n");
  EXPECT_EQ(rule(p, "A").describe, "English");
  EXPECT_FALSE(has(p, "B"));
  EXPECT_EQ(p.stats.lang_lines, 2u);
}

TEST(Directives, LaterDefinitionWins) {
  auto p = ok("body A /first/\nheader A Subject =~ /second/\n");
  EXPECT_EQ(rule(p, "A").scope, Scope::Header);
  EXPECT_EQ(rule(p, "A").regex.pattern, "second");
  EXPECT_EQ(rule(p, "A").loc.line, 2);
  EXPECT_EQ(p.rules.size(), 1u);
  EXPECT_EQ(p.stats.redefinitions, 1u);
}

// ---- meta ------------------------------------------------------------------

double eval(const std::string& expr, std::map<std::string, int> hits) {
  std::string text;
  for (const auto& [n, v] : hits) text += "body " + n + " /x/\n";
  text += "meta M " + expr + "\n";
  auto p = ok(text);
  std::vector<int> by_index(p.rules.size(), 0);
  for (const auto& [n, v] : hits) by_index[p.index.at(n)] = v;
  return eval_meta(rule(p, "M").meta, [&](int i) { return by_index[static_cast<std::size_t>(i)]; });
}

TEST(Meta, OperatorsAndPrecedence) {
  EXPECT_EQ(eval("A && B", {{"A", 1}, {"B", 1}}), 1);
  EXPECT_EQ(eval("A && B", {{"A", 1}, {"B", 0}}), 0);
  EXPECT_EQ(eval("A || B", {{"A", 0}, {"B", 1}}), 1);
  EXPECT_EQ(eval("!A", {{"A", 0}}), 1);
  EXPECT_EQ(eval("!A && B", {{"A", 1}, {"B", 1}}), 0);        // ! binds tighter than &&
  EXPECT_EQ(eval("A || B && C", {{"A", 1}, {"B", 0}, {"C", 0}}), 1);  // && tighter than ||
  EXPECT_EQ(eval("(A || B) && C", {{"A", 1}, {"B", 0}, {"C", 0}}), 0);
  EXPECT_EQ(eval("A + B + C > 1", {{"A", 1}, {"B", 0}, {"C", 1}}), 1);
  EXPECT_EQ(eval("A + B + C > 1", {{"A", 1}, {"B", 0}, {"C", 0}}), 0);
  EXPECT_EQ(eval("A + B >= 2", {{"A", 1}, {"B", 1}}), 1);
  EXPECT_EQ(eval("A + B < 1", {{"A", 0}, {"B", 0}}), 1);
  EXPECT_EQ(eval("A + B <= 1", {{"A", 1}, {"B", 1}}), 0);
  EXPECT_EQ(eval("A + B == 2", {{"A", 1}, {"B", 1}}), 1);
  EXPECT_EQ(eval("A > 2", {{"A", 3}}), 1);                    // hit counts (tflags multiple)
  EXPECT_EQ(eval("A + B * 2 == 5", {{"A", 1}, {"B", 2}}), 1);  // * before +
  EXPECT_EQ(eval("(A + B) * 2 == 6", {{"A", 1}, {"B", 2}}), 1);
  EXPECT_EQ(eval("A > 0 && B", {{"A", 1}, {"B", 1}}), 1);     // comparison before &&
  EXPECT_EQ(eval("__SUB_1 && !__SUB_2", {{"__SUB_1", 1}, {"__SUB_2", 0}}), 1);
}

TEST(Meta, UndefinedReferenceWarnsAndCountsAsZero) {
  auto p = ok("body A /a/\nmeta M A || NOPE\nheader E eval:check_foo()\nmeta M2 E\n");
  ASSERT_EQ(p.warnings.size(), 3u);
  EXPECT_EQ(p.warnings[0].str(), "t.cf:3: rule E: eval function check_foo is not implemented");
  EXPECT_EQ(p.warnings[1].str(), "t.cf:2: rule M: depends on undefined rule NOPE (counts as 0)");
  EXPECT_EQ(p.warnings[2].str(), "t.cf:4: rule M2: depends on unsupported rule E (counts as 0)");
  EXPECT_EQ(rule(p, "M").meta.kids[1].rule_index, -1);
}

// ---- conditionals ----------------------------------------------------------

TEST(Conditionals, IfpluginAndIf) {
  auto p = ok(
      "ifplugin Mail::SpamAssassin::Plugin::ReplaceTags\nbody RT /a/\nendif\n"
      "ifplugin Mail::SpamAssassin::Plugin::DCC\nbody DCC /a/\nelse\nbody NO_DCC /a/\nendif\n"
      "if !plugin(Mail::SpamAssassin::Plugin::MIMEHeader)\nbody NO_MIMEHDR /a/\nendif\n"
      "if (version >= 3.004000)\nbody V34 /a/\nendif\n"
      "if (version >= 9.000000)\nbody V9 /a/\nendif\n"
      "if can(Mail::SpamAssassin::Conf::feature_bug6558_free)\nbody CAN /a/\nendif\n"
      "if can(Mail::SpamAssassin::Conf::feature_capture_rules)\nbody CAPTURE /a/\nendif\n"
      "if can(Mail::SpamAssassin::Conf::feature_dns_block_rule)\nbody DNS_BLOCK /a/\nendif\n"
      "if can(Mail::SpamAssassin::Plugin::BodyEval::has_check_body_length)\nbody HAS /a/\nendif\n"
      "if !((version >= 3.004000))\nbody OLD /a/\nendif\n"
      "if plugin(Mail::SpamAssassin::Plugin::ReplaceTags) && version > 4\nbody AND /a/\nendif\n"
      "ifplugin Mail::SpamAssassin::Plugin::DCC\nif (version >= 3.004000)\nbody NESTED /a/\nelse\n"
      "body NESTED_ELSE /a/\nendif\nendif\n");
  EXPECT_TRUE(has(p, "RT"));
  EXPECT_FALSE(has(p, "DCC"));
  EXPECT_TRUE(has(p, "NO_DCC"));
  EXPECT_TRUE(has(p, "NO_MIMEHDR"));
  EXPECT_TRUE(has(p, "V34"));
  EXPECT_FALSE(has(p, "V9"));
  EXPECT_TRUE(has(p, "CAN"));
  EXPECT_TRUE(has(p, "CAPTURE"));  // rule_capture.hpp
  EXPECT_FALSE(has(p, "DNS_BLOCK"));
  EXPECT_FALSE(has(p, "HAS"));
  EXPECT_FALSE(has(p, "OLD"));
  EXPECT_TRUE(has(p, "AND"));
  EXPECT_FALSE(has(p, "NESTED"));
  EXPECT_FALSE(has(p, "NESTED_ELSE"));  // an else inside a false block stays false
  EXPECT_GT(p.stats.skipped_by_conditionals, 0u);
}

TEST(Conditionals, PresentPluginsAreConfigurable) {
  ParseOptions opt;
  opt.env.plugins.insert("Mail::SpamAssassin::Plugin::DCC");
  auto p = ok("ifplugin Mail::SpamAssassin::Plugin::DCC\nbody DCC /a/\nendif\n", opt);
  EXPECT_TRUE(has(p, "DCC"));
}

// ---- ReplaceTags -----------------------------------------------------------

// Expected values are what SpamAssassin 4.0.1's Plugin::ReplaceTags produced for
// this file (spamassassin --lint -D replacetags on this machine).
const char* kTagged =
    "replace_tag A (?:a|4)\n"
    "replace_tag B [b8]\n"
    "replace_tag C c\n"
    "replace_tag NEST <A><C>\n"
    "replace_pre P (?:\\s*)\n"
    "replace_post Q (?:x?)\n"
    "replace_inter W \\W{0,2}\n"
    "replace_start <\n"
    "replace_end >\n"
    "body T_RT_BASIC /<A>b<C>/i\n"
    "body T_RT_INTER /<inter W><A><B><C>/\n"
    "body T_RT_PREPOST /foo <pre P><post Q><A>bar<B>/\n"
    "body T_RT_NEST /<NEST>z/\n"
    "body T_RT_UNKNOWN /<A><UNKNOWNTAG>/\n"
    "body T_RT_FLAGLESS_INTER /x<inter W><A><B>/\n"
    "body T_RT_NOT_LISTED /<A>/\n"
    "replace_rules T_RT_BASIC T_RT_INTER T_RT_PREPOST T_RT_NEST T_RT_UNKNOWN T_RT_FLAGLESS_INTER\n";

TEST(ReplaceTags, MatchesSpamAssassin) {
  auto p = ok(kTagged);
  EXPECT_EQ(rule(p, "T_RT_BASIC").regex.pattern, "(?:a|4)bc");
  EXPECT_TRUE(rule(p, "T_RT_BASIC").regex.caseless);
  EXPECT_EQ(rule(p, "T_RT_INTER").regex.pattern, "(?:a|4)\\W{0,2}[b8]\\W{0,2}c");
  EXPECT_EQ(rule(p, "T_RT_PREPOST").regex.pattern, "foo (?:\\s*)(?:a|4)(?:x?)bar(?:\\s*)[b8](?:x?)");
  EXPECT_EQ(rule(p, "T_RT_NEST").regex.pattern, "(?:a|4)cz");
  EXPECT_EQ(rule(p, "T_RT_UNKNOWN").regex.pattern, "(?:a|4)<UNKNOWNTAG>");
  EXPECT_EQ(rule(p, "T_RT_FLAGLESS_INTER").regex.pattern, "x(?:a|4)\\W{0,2}[b8]");
  EXPECT_EQ(rule(p, "T_RT_NOT_LISTED").regex.pattern, "<A>");
  EXPECT_EQ(p.stats.tag_expansions, 6u);
}

TEST(ReplaceTags, TagsDefinedAfterTheRuleStillApply) {
  auto p = ok("body R /<X>/\nreplace_rules R\nreplace_tag X xx\n");
  EXPECT_EQ(rule(p, "R").regex.pattern, "xx");
}

TEST(ReplaceTags, WithoutTheAaPrefixInterWouldLeadTheFirstTag) {
  // split() keeps a leading empty field: this is why the "(?aa)" prefix matters.
  ReplaceTagConfig cfg;
  cfg.tag = {{"A", "a"}, {"B", "b"}};
  cfg.inter = {{"W", "-"}};
  EXPECT_EQ(replace_tags("<inter W><A><B>", cfg), "-a-b");
  EXPECT_EQ(replace_tags("(?aa)<inter W><A><B>", cfg), "(?aa)a-b");
}

TEST(ReplaceTags, UnknownRuleWarns) {
  auto p = ok("replace_rules NOPE\n");
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_EQ(p.warnings[0].str(), "t.cf:1: rule NOPE: replace requested for a non-existing or non-regex rule");
}

// ---- include and folders ---------------------------------------------------

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() / ("rules_test_" + std::to_string(::getpid()) + "_" +
                                                     std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  void write(const std::string& name, const std::string& text) const {
    std::filesystem::create_directories((path / name).parent_path());
    std::ofstream(path / name) << text;
  }
  static inline int counter = 0;
};

TEST(Files, FolderInSortedOrderWithInclude) {
  TempDir d;
  d.write("20_b.cf", "body B /b/\nscore A 3\ninclude sub/inc.cf\n");
  d.write("10_a.cf", "body A /a/\nscore A 2\n");
  d.write("sub/inc.cf", "body INC /i/\n");
  d.write("ignored.txt", "body NOT_CF /x/\n");
  auto r = parse_rule_dir(d.path);
  ASSERT_TRUE(r.ok()) << format_errors(r.errors);
  EXPECT_DOUBLE_EQ(rule(*r.value, "A").score, 3.0);  // 20_b.cf is read after 10_a.cf
  EXPECT_TRUE(has(*r.value, "INC"));
  EXPECT_FALSE(has(*r.value, "NOT_CF"));
  EXPECT_EQ(rule(*r.value, "INC").loc.file, (d.path / "20_b.cf").parent_path().string() + "/sub/inc.cf");
  EXPECT_EQ(r.value->stats.files, 3u);
}

TEST(Files, MissingIncludeAndLoopAreErrors) {
  TempDir d;
  d.write("a.cf", "include nope.cf\n");
  auto r = parse_rule_dir(d.path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(format_errors(r.errors), (d.path / "a.cf").string() + ":1: include: cannot read " +
                                         (d.path / "nope.cf").string() + "\n");
  TempDir loop;
  loop.write("a.cf", "include a.cf\n");
  auto l = parse_rule_dir(loop.path);
  ASSERT_FALSE(l.ok());
  EXPECT_NE(format_errors(l.errors).find("includes nested deeper than 20"), std::string::npos);
}

// ---- error goldens ---------------------------------------------------------

TEST(Errors, Goldens) {
  struct Row { const char* text; const char* expected; };
  const Row rows[] = {
      {"body A abc\n", "t.cf:1: rule A: invalid regexp 'abc': missing regexp delimiters\n"},
      {"\nbody A /abc\n", "t.cf:2: rule A: invalid regexp '/abc': invalid end delimiter/mods\n"},
      {"body A /a/b/\n", "t.cf:1: rule A: invalid regexp '/a/b/': unquoted delimiter '/' found\n"},
      {"uri A m{a}e\n", "t.cf:1: rule A: invalid regexp 'm{a}e': invalid end delimiter/mods\n"},
      {"body 1A /a/\n",
       "t.cf:1: rule 1A: invalid rule name (letters, digits and _, not starting with a digit, at most 128)\n"},
      {"body A\n", "t.cf:1: rule A: missing value for 'body'\n"},
      {"header A Subject ~ /x/\n",
       "t.cf:1: rule A: invalid header test 'Subject ~ /x/' (expected Field =~ /re/ or exists:Field)\n"},
      {"header A From:bogus =~ /x/\n", "t.cf:1: rule A: invalid header modifier ':bogus'\n"},
      {"header A exists:Bad/Name\n", "t.cf:1: rule A: invalid header name in 'exists:Bad/Name'\n"},
      {"meta M (A && B\n", "t.cf:1: rule M: missing ')' in meta expression\n"},
      {"meta M A &&\n", "t.cf:1: rule M: meta expression ends early\n"},
      {"meta M A B\n", "t.cf:1: rule M: unexpected 'B' in meta expression\n"},
      {"meta M A % B\n", "t.cf:1: rule M: unexpected character '%' in meta expression\n"},
      {"meta M A\nmeta A M\n", "t.cf:1: rule M: meta rule depends on itself (circular dependency)\n"},
      {"score A x\n", "t.cf:1: rule A: bad score 'x'\n"},
      {"score A 1 2\n", "t.cf:1: rule A: score takes one or four values\n"},
      {"endif\n", "t.cf:1: endif: missing starting 'if' for 'endif'\n"},
      {"else\n", "t.cf:1: else: 'else' missing starting if\n"},
      {"if (version >= 3\nendif\n", "t.cf:1: if: missing ')' in condition\n"},
      {"ifplugin Mail::SpamAssassin::Plugin::ReplaceTags\nbody A /a/\n",
       "t.cf:1: ifplugin: unclosed 'ifplugin' at end of file\n"},
  };
  for (const auto& row : rows) EXPECT_EQ(errors_of(row.text), row.expected) << row.text;
}

TEST(Errors, EveryErrorIsListedAndNothingLoads) {
  auto r = parse_rule_text("body A abc\nbody B /ok/\nheader C Subject ~ x\nbody D /d\n", "t.cf");
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(r.value.has_value());
  EXPECT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[1].line, 3);
  EXPECT_EQ(r.errors[2].key, "rule D");
}

// ---- unsupported directives ------------------------------------------------

TEST(Warnings, UnsupportedDirectivesAreCountedWithFileLineRule) {
  auto p = ok(
      "header H_EVAL eval:check_for_missing_to_header()\n"
      "body B_EVAL eval:check_stock_info()\n"
      "full F_EVAL eval:check_razor2()\n"
      "rawbody R_EVAL eval:check_foo()\n"
      "uri_detail UD text =~ /x/\n"
      "askdns AD _SENDERDOMAIN_ A /^1/\n"
      "urirhssub URIBL_X multi.uribl.com. A 2\n"
      "mimeheader MH Content-Type =~ /x/\n"
      "required_score 5\n"
      "header ALLT ALL-FOO =~ /x/\n");
  auto counts = p.warning_counts();
  EXPECT_EQ(counts["header eval:"], 1u);
  EXPECT_EQ(counts["body eval:"], 1u);
  EXPECT_EQ(counts["full eval:"], 1u);
  EXPECT_EQ(counts["rawbody eval:"], 1u);
  EXPECT_EQ(counts["uri_detail"], 1u);
  EXPECT_EQ(counts["askdns"], 1u);
  EXPECT_EQ(counts["urirhssub"], 1u);
  EXPECT_EQ(counts["mimeheader"], 1u);
  EXPECT_EQ(counts["required_score"], 1u);
  EXPECT_EQ(counts["header pseudo-field"], 1u);
  EXPECT_EQ(p.warnings[5].str(), "t.cf:6: rule AD: 'askdns' rules are not supported");
  EXPECT_EQ(p.warnings[8].str(), "t.cf:9: required_score: setting 'required_score' is not used by mxgate");
  EXPECT_TRUE(p.unsupported_rules.count("H_EVAL"));
  EXPECT_FALSE(has(p, "B_EVAL"));
  EXPECT_FALSE(has(p, "ALLT"));  // an ALL-* name SpamAssassin lacks: unsupported, counted, listed
  EXPECT_TRUE(p.unsupported_rules.count("ALLT"));
}

// Conf::Parser's defaults: 1.0, 0.01 for T_ rules, negated for `tflags nice`;
// an explicit score wins either way (SpamAssassin reported MAILING_LIST_MULTI,
// unscored and nice, as -1.0 on the public corpus).
TEST(Directives, DefaultScoresOfUnscoredRules) {
  auto parsed = parse_rule_text(
      "body A /a/\nbody T_B /b/\nbody C /c/\ntflags C nice\nbody T_D /d/\ntflags T_D nice\n"
      "body E /e/\ntflags E nice\nscore E 0.5\n",
      "t.cf");
  ASSERT_TRUE(parsed.ok());
  auto score = [&](const char* n) { return parsed.value->rules[parsed.value->index.at(n)].score; };
  EXPECT_DOUBLE_EQ(score("A"), 1.0);
  EXPECT_DOUBLE_EQ(score("T_B"), 0.01);
  EXPECT_DOUBLE_EQ(score("C"), -1.0);
  EXPECT_DOUBLE_EQ(score("T_D"), -0.01);
  EXPECT_DOUBLE_EQ(score("E"), 0.5);
}

}  // namespace
}  // namespace mxgate::rules

namespace mxgate::rules {
namespace {

TEST(CaptureSyntax, TemplatesAndNamedGroupsAsConfParserFindsThem) {
  EXPECT_EQ(template_tags("a%{FOO}b%{BAR_2}c%{FOO}"), (std::vector<std::string>{"FOO", "BAR_2"}));
  EXPECT_EQ(template_tags("\\%{FOO} %{lower} %{_X} %{A__B} %{X-Y}"), std::vector<std::string>{});
  EXPECT_EQ(template_tags("%{HEADER(From:addr)}"), std::vector<std::string>{"HEADER(From:addr)"});
  EXPECT_EQ(template_tags("%{OPEN(x} %{"), std::vector<std::string>{});
  EXPECT_TRUE(has_capture_groups("x(?<NAME>y)"));
  EXPECT_TRUE(has_capture_groups("(?P<N>y)"));
  EXPECT_TRUE(has_capture_groups("(?'N'y)"));
  EXPECT_FALSE(has_capture_groups("(?<name>y)"));  // lower case: a plain group
  EXPECT_FALSE(has_capture_groups("(?<!x)(?<=y)(?:z)"));
}

}  // namespace
}  // namespace mxgate::rules
