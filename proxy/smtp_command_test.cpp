#include "proxy/smtp_command.hpp"

#include <gtest/gtest.h>

namespace mxgate {
namespace {

TEST(ParseCommand, VerbsAndArguments) {
  struct Row { const char* line; Verb verb; const char* arg; } rows[] = {
      {"EHLO client.example", Verb::Ehlo, "client.example"},
      {"ehlo   spaced  ", Verb::Ehlo, "  spaced"},
      {"MAIL FROM:<a@b>", Verb::Mail, "FROM:<a@b>"},
      {"rcpt to:<c@d>", Verb::Rcpt, "to:<c@d>"},
      {"DATA", Verb::Data, ""},
      {"StartTLS", Verb::Starttls, ""},
      {"XCLIENT ADDR=1.2.3.4", Verb::Xclient, "ADDR=1.2.3.4"},
      {"BDAT 10 LAST", Verb::Bdat, "10 LAST"},
      {"FOO bar", Verb::Unknown, "bar"},
      {"", Verb::Empty, ""},
      {"   ", Verb::Empty, ""},
  };
  for (const auto& r : rows) {
    Command c = parse_command(r.line);
    EXPECT_EQ(c.verb, r.verb) << r.line;
    EXPECT_EQ(c.arg, r.arg) << r.line;
  }
}

TEST(ParseMail, AcceptsWhatRealClientsSend) {
  struct Row { const char* arg; const char* address; std::uint64_t size; bool utf8; const char* body; } rows[] = {
      {"FROM:<user@example.org>", "user@example.org", 0, false, ""},
      {"from:<>", "", 0, false, ""},
      {"FROM: <user@example.org>", "user@example.org", 0, false, ""},  // Postfix accepts the space
      {"FROM:user@example.org", "user@example.org", 0, false, ""},
      {"FROM:<user@example.org> SIZE=1234 BODY=8BITMIME", "user@example.org", 1234, false, "8BITMIME"},
      {"FROM:<@relay.example:user@example.org>", "user@example.org", 0, false, ""},
      {"FROM:<\"odd >user\"@example.org>", "\"odd >user\"@example.org", 0, false, ""},
      {"FROM:<us\xc3\xa9r@exampl\xc3\xa9.org> SMTPUTF8", "us\xc3\xa9r@exampl\xc3\xa9.org", 0, true, ""},
      {"FROM:<a@[192.0.2.1]>", "a@[192.0.2.1]", 0, false, ""},
      {"FROM:<a@b> body=7bit size=0", "a@b", 0, false, "7BIT"},
  };
  for (const auto& r : rows) {
    PathError err;
    auto m = parse_mail(r.arg, err);
    ASSERT_TRUE(m) << r.arg << " -> " << err.text;
    EXPECT_EQ(m->mailbox.address, r.address) << r.arg;
    EXPECT_EQ(m->size, r.size) << r.arg;
    EXPECT_EQ(m->smtputf8, r.utf8) << r.arg;
    EXPECT_EQ(m->body, r.body) << r.arg;
  }
}

TEST(ParseMail, RefusesWithThePreciseReply) {
  std::string long_local(65, 'a');
  std::string long_path = "FROM:<" + std::string(250, 'a') + "@example.org>";
  std::string too_long_local = "FROM:<" + long_local + "@example.org>";
  struct Row { std::string arg; int code; const char* enhanced; } rows[] = {
      {"TO:<a@b>", 501, "5.5.4"},
      {"FROM:<a@b", 501, "5.5.4"},
      {"FROM:<a@b>junk", 501, "5.5.4"},
      {"FROM:<no-at-sign>", 501, "5.1.7"},
      {"FROM:<a..b@example.org>", 501, "5.1.7"},
      {"FROM:<a@exa mple.org>", 501, "5.1.7"},
      {"FROM:<a@-bad..org>", 501, "5.1.7"},
      {"FROM:<us\xc3\xa9r@example.org>", 553, "5.6.7"},  // UTF-8 without SMTPUTF8
      {"FROM:<a@b> SIZE=abc", 501, "5.5.4"},
      {"FROM:<a@b> BODY=BINARYMIME", 501, "5.5.4"},
      {"FROM:<a@b> AUTH=<>", 555, "5.5.4"},
      {"FROM:<a@b> SIZE=1 SIZE=2", 555, "5.5.4"},
      {too_long_local, 501, "5.1.7"},
      {long_path, 501, "5.1.7"},
  };
  for (const auto& r : rows) {
    PathError err;
    EXPECT_FALSE(parse_mail(r.arg, err)) << r.arg;
    EXPECT_EQ(err.code, r.code) << r.arg << ": " << err.text;
    EXPECT_STREQ(err.enhanced, r.enhanced) << r.arg << ": " << err.text;
  }
}

TEST(ParseRcpt, PostmasterAndErrors) {
  PathError err;
  auto p = parse_rcpt("TO:<Postmaster>", false, err);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->address, "Postmaster");
  EXPECT_TRUE(parse_rcpt("To:<user@example.org>", false, err));
  EXPECT_FALSE(parse_rcpt("TO:<>", false, err));
  EXPECT_EQ(err.code, 501);
  EXPECT_FALSE(parse_rcpt("TO:<user@example.org> NOTIFY=NEVER", false, err));
  EXPECT_EQ(err.code, 555);
  EXPECT_FALSE(parse_rcpt("TO:<us\xc3\xa9r@example.org>", false, err));
  EXPECT_EQ(err.code, 553);
  EXPECT_TRUE(parse_rcpt("TO:<us\xc3\xa9r@example.org>", true, err));
  EXPECT_FALSE(parse_rcpt("FROM:<a@b>", false, err));
  EXPECT_STREQ(err.enhanced, "5.5.4");
}

TEST(Helo, Validity) {
  EXPECT_TRUE(valid_helo("mail.example.org"));
  EXPECT_TRUE(valid_helo("[192.0.2.1]"));
  EXPECT_FALSE(valid_helo(""));
  EXPECT_FALSE(valid_helo("bad\x01name"));
}

TEST(Xtext, RoundTrip) {
  EXPECT_EQ(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
  EXPECT_EQ(xtext_decode("a+2Bb+3dc"), std::optional<std::string>("a+b=c"));
  EXPECT_FALSE(xtext_decode("bad+2"));
  EXPECT_FALSE(xtext_decode("bad+ZZ"));
  EXPECT_EQ(xtext_decode("IPV6:2001:db8::1"), std::optional<std::string>("IPV6:2001:db8::1"));
}

}  // namespace
}  // namespace mxgate

