// `mxgate corpus`'s reading of SpamAssassin's verdict (parse_spam_status).
#include "proxy/corpus.hpp"

#include <gtest/gtest.h>

namespace mxgate {
namespace {

TEST(SpamStatus, TestsEndAtTheNextKeyWhereverTheFieldFolds) {
  // As spamassassin 4.0.1 -t writes it: folded after a comma, and before autolearn=.
  SaStatus a = parse_spam_status(
      "Received: x\nX-Spam-Status: No, score=0.0 required=5.0 tests=HEADER_FROM_DIFFERENT_DOMAINS,\n"
      "\tMAILING_LIST_MULTI autolearn=unavailable autolearn_force=no\n\tversion=4.0.1\nSubject: s\n");
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.tests, (std::vector<std::string>{"HEADER_FROM_DIFFERENT_DOMAINS", "MAILING_LIST_MULTI"}));
  SaStatus b = parse_spam_status(
      "X-Spam-Status: Yes, score=13.2 required=5.0 tests=A,B,\n\tC\n\tautolearn=no autolearn_force=no version=4.0.1\n");
  ASSERT_TRUE(b.ok);
  EXPECT_DOUBLE_EQ(b.score, 13.2);
  EXPECT_EQ(b.tests, (std::vector<std::string>{"A", "B", "C"}));
  SaStatus c = parse_spam_status("X-Spam-Status: No, score=-0.1 required=5.0 tests=none autolearn=no\n");
  ASSERT_TRUE(c.ok);
  EXPECT_TRUE(c.tests.empty());
  EXPECT_FALSE(parse_spam_status("Subject: no status\n").ok);
}

}  // namespace
}  // namespace mxgate
