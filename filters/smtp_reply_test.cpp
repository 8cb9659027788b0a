#include "filters/smtp_reply.hpp"

#include <gtest/gtest.h>

namespace mxgate {
namespace {

TEST(SmtpReply, WireFormSingleAndMultiLine) {
  EXPECT_EQ(SmtpReply(250, "2.1.0", "Ok").wire(), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(SmtpReply(550, "5.7.1", "one\ntwo").wire(), "550-5.7.1 one\r\n550 5.7.1 two\r\n");
  EXPECT_EQ(SmtpReply(354, "", "End data").wire(), "354 End data\r\n");
  EXPECT_EQ(SmtpReply(250, "", "host\nPIPELINING").wire(), "250-host\r\n250 PIPELINING\r\n");
}

TEST(SmtpReply, RefusesMismatchedClassAndBadCodes) {
  EXPECT_THROW(SmtpReply(550, "4.7.1", "x"), std::invalid_argument);
  EXPECT_THROW(SmtpReply(451, "5.7.1", "x"), std::invalid_argument);
  EXPECT_THROW(SmtpReply(199, "", "x"), std::invalid_argument);
  EXPECT_THROW(SmtpReply(600, "", "x"), std::invalid_argument);
  EXPECT_THROW(SmtpReply(354, "3.0.0", "x"), std::invalid_argument);
  EXPECT_THROW(SmtpReply(550, "5.7", "x"), std::invalid_argument);
  EXPECT_THROW(SmtpReply(550, "5.7.1", "bad\rtext"), std::invalid_argument);
  std::string why;
  EXPECT_FALSE(SmtpReply::make(550, "4.1.1", "x", &why));
  EXPECT_NE(why.find("does not match"), std::string::npos) << why;
}

TEST(SmtpReply, EnhancedCodeAndClasses) {
  SmtpReply r(452, "4.5.3", "Too many recipients");
  EXPECT_EQ(r.enhanced(), "4.5.3");
  EXPECT_TRUE(r.transient());
  EXPECT_FALSE(r.positive());
  EXPECT_EQ(SmtpReply(220, "", "hello").enhanced(), "");
}

TEST(SmtpReply, RelayedKeepsLinesAndWithCodeFixesClass) {
  auto r = SmtpReply::relayed(421, {"4.7.0 Try later", "4.7.0 really"});
  EXPECT_EQ(r.wire(), "421-4.7.0 Try later\r\n421 4.7.0 really\r\n");
  auto r2 = r.with_code(451);
  EXPECT_EQ(r2.wire(), "451-4.7.0 Try later\r\n451 4.7.0 really\r\n");
  auto r3 = SmtpReply::relayed(550, {"5.1.1 <a@b>: no such user"}).with_code(450);
  EXPECT_EQ(r3.wire(), "450 4.1.1 <a@b>: no such user\r\n");
  EXPECT_EQ(SmtpReply::relayed(250, {}).wire(), "250 \r\n");
}

TEST(SmtpReply, IsEnhancedCode) {
  EXPECT_TRUE(is_enhanced_code("2.0.0"));
  EXPECT_TRUE(is_enhanced_code("5.7.23"));
  EXPECT_TRUE(is_enhanced_code("4.123.456"));
  EXPECT_FALSE(is_enhanced_code("3.0.0"));
  EXPECT_FALSE(is_enhanced_code("5.1234.1"));
  EXPECT_FALSE(is_enhanced_code("5..1"));
  EXPECT_FALSE(is_enhanced_code("Ok"));
}

}  // namespace
}  // namespace mxgate

namespace mxgate {
namespace {
TEST(SmtpReply, StrForLogs) {
  EXPECT_EQ(SmtpReply(250, "2.0.0", "Ok: queued").str(), "250 2.0.0 Ok: queued");
  EXPECT_EQ(SmtpReply::relayed(550, {"5.1.1 a", "5.1.1 b"}).str(), "550-5.1.1 a\n550 5.1.1 b");
}
}  // namespace
}  // namespace mxgate
