// FreeMail: which addresses count as freemail, and the From / Reply-To / body
// comparisons, on settings read from rule text as the content filter reads them.
#include <gtest/gtest.h>

#include "filters/content/eval_test_util.hpp"

namespace mxgate {
namespace {


const char* kDomains = "freemail_domains gmail.com yahoo.* hotmail.co.?? mail.com\n";

TEST(EvalFreemail, FromExactAndWildcardDomains) {
  EvalSettings s = testing::settings_from(kDomains);
  using testing::hits;
  EXPECT_TRUE(hits("check_freemail_from", {}, "From: Bob <bob@gmail.com>\n\nhi\n", {}, s));
  EXPECT_TRUE(hits("check_freemail_from", {}, "From: bob@YAHOO.de\n\nhi\n", {}, s));
  EXPECT_TRUE(hits("check_freemail_from", {}, "From: bob@hotmail.co.uk\n\nhi\n", {}, s));
  // * does not cross a dot; ? is exactly one character.
  EXPECT_FALSE(hits("check_freemail_from", {}, "From: bob@yahoo.co.uk\n\nhi\n", {}, s));
  EXPECT_FALSE(hits("check_freemail_from", {}, "From: bob@hotmail.co.u\n\nhi\n", {}, s));
  EXPECT_FALSE(hits("check_freemail_from", {}, "From: bob@example.org\n\nhi\n", {}, s));
  // Role accounts never count.
  EXPECT_FALSE(hits("check_freemail_from", {}, "From: postmaster@gmail.com\n\nhi\n", {}, s));
  // The regex argument filters the address.
  EXPECT_TRUE(hits("check_freemail_from", {"\\d@"}, "From: bob7@gmail.com\n\nhi\n", {}, s));
  EXPECT_FALSE(hits("check_freemail_from", {"\\d@"}, "From: bob@gmail.com\n\nhi\n", {}, s));
  // No freemail_domains: the plugin is off.
  EXPECT_FALSE(hits("check_freemail_from", {}, "From: bob@gmail.com\n\nhi\n"));
}

TEST(EvalFreemail, WelcomelistedDomainOrAddress) {
  EvalSettings s = testing::settings_from(std::string(kDomains) + "freemail_welcomelist friend@gmail.com mail.com\n");
  using testing::hits;
  EXPECT_FALSE(hits("check_freemail_from", {}, "From: friend@gmail.com\n\nhi\n", {}, s));
  EXPECT_FALSE(hits("check_freemail_from", {}, "From: anyone@mail.com\n\nhi\n", {}, s));
  EXPECT_TRUE(hits("check_freemail_from", {}, "From: other@gmail.com\n\nhi\n", {}, s));
}

TEST(EvalFreemail, HeaderAndEnvelopeFrom) {
  EvalSettings s = testing::settings_from(kDomains);
  Envelope env;
  env.mail_from = Mailbox{"bounce77@gmail.com", {}};
  env.client.ip = "192.0.2.9";  // a live transaction: a connected client
  using testing::hits;
  EXPECT_TRUE(hits("check_freemail_header", {"EnvelopeFrom", "\\d@"}, "From: a@example.org\n\nx\n", env, s));
  EXPECT_TRUE(hits("check_freemail_header", {"Reply-To"}, "From: a@example.org\nReply-To: x@gmail.com\n\nx\n", {}, s));
  EXPECT_FALSE(hits("check_freemail_header", {"Reply-To"}, "From: a@example.org\n\nx\n", {}, s));
}

TEST(EvalFreemail, ReplyToDiffersFromFrom) {
  EvalSettings s = testing::settings_from(kDomains);
  using testing::hits;
  // Both freemail, different: the advance-fee classic.
  EXPECT_TRUE(hits("check_freemail_replyto", {"replyto"},
                   "From: Dr Bob <bob@yahoo.com>\nReply-To: bob.private@gmail.com\n\nx\n", {}, s));
  // Same address in both: nothing.
  EXPECT_FALSE(hits("check_freemail_replyto", {"replyto"},
                    "From: bob@gmail.com\nReply-To: Bob <bob@gmail.com>\n\nx\n", {}, s));
  // Reply-To freemail, body asks to write to another freemail.
  EXPECT_TRUE(hits("check_freemail_replyto", {"replyto"},
                   "From: a@example.org\nReply-To: x@gmail.com\n\nPlease write to claims.agent@hotmail.co.uk today\n", {},
                   s));
  // ... unless the envelope sender is a list's bounce address.
  Envelope list;
  list.mail_from = Mailbox{"owner-list@example.org", {}};
  list.client.ip = "192.0.2.9";  // a live transaction: a connected client
  EXPECT_FALSE(hits("check_freemail_replyto", {"replyto"},
                    "From: Dr Bob <bob@yahoo.com>\nReply-To: bob.private@gmail.com\n\nx\n", list, s));
  // 'reply': From freemail, the body names another freemail.
  EXPECT_TRUE(hits("check_freemail_replyto", {"reply"}, "From: bob@gmail.com\n\nContact me at other@yahoo.com now\n",
                   {}, s));
  // A quoted address ("x@y wrote:") is not an invitation to write there.
  EXPECT_FALSE(hits("check_freemail_replyto", {"reply"},
                    "From: bob@gmail.com\n\nother@yahoo.com wrote: hello\n", {}, s));
}

TEST(EvalFreemail, TooManyBodyAddressesDisableTheBody) {
  EvalSettings s = testing::settings_from(kDomains);
  std::string body = "From: bob@gmail.com\n\n";
  for (int i = 0; i < 6; ++i) body += "write to person" + std::to_string(i) + "@example.org now\n";
  body += "or other@yahoo.com\n";
  EXPECT_FALSE(testing::hits("check_freemail_replyto", {"reply"}, body, {}, s));
  EXPECT_FALSE(testing::hits("check_freemail_body", {}, body, {}, s));
  EXPECT_TRUE(testing::hits("check_freemail_body", {}, "From: a@b.org\n\nmail other@yahoo.com\n", {}, s));
}

TEST(EvalFreemail, BadSettingsNameFileAndLine) {
  auto parsed = rules::parse_rule_text("\nfreemail_domains gmail.com bad_domain!\n", "fm.cf", content_parse_options());
  ASSERT_TRUE(parsed.ok());
  auto s = eval_settings(parsed.value->settings);
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_EQ(s.errors[0].line, 2);
  EXPECT_EQ(s.errors[0].key, "freemail_domains");
}

}  // namespace
}  // namespace mxgate
