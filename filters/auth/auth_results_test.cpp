// Authentication-Results (RFC 8601): the header we write, and the removal of fields
// that claim our authserv-id.
#include "filters/auth/auth_results.hpp"

#include <gtest/gtest.h>

namespace mxgate {
namespace {

TEST(AuthResults, ValuesAreTokensOrQuoted) {
  EXPECT_EQ(ar_value("pass"), "pass");
  EXPECT_EQ(ar_value("user@example.org"), "user@example.org");
  EXPECT_EQ(ar_value("@example.org"), "@example.org");
  EXPECT_EQ(ar_value("example.org"), "example.org");
  EXPECT_EQ(ar_value("abc/def+="), "\"abc/def+=\"");  // a b= prefix holds tspecials
  EXPECT_EQ(ar_value("good.com(.evil.com"), "\"good.com(.evil.com\"");
  EXPECT_EQ(ar_value("a b@example.org"), "\"a b@example.org\"");
  EXPECT_EQ(ar_value("x\"y"), "\"x\\\"y\"");
  EXPECT_EQ(ar_value("a\r\nb"), "\"ab\"");
}

TEST(AuthResults, OneClausePerMethodAndSignature) {
  AuthResults a;
  SpfOutcome spf;
  spf.result = AuthResult::Pass;
  spf.identity = "mailfrom";
  spf.sender = "a@example.org";
  a.spf = spf;
  a.dkim_checked = true;
  DkimOutcome d1;
  d1.result = AuthResult::Pass;
  d1.domain = "example.org";
  d1.selector = "s1";
  d1.algorithm = "rsa-sha256";
  d1.b_prefix = "abc/DEF+";
  DkimOutcome d2;
  d2.result = AuthResult::Fail;
  d2.domain = "other.example";
  d2.selector = "s2";
  d2.reason = "body hash mismatch";
  a.dkim = {d1, d2};
  DmarcOutcome dm;
  dm.result = AuthResult::Pass;
  dm.from_domain = "example.org";
  dm.policy = "reject";
  dm.disposition = "none";
  a.dmarc = dm;
  EXPECT_EQ(authentication_results_value("mx.example", a),
            "mx.example;\r\n"
            "\tspf=pass smtp.mailfrom=a@example.org;\r\n"
            "\tdkim=pass header.d=example.org header.s=s1 header.a=rsa-sha256 header.b=\"abc/DEF+\";\r\n"
            "\tdkim=fail (body hash mismatch) header.d=other.example header.s=s2;\r\n"
            "\tdmarc=pass (p=reject dis=none) header.from=example.org");
  HeaderField f{"Authentication-Results", " " + authentication_results_value("mx.example", a)};
  EXPECT_TRUE(f.valid_to_add());
}

TEST(AuthResults, NothingCheckedSaysNone) {
  AuthResults a;
  a.dkim_checked = true;
  EXPECT_EQ(authentication_results_value("mx.example", a), "mx.example;\r\n\tdkim=none");
  EXPECT_EQ(authentication_results_value("mx.example", AuthResults{}), "mx.example; none");
}

TEST(AuthResults, CommentsCannotBreakOut) {
  AuthResults a;
  SpfOutcome spf;
  spf.result = AuthResult::PermError;
  spf.identity = "helo";
  spf.helo = "h.example";
  spf.reason = "bad ) record\r\nX-Injected: yes";
  a.spf = spf;
  std::string v = authentication_results_value("mx", a);
  EXPECT_EQ(v, "mx;\r\n\tspf=permerror (bad \\) recordX-Injected: yes) smtp.helo=h.example");
}

// A NUL or control byte from a sender's DNS must not make the field unaddable (we
// would then forward without our results while removing forged ones).
TEST(AuthResults, ControlBytesFromDnsAreReplaced) {
  AuthResults a;
  SpfOutcome spf;
  spf.result = AuthResult::PermError;
  spf.identity = "mailfrom";
  spf.sender = std::string("a\x01" "b@example.org");
  spf.reason = std::string("unknown mechanism: x\0y\x1b\xff", 24);
  a.spf = spf;
  std::string v = authentication_results_value("mx", a);
  EXPECT_EQ(v, "mx;\r\n\tspf=permerror (unknown mechanism: x?y?" "?) smtp.mailfrom=\"a?b@example.org\"");
  HeaderField f{"Authentication-Results", " " + v};
  EXPECT_TRUE(f.valid_to_add());
}

TEST(AuthResults, ClaimsAuthservIdSkipsCommentsAndCase) {
  EXPECT_TRUE(claims_authserv_id({"Authentication-Results", " MX.Example; spf=pass"}, "mx.example"));
  EXPECT_TRUE(claims_authserv_id({"Authentication-Results", " (comment) mx.example 1; none"}, "mx.example"));
  EXPECT_TRUE(claims_authserv_id({"Authentication-Results", "\r\n\t\"mx.example\"; none"}, "mx.example"));
  EXPECT_FALSE(claims_authserv_id({"Authentication-Results", " mx.example.evil; none"}, "mx.example"));
  EXPECT_FALSE(claims_authserv_id({"Authentication-Results", " other; spf=pass smtp.mailfrom=mx.example"}, "mx.example"));
}

TEST(AuthResults, OursAreRemovedOthersKeptByteForByte) {
  const std::string data =
      "Authentication-Results: mx.example;\r\n\tspf=pass\r\n"
      "Received: from a\r\n"
      "authentication-results:other.example; dkim=pass\r\n"
      "Authentication-Results : MX.EXAMPLE; dkim=pass\r\n"
      "Subject:  two  spaces\r\n"
      "\r\n"
      "Authentication-Results: mx.example; in the body\r\n";
  Message m(data);
  auto out = without_our_results(m, "mx.example");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out,
            "Received: from a\r\n"
            "authentication-results:other.example; dkim=pass\r\n"
            "Subject:  two  spaces\r\n"
            "\r\n"
            "Authentication-Results: mx.example; in the body\r\n");
  EXPECT_FALSE(without_our_results(Message("Subject: x\r\n\r\nbody\r\n"), "mx.example"));
}

}  // namespace
}  // namespace mxgate
