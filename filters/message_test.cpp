#include "filters/message.hpp"

#include <gtest/gtest.h>

#include "filters/envelope.hpp"

namespace mxgate {
namespace {

TEST(Message, MboxSeparatorLineIsNotPartOfTheMessage) {
  EXPECT_EQ(without_mbox_separator("From sender@example.net  Sat Nov 21 10:00:00 2026\nFrom: a@b\n\nx\n"),
            "From: a@b\n\nx\n");
  EXPECT_EQ(without_mbox_separator("From sender@example.net Sat Nov 21\r\nSubject: s\r\n"), "Subject: s\r\n");
  EXPECT_EQ(without_mbox_separator("From: a@b\n\nx\n"), "From: a@b\n\nx\n");  // a header field stays
  EXPECT_EQ(without_mbox_separator("Subject: s\n\nFrom me\n"), "Subject: s\n\nFrom me\n");  // only at the start
  EXPECT_EQ(without_mbox_separator("From x"), "");
  EXPECT_EQ(without_mbox_separator(""), "");
  // The rest parses as the message it is.
  Message m(std::string(without_mbox_separator("From a@b Sat\r\nFrom: A <a@b.example>\r\nSubject: hi\r\n\r\nbody\r\n")));
  ASSERT_TRUE(m.first("Subject"));
  EXPECT_EQ(m.first("From")->unfolded(), "A <a@b.example>");
}

TEST(Message, SplitsFieldsWithFoldingAndBody) {
  Message m("From: A <a@example.net>\r\nSubject: hello\r\n  world\r\nX-Empty:\r\n\r\nbody line\r\n");
  ASSERT_EQ(m.headers().size(), 3u);
  EXPECT_EQ(m.headers()[0].name, "From");
  EXPECT_EQ(m.headers()[1].value, " hello\r\n  world");
  EXPECT_EQ(m.headers()[1].unfolded(), "hello  world");
  EXPECT_EQ(m.headers()[2].unfolded(), "");
  EXPECT_EQ(m.body(), "body line\r\n");
  EXPECT_TRUE(m.headers_well_formed());
}

TEST(Message, LookupIsCaseInsensitive) {
  Message m("from: a@b\r\nTO: c@d\r\nTo: e@f\r\n\r\n");
  EXPECT_EQ(m.count("To"), 2u);
  ASSERT_NE(m.first("FROM"), nullptr);
  EXPECT_EQ(m.first("FROM")->unfolded(), "a@b");
  EXPECT_EQ(m.fields("to").size(), 2u);
  EXPECT_EQ(m.first("Subject"), nullptr);
}

TEST(Message, MalformedHeaderLineStartsTheBody) {
  Message m("Subject: x\r\nthis is not a header\r\nMore: y\r\n\r\nbody\r\n");
  EXPECT_FALSE(m.headers_well_formed());
  EXPECT_EQ(m.headers().size(), 1u);
  EXPECT_EQ(m.body().substr(0, 20), "this is not a header");
}

TEST(Message, HeadersOnlyAndEmpty) {
  Message h("Subject: only\r\n");
  EXPECT_EQ(h.headers().size(), 1u);
  EXPECT_EQ(h.body(), "");
  Message e("");
  EXPECT_TRUE(e.headers().empty());
  EXPECT_EQ(e.size(), 0u);
}

TEST(Message, HeaderFieldWire) {
  EXPECT_EQ((HeaderField{"X-Test", "value"}).wire(), "X-Test: value\r\n");
  EXPECT_EQ((HeaderField{"X-Test", " value"}).wire(), "X-Test: value\r\n");
}

TEST(Message, HeaderFieldValidToAdd) {
  EXPECT_TRUE((HeaderField{"X-Spam-Score", " 5.0"}).valid_to_add());
  EXPECT_TRUE((HeaderField{"X-Long", " a\r\n\tb"}).valid_to_add());
  EXPECT_FALSE((HeaderField{"X-Bad", " a\r\n.\r\nMAIL FROM:<x@y>"}).valid_to_add());
  EXPECT_FALSE((HeaderField{"X-Bad", " a\nb"}).valid_to_add());
  EXPECT_FALSE((HeaderField{"X-Bad", " a\r\n"}).valid_to_add());
  EXPECT_FALSE((HeaderField{"X Bad", "v"}).valid_to_add());
  EXPECT_FALSE((HeaderField{"", "v"}).valid_to_add());
}

TEST(Mailbox, Parts) {
  Mailbox m{"user@example.org", {}};
  EXPECT_EQ(m.local_part(), "user");
  EXPECT_EQ(m.domain(), "example.org");
  Mailbox q{"\"a@b\"@example.org", {}};
  EXPECT_EQ(q.domain(), "example.org");
  EXPECT_TRUE(Mailbox{}.is_null());
  EXPECT_EQ((Mailbox{"postmaster", {}}).domain(), "");
}

}  // namespace
}  // namespace mxgate

namespace mxgate {
namespace {
// RFC 5322 4.5.8: "Name : value" is a field (downstream MTAs read it as one).
TEST(Message, WhiteSpaceBeforeTheColonIsStillAField) {
  Message m("Subject : hi\r\nAuthentication-Results\t: mx; none\r\n\r\nbody\r\n");
  EXPECT_TRUE(m.headers_well_formed());
  ASSERT_EQ(m.headers().size(), 2u);
  EXPECT_EQ(m.headers()[0].name, "Subject ");  // as written, for DKIM
  EXPECT_EQ(m.count("subject"), 1u);
  ASSERT_TRUE(m.first("Authentication-Results"));
  EXPECT_EQ(m.body(), "body\r\n");
  Message bad(" : x\r\n\r\n");
  EXPECT_FALSE(bad.headers_well_formed());
}
}  // namespace
}  // namespace mxgate
