#include "proxy/xclient.hpp"

#include <gtest/gtest.h>

namespace mxgate {
namespace {

ClientInfo before() {
  ClientInfo c;
  c.ip = "127.0.0.1";
  c.port = 40000;
  c.name = "localhost";
  c.helo = "front.example";
  c.esmtp = true;
  c.peer_ip = "127.0.0.1";
  return c;
}

XclientParse parse(std::string_view arg) { return parse_xclient(arg, before(), "127.0.0.1", 25); }

TEST(Xclient, EveryAttribute) {
  XclientParse p = parse("NAME=mail.example.net ADDR=192.0.2.7 PORT=1234 HELO=mail.example.net PROTO=SMTP "
                         "LOGIN=alice DESTADDR=198.51.100.1 DESTPORT=587");
  ASSERT_TRUE(p.attributes) << p.error->str();
  const XclientAttributes& a = *p.attributes;
  EXPECT_EQ(a.client.ip, "192.0.2.7");
  EXPECT_EQ(a.client.port, 1234);
  EXPECT_EQ(a.client.name, "mail.example.net");
  EXPECT_EQ(a.client.helo, "mail.example.net");
  EXPECT_FALSE(a.client.esmtp);
  EXPECT_EQ(a.client.login, "alice");
  EXPECT_TRUE(a.client.xclient);
  EXPECT_EQ(a.client.peer_ip, "127.0.0.1");  // the real peer is never presented
  EXPECT_EQ(a.local_ip, "198.51.100.1");
  EXPECT_EQ(a.local_port, 587);
  EXPECT_TRUE(a.helo_given);
}

TEST(Xclient, Table) {
  struct Row {
    const char* arg;
    const char* error;  // nullptr: accepted
    const char* ip = "";
  } rows[] = {
      {"ADDR=IPV6:2001:db8::1", nullptr, "2001:db8::1"},
      {"ADDR=ipv6:2001:DB8::2", nullptr, "2001:db8::2"},
      {"ADDR=2001:db8::3", nullptr, "2001:db8::3"},
      {"addr=192.0.2.9", nullptr, "192.0.2.9"},               // names are case-insensitive
      {"ADDR=[UNAVAILABLE]", nullptr, "127.0.0.1"},           // keeps what is known
      {"NAME=[TEMPUNAVAIL] ADDR=192.0.2.1", nullptr, "192.0.2.1"},
      {"ADDR=192.0.2.1+20", nullptr, ""},                     // xtext "+20" is a space: bad address
      {"ADDR=999.0.0.1", "501 5.5.4 Bad ADDR syntax in XCLIENT"},
      {"ADDR=IPV6:", "501 5.5.4 Bad ADDR syntax in XCLIENT"},
      {"PORT=65536", "501 5.5.4 Bad PORT syntax in XCLIENT"},
      {"PORT=", "501 5.5.4 Bad PORT syntax in XCLIENT"},
      {"DESTPORT=12x", "501 5.5.4 Bad DESTPORT syntax in XCLIENT"},
      {"PROTO=LMTP", "501 5.5.4 Bad PROTO syntax in XCLIENT"},
      {"NAME=bad+2", "501 5.5.4 Bad NAME syntax in XCLIENT"},  // broken xtext
      {"COLOR=blue", "501 5.5.4 Bad XCLIENT attribute name: COLOR"},
      {"NAME", "501 5.5.4 Syntax: XCLIENT attribute=value ..."},
      {"", "501 5.5.4 Syntax: XCLIENT attribute=value ..."},
      {"   ", "501 5.5.4 Syntax: XCLIENT attribute=value ..."},
  };
  for (const auto& r : rows) {
    XclientParse p = parse(r.arg);
    if (!r.error) {
      if (*r.ip == 0) {
        EXPECT_TRUE(p.error) << r.arg;
        continue;
      }
      ASSERT_TRUE(p.attributes) << r.arg << ": " << p.error->str();
      EXPECT_EQ(p.attributes->client.ip, r.ip) << r.arg;
      EXPECT_FALSE(p.error) << r.arg;
    } else {
      EXPECT_FALSE(p.attributes) << r.arg;
      ASSERT_TRUE(p.error) << r.arg;
      EXPECT_EQ(p.error->str(), r.error) << r.arg;
    }
  }
}

TEST(Xclient, UnavailableHeloAndNameReset) {
  XclientParse p = parse("HELO=[UNAVAILABLE] NAME=[UNAVAILABLE] LOGIN=[UNAVAILABLE] PROTO=esmtp");
  ASSERT_TRUE(p.attributes);
  EXPECT_EQ(p.attributes->client.helo, "");
  EXPECT_FALSE(p.attributes->helo_given);
  EXPECT_EQ(p.attributes->client.name, "unknown");
  EXPECT_EQ(p.attributes->client.login, "");
  EXPECT_TRUE(p.attributes->client.esmtp);
}

}  // namespace
}  // namespace mxgate
