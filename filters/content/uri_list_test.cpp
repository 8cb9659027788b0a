// SpamAssassin's URI list (uri_list.cpp). The expected forms are what
// SpamAssassin 4.0.1's own code gives for the same input: Util.pm's
// uri_list_canonicalize called from Perl with the same redirector pattern, and
// `spamassassin -D uri-all` on a message holding the text line.
#include "filters/content/uri_list.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "filters/content/eval_tests.hpp"
#include "filters/content/scan_texts.hpp"

namespace mxgate {
namespace {

std::shared_ptr<const UriSettings> settings(const std::string& tlds) {
  std::vector<rules::Setting> st;
  if (!tlds.empty()) st.push_back({{"t.cf", 1}, "util_rb_tld", tlds});
  st.push_back({{"t.cf", 2}, "redirector_pattern",
                R"(m'^https?:/*(?:\w+\.)?google(?:\.\w{2,3}){1,2}/url\?.*?(?<=[?&])q=(.*?)(?:$|[&\#])'i)"});
  auto r = parse_uri_settings(st);
  EXPECT_TRUE(r.errors.empty());
  return r.value ? *r.value : nullptr;
}

TEST(UriList, CanonicalFormsAsSpamAssassinsUtil) {
  auto s = settings("");
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"http://3232235777/x", {"http://192.168.1.1/x", "http://3232235777/x"}},
      {"http://0xC0A80101/", {"http://0xC0A80101/", "http://192.168.1.1/"}},
      {"http://0300.0250.01.01/a", {"http://0300.0250.01.01/a", "http://192.168.1.1/a"}},
      {"http://0x7f.0.0.1/", {"http://0x7f.0.0.1/", "http://127...1/"}},
      {"HTTP://Example.COM:80/p", {"HTTP://Example.COM:80/p"}},
      {"https://a.example:443/", {"https://a.example/", "https://a.example:443/"}},
      {"http://user@evil.example/", {"http://user@evil.example/"}},
      {"http://a.example/%41%42%20%7e%2e?x", {"http://a.example/%41%42%20%7e%2e?x", "http://a.example/AB%20~.?x"}},
      {"http:\\\\a.example\\b", {"http://a.example/b", "http:\\\\a.example\\b"}},
      {"http:/a.example", {"http://a.example", "http:/a.example"}},
      {"www.example.com/x", {"http://www.example.com/x", "www.example.com/x"}},
      {"http://foo/", {"http://foo/", "http://www.foo.com/"}},
      {"http://www.google.com/url?q=http://target.example/p&sa=D", {"http://target.example/p", "http://www.google.com/url?q=http://target.example/p&sa=D"}},
      {"http://t.example/r?u=http://inner.example/x&y", {"http://inner.example/x", "http://t.example/r?u=http://inner.example/x&y"}},
      {"http://a&#46;example/&#x41;", {"http://a&#46;example/&#x41;", "http://a&/#46;example/A", "http://a/#46;example/A", "http://www.a&.com/#46;example/A"}},
      {"mailto:a@b.example?subject=x", {"mailto:a@b.example", "mailto:a@b.example?subject=x"}},
      {"mailto:%20%20a@b.example", {"mailto:%20%20a@b.example", "mailto:a@b.example"}},
      {"x@y.example&z", {"x@y.example", "x@y.example&z"}},
      {"/relative", {"/relative"}},
      {"#frag", {"#frag"}},
      {"http://a.example?q", {"http://a.example/?q", "http://a.example?q"}},
      {"http://a.example.../", {"http://a.example.../", "http://a.example/"}},
      {"ftp.example.com/file", {"ftp.example.com/file", "ftp://ftp.example.com/file"}},
      {"http://a@b@c.example/", {"http://a@b@c.example/", "http://c.example/"}},
      {"http://x.example:8080/", {"http://x.example:8080/"}},
      {"http://Www.Foo/", {"http://Www.Foo/", "http://www.foo.com/"}},
  };
  for (const auto& [in, want] : cases) {
    std::vector<std::string> got;
    canonicalize_uri(in, s.get(), got);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, want) << in;
  }
}

TEST(UriList, TextParserAsSpamAssassins) {
  auto s = settings("click org com net uk");
  std::vector<std::string> got;
  text_uris("Visit Benefits.Click today, or (see www.example.org/page). Write to sales@shop.example.com, or "
            "mail:joe@corp.example.net! Also http://x.example.com/a?b=c) and cid:image001.png@01D4986E.E3459640 and "
            "foo.notatld and bar.co.uk/path?x=1. ip 10.20.30.40/x and example.com:8080/y and user@host and "
            "a_b.example.com and mailto:%41b@c.example.com",
            *s, got);
  EXPECT_EQ(got, (std::vector<std::string>{"http://Benefits.Click", "http://www.example.org/page",
                                           "mailto:sales@shop.example.com", "mailto:joe@corp.example.net",
                                           "http://x.example.com/a?b=c", "http://bar.co.uk/path?x=1",
                                           "http://example.com:8080/y", "http://a_b.example.com",
                                           "mailto:Ab@c.example.com"}));
}

TEST(UriList, SettingsAndTheFallback) {
  EXPECT_TRUE(settings("com net")->domain_valid("Mail.Example.COM"));
  EXPECT_FALSE(settings("com net")->domain_valid("example.org"));
  EXPECT_FALSE(settings("com net")->domain_valid("com"));
  std::vector<rules::Setting> bad = {{{"t.cf", 3}, "util_rb_tld", "co.uk"},
                                     {{"t.cf", 4}, "redirector_pattern", "no delimiters"}};
  auto r = parse_uri_settings(bad);
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[1].line, 4);
  // Without TLDs (the builtin rules alone) the body keeps MimeView's finder: no
  // schemeless hosts; with them, Benefits.Click is a URI, and redirect targets and
  // numeric hosts are listed in the uri rules' text.
  Message msg("From: a@example.com\r\nSubject: x\r\n\r\nGo to Benefits.Click or http://3232235777/ or "
              "http://www.google.com/url?q=http://target.example/p&sa=D\r\n");
  MimeView view = parse_mime(msg);
  auto has = [](const std::vector<std::string>& v, const std::string& u) {
    return std::find(v.begin(), v.end(), u) != v.end();
  };
  ScanTexts plain = build_scan_texts(view, msg, ScanLimits{});
  EXPECT_FALSE(has(plain.urls, "http://Benefits.Click"));
  EXPECT_TRUE(has(plain.urls, "http://192.168.1.1/"));
  auto s = settings("click example");
  ScanTexts sa = build_scan_texts(view, msg, ScanLimits{}, s.get());
  EXPECT_TRUE(has(sa.urls, "http://Benefits.Click"));
  EXPECT_TRUE(has(sa.urls, "http://target.example/p"));
  EXPECT_TRUE(has(sa.urls, "http://192.168.1.1/"));
}

}  // namespace
}  // namespace mxgate
