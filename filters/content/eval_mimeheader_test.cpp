// MIMEHeader's tests (eval_mimeheader.cpp, sa_message.cpp). Every expectation was
// checked against SpamAssassin 4.0.1 (`spamassassin -L -t --cf=...` with the same
// rules on the same message): it hit exactly A C D F G H K L M N O P Q.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "filters/content/eval_test_util.hpp"

namespace mxgate {
namespace {

const std::string kMessage =
    "From: a@example.com\nTo: b@example.com\nSubject: test\nDate: Mon, 7 Dec 2026 10:00:00 +0000\n"
    "Message-ID: <1@example.com>\nMIME-Version: 1.0\n"
    "Content-Type: multipart/mixed;\n\tboundary=\"XYZ\"\n\n"
    "--XYZ\nContent-Type: text/plain; charset=us-ascii\n\nhello\n"
    "--XYZ\nContent-Type: image/gif;\n\tname=\"x.gif\"\nContent-Transfer-Encoding: base64\n"
    "Content-Disposition: attachment; filename=\"=?utf-8?q?lottery=2Egif?=\"\n\n"
    "R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=\n--XYZ--\n";

const char* const kRules = R"(mimeheader T_A Content-Type =~ /^image\/gif/i
mimeheader T_B Content-Type:raw =~ /^multipart/
mimeheader T_C Content-Type:raw =~ /^ multipart\/mixed;\n\tboundary/
mimeheader T_D Content-Type:raw =~ /^image\/gif;\n\tname="x\.gif"$/s
mimeheader T_E Content-Type =~ /^multipart/
tflags T_E range=2-
mimeheader T_F Content-Type =~ /^multipart/
tflags T_F range=1
mimeheader T_G Content-Id =~ /^none$/ [if-unset: none]
mimeheader T_H Content-Disposition =~ /lottery\.gif/
mimeheader T_I Content-Disposition:raw =~ /lottery\.gif/
mimeheader T_J Content-Type =~ /image\/gif.*\n.*text\/plain/s
mimeheader T_K Content-Type =~ /text\/plain[^\n]*\n[^\n]*image\/gif/
tflags T_K concat
mimeheader T_L Content-Type !~ /nothing/
mimeheader T_M ALL =~ /^Content-Transfer-Encoding: base64$/m
mimeheader T_N ALL:raw =~ /^Content-Type:  multipart\/mixed; boundary="XYZ"$/m
mimeheader T_O Content-Type =~ /^text\/plain; charset=us-ascii\n$/
mimeheader T_P X-Nothing =~ /^$/
mimeheader T_Q X-Nothing:raw =~ /^$/
)";

std::set<std::string> hits_of(const std::string& rules_text, const std::string& message) {
  return testing::eval_rule_hits(rules_text, message);
}

TEST(EvalMimeHeader, AgreesWithSpamAssassin) {
  std::set<std::string> want = {"T_A", "T_C", "T_D", "T_F", "T_G", "T_H", "T_K",
                                "T_L", "T_M", "T_N", "T_O", "T_P", "T_Q"};
  EXPECT_EQ(hits_of(kRules, kMessage), want);
}

TEST(EvalMimeHeader, ParsedAsSpamAssassinParsesIt) {
  auto parsed = rules::parse_rule_text(
      "mimeheader A Content-Type: =~ /x/i [if-unset: text/plain]\nmimeheader B Content-Id:raw !~ m{y}\n", "t.cf",
      content_parse_options());
  ASSERT_TRUE(parsed.errors.empty());
  const auto& a = parsed.value->rules.at(0);
  EXPECT_EQ(a.eval.function, "mimeheader");
  EXPECT_EQ(a.eval.args, (std::vector<std::string>{"Content-Type", "=~", "/x/i", "text/plain"}));
  const auto& b = parsed.value->rules.at(1);
  EXPECT_EQ(b.eval.args, (std::vector<std::string>{"Content-Id:raw", "!~", "m{y}", ""}));

  // Errors name file, line and rule; an eval: test cannot call the function.
  auto bad = rules::parse_rule_text("mimeheader C Content-Type /x/\nmimeheader D Content-Type =~ x\n", "t.cf",
                                    content_parse_options());
  ASSERT_EQ(bad.errors.size(), 2u);
  EXPECT_EQ(bad.errors[0].line, 1);
  EXPECT_NE(bad.errors[0].str().find("rule C"), std::string::npos) << bad.errors[0].str();
  EXPECT_NE(bad.errors[1].str().find("missing regexp delimiters"), std::string::npos) << bad.errors[1].str();
  auto named = rules::parse_rule_text("body E eval:mimeheader('Content-Type', '=~', '/x/', '')\n", "t.cf",
                                      content_parse_options());
  ASSERT_TRUE(named.errors.empty());
  EXPECT_TRUE(named.value->unsupported_rules.count("E"));

  // A pattern that does not compile fails the load.
  auto uncompilable = rules::parse_rule_text("mimeheader F Content-Type =~ /(/\n", "t.cf", content_parse_options());
  ASSERT_TRUE(uncompilable.errors.empty());
  EXPECT_EQ(check_eval_args(*uncompilable.value).size(), 1u);
}

TEST(EvalMimeHeader, PartsWithoutTheFieldAndNestedMessages) {
  // A forwarded message's parts count as parts; a part without Content-Type reads
  // the if-unset text, not "text/plain".
  const std::string fwd =
      "From: a@example.com\nSubject: fwd\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"B\"\n\n"
      "--B\n\nno headers here\n"
      "--B\nContent-Type: message/rfc822\n\n"
      "From: c@example.net\nSubject: inner\nContent-Type: application/zip; name=\"lotto.zip\"\n\nUEsDBA==\n"
      "--B--\n";
  std::set<std::string> got = hits_of(
      "mimeheader U1 Content-Type =~ /^application\\/zip/\n"
      "mimeheader U2 Content-Type =~ /^unset$/ [if-unset: unset]\n"
      "mimeheader U3 Content-Type =~ /lott(?:o|ery)/i\n"
      "mimeheader U4 Content-Type =~ /^application/\ntflags U4 range=-3\n",
      fwd);
  EXPECT_EQ(got, (std::set<std::string>{"U1", "U2", "U3"}));
}

}  // namespace
}  // namespace mxgate