namespace mxgate {
namespace {

TEST(CommandLineReader, LinesLimitsAndControlBytes) {
  CommandLineReader r(20);
  std::string buf = "NOOP\r\nHELO a.example\nRSET";
  auto n = r.next(buf);
  EXPECT_EQ(n.kind, CommandLineReader::Kind::Line);
  EXPECT_EQ(n.line, "NOOP");
  n = r.next(buf);
  EXPECT_EQ(n.kind, CommandLineReader::Kind::Line);
  EXPECT_EQ(n.line, "HELO a.example");  // a bare LF ends a command line too
  EXPECT_EQ(r.next(buf).kind, CommandLineReader::Kind::NeedMore);
  buf += "\r\n";
  EXPECT_EQ(r.next(buf).line, "RSET");
  // 20 octets with CRLF is the most; 21 is refused once, and the next line is fine.
  buf = std::string(18, 'x') + "\r\n" + std::string(19, 'y') + "\r\nQUIT\r\n";
  EXPECT_EQ(r.next(buf).kind, CommandLineReader::Kind::Line);
  EXPECT_EQ(r.next(buf).kind, CommandLineReader::Kind::TooLong);
  EXPECT_EQ(r.next(buf).line, "QUIT");
  // A long line over several reads: the buffer never grows past the limit, one report.
  buf = std::string(50, 'z');
  EXPECT_EQ(r.next(buf).kind, CommandLineReader::Kind::NeedMore);
  EXPECT_TRUE(buf.empty());
  buf += std::string(50, 'z');
  EXPECT_EQ(r.next(buf).kind, CommandLineReader::Kind::NeedMore);
  buf += "zz\r\nNOOP\r\n";
  EXPECT_EQ(r.next(buf).kind, CommandLineReader::Kind::TooLong);
  EXPECT_EQ(r.next(buf).line, "NOOP");
  // Control bytes: refused whole, never handed on.
  for (std::string bad : {std::string("NO\0OP\r\n", 7), std::string("NOOP\rX\r\n"), std::string("NO\x7fOP\n")}) {
    buf = bad;
    EXPECT_EQ(r.next(buf).kind, CommandLineReader::Kind::Control) << bad;
    EXPECT_TRUE(buf.empty());
  }
  buf = "MAIL FROM:<a@b>\tSIZE=1\r\n";  // a tab is text
  EXPECT_EQ(r.next(buf).kind, CommandLineReader::Kind::TooLong);  // 25 octets > 20
}

}  // namespace
}  // namespace mxgate
