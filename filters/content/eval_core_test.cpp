// The eval-test seam: parsing eval: calls, which functions count as supported,
// how rules lint reports them, and eval rules feeding metas in scan_content.
#include <gtest/gtest.h>

#include "filters/content/content_scan.hpp"
#include "filters/content/eval_test_util.hpp"
#include "filters/filter_state.hpp"
#include "rules/rule_compiler.hpp"

namespace mxgate {
namespace {

TEST(EvalCall, ParsesPerlArguments) {
  rules::EvalCall c;
  EXPECT_EQ(rules::parse_eval_call("check_for_shifted_date('-6', '-3')", c), "");
  EXPECT_EQ(c.function, "check_for_shifted_date");
  EXPECT_EQ(c.args, (std::vector<std::string>{"-6", "-3"}));
  EXPECT_EQ(rules::parse_eval_call("check_dkim_valid()", c), "");
  EXPECT_TRUE(c.args.empty());
  EXPECT_EQ(rules::parse_eval_call(R"(html_text_match('title', '\bwin\b', "a\"b"))", c), "");
  EXPECT_EQ(c.args, (std::vector<std::string>{"title", "\\bwin\\b", "a\"b"}));
  EXPECT_EQ(rules::parse_eval_call("check_abundant_unicode_ratio(0.02)", c), "");
  EXPECT_EQ(c.args, (std::vector<std::string>{"0.02"}));
  EXPECT_EQ(rules::parse_eval_call("check_x('a' 'b')", c), "expected ',' between arguments");
  EXPECT_EQ(rules::parse_eval_call("check_x('a)", c), "unterminated string in arguments");
  EXPECT_EQ(rules::parse_eval_call("check_x", c), "expected check_x(...)");
}

TEST(EvalRules, SupportedFunctionsBecomeEvalRulesOthersUnsupported) {
  const char* cf =
      "header DKIM_OK eval:check_dkim_valid()\n"
      "body NOT_HERE eval:check_nonexistent_function('x')\n"
      "meta BOTH DKIM_OK && !NOT_HERE\n"
      "score BOTH 2.5\n";
  auto parsed = rules::parse_rule_text(cf, "t.cf", content_parse_options());
  ASSERT_TRUE(parsed.ok()) << format_errors(parsed.errors);
  const auto& p = *parsed.value;
  ASSERT_TRUE(p.index.count("DKIM_OK"));
  EXPECT_EQ(p.rules[p.index.at("DKIM_OK")].scope, rules::Scope::Eval);
  EXPECT_EQ(p.rules[p.index.at("DKIM_OK")].eval.function, "check_dkim_valid");
  EXPECT_TRUE(p.unsupported_rules.count("NOT_HERE"));
  EXPECT_EQ(p.unsupported_evals.at("check_nonexistent_function"), 1u);
  // Without the content filter's options nothing is supported (the rules library
  // alone runs no eval tests).
  auto bare = rules::parse_rule_text(cf, "t.cf");
  ASSERT_TRUE(bare.ok());
  EXPECT_TRUE(bare.value->unsupported_rules.count("DKIM_OK"));
  // `rules lint` names them.
  auto rs = rules::RuleSet::compile(std::move(*parsed.value));
  ASSERT_TRUE(rs.ok());
  std::string lint = rules::lint_report(**rs.value);
  EXPECT_NE(lint.find("supported: check_dkim_valid(1)"), std::string::npos) << lint;
  EXPECT_NE(lint.find("not supported: check_nonexistent_function(1)"), std::string::npos) << lint;
}

TEST(EvalRules, MalformedEvalIsAnErrorWithFileAndLine) {
  auto parsed = rules::parse_rule_text("\n\nheader BAD eval:check_dkim_valid('x'\n", "t.cf", content_parse_options());
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.errors[0].line, 3);
  EXPECT_EQ(parsed.errors[0].key, "rule BAD");
}

// A DKIM result from the dkim filter reaches the eval rule and, through it, a meta.
TEST(EvalRules, EvalHitsFeedMetasInScanContent) {
  const char* cf =
      "header __DKIM_OK eval:check_dkim_valid('example.org')\n"
      "header DMARC_OK eval:check_dmarc_pass()\n"
      "score DMARC_OK -0.5\n"
      "meta SIGNED_AND_PASS __DKIM_OK && DMARC_OK\n"
      "score SIGNED_AND_PASS -1\n";
  auto parsed = rules::parse_rule_text(cf, "t.cf", content_parse_options());
  ASSERT_TRUE(parsed.ok()) << format_errors(parsed.errors);
  auto rs = rules::RuleSet::compile(std::move(*parsed.value));
  ASSERT_TRUE(rs.ok());
  Message msg("From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n");
  MimeView view = parse_mime(msg);
  Envelope env;
  env.state = std::make_shared<FilterState>();
  auto scan = [&] {
    ContentScan cs = scan_content(**rs.value, view, msg, env, ScanLimits{});
    std::vector<std::string> names;
    for (const auto& h : cs.hits) names.push_back((*rs.value)->rules()[h.rule].name);
    return names;
  };
  EXPECT_TRUE(scan().empty());
  DkimOutcome d;
  d.result = AuthResult::Pass;
  d.domain = "example.org";
  d.selector = "s1";
  env.state->auth.dkim.push_back(d);
  EXPECT_EQ(scan(), (std::vector<std::string>{"__DKIM_OK"}));
  DmarcOutcome dm;
  dm.result = AuthResult::Pass;
  dm.policy = "reject";
  dm.from_domain = "example.org";
  env.state->auth.dmarc = dm;
  EXPECT_EQ(scan(), (std::vector<std::string>{"__DKIM_OK", "DMARC_OK", "SIGNED_AND_PASS"}));
  // A signature by another domain does not satisfy check_dkim_valid('example.org').
  env.state->auth.dkim[0].domain = "example.net";
  EXPECT_EQ(scan(), (std::vector<std::string>{"DMARC_OK"}));
}

TEST(EvalAuth, SpfResultsByIdentity) {
  Envelope env;
  env.state = std::make_shared<FilterState>();
  SpfOutcome o;
  o.result = AuthResult::SoftFail;
  o.identity = "mailfrom";
  o.sender = "a@example.org";
  env.state->auth.spf = o;
  const std::string m = "From: a@example.org\nSubject: x\n\nhi\n";
  EXPECT_TRUE(testing::hits("check_for_spf_softfail", {}, m, env));
  EXPECT_FALSE(testing::hits("check_for_spf_fail", {}, m, env));
  EXPECT_FALSE(testing::hits("check_for_spf_helo_softfail", {}, m, env));
  // No SPF check ran: even check_for_spf_none stays silent.
  env.state->auth.spf.reset();
  EXPECT_FALSE(testing::hits("check_for_spf_none", {}, m, env));
  // The null reverse path: SPF checked the HELO identity.
  o.identity = "helo";
  o.result = AuthResult::Pass;
  env.state->auth.spf = o;
  EXPECT_TRUE(testing::hits("check_for_spf_helo_pass", {}, m, env));
  EXPECT_FALSE(testing::hits("check_for_spf_pass", {}, m, env));
}

TEST(EvalAuth, DkimAuthorSignature) {
  Envelope env;
  env.state = std::make_shared<FilterState>();
  DkimOutcome d;
  d.result = AuthResult::Pass;
  d.domain = "Mail.Example.org";
  env.state->auth.dkim.push_back(d);
  EXPECT_FALSE(testing::hits("check_dkim_valid_author_sig", {}, "From: a@example.org\n\nx\n", env));
  EXPECT_TRUE(testing::hits("check_dkim_valid_author_sig", {}, "From: B <b@mail.example.org>\n\nx\n", env));
  EXPECT_TRUE(testing::hits("check_dkim_signed", {}, "From: a@example.org\n\nx\n", env));
  env.state->auth.dkim[0].result = AuthResult::Fail;
  EXPECT_TRUE(testing::hits("check_dkim_signed", {}, "From: a@example.org\n\nx\n", env));
  EXPECT_FALSE(testing::hits("check_dkim_valid", {}, "From: a@example.org\n\nx\n", env));
}

}  // namespace
}  // namespace mxgate
