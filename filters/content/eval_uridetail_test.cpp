// SpamAssassin's URI detail list (uri_detail.hpp) and the URIDetail plugin's
// `uri_detail` rules. The expected lists are SpamAssassin 4.0.1's own
// get_uri_detail_list() on the same messages (a Perl dump of it, same format).
#include "filters/content/uri_detail.hpp"

#include <gtest/gtest.h>

#include "filters/content/eval_test_util.hpp"
#include "filters/content/uri_list.hpp"

namespace mxgate {
namespace {


const char* kRegistry = "util_rb_tld com net org biz uk co\nutil_rb_2tld co.uk\n";

// The list as the Perl dump prints it: URIs sorted, each key's values sorted
// (anchor texts in order), a key without values left out.
std::string dump(const UriDetailList& list) {
  std::string out;
  auto join = [](const auto& values, const char* sep) {
    std::vector<std::string> v(values.begin(), values.end());
    std::sort(v.begin(), v.end());
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
    return s;
  };
  for (const auto& [uri, d] : list) {
    out += uri + "\n  types: " + join(d.types, ",") + "\n  cleaned: " + join(d.cleaned, " | ") + "\n";
    if (!d.anchor_text.empty()) {
      std::string t;
      for (const auto& a : d.anchor_text) {
        std::string e;
        for (char c : a) e += c == '\n' ? std::string("\\n") : std::string(1, c);
        t += (t.empty() ? "" : " | ") + e;
      }
      out += "  text: " + t + "\n";
    }
    if (!d.domains.empty()) out += "  domains: " + join(d.domains, ",") + "\n";
    if (!d.hosts.empty()) out += "  hosts: " + join(d.hosts, ",") + "\n";
  }
  return out;
}

std::string list_of(const std::string& message, const EvalSettings& s) {
  return testing::with_eval_context(message, [](EvalContext& ctx) { return dump(uri_detail_list(ctx)); }, {}, s);
}

const char* kLinks =
    "From: a@example.com\nTo: b@example.org\nSubject: test links\nMIME-Version: 1.0\n"
    "Content-Type: text/html; charset=us-ascii\n\n"
    "<html><head><base href=\"http://base.example.net/dir/index.html\">\n"
    "<meta http-equiv=\"refresh\" content=\"5; URL=http://refresh.example.com/go ; x\">\n"
    "</head><body background=\"bg.png\">\n"
    "<a href=\"page2.html\">Click HERE now</a>\n"
    "<a href=\"../other/./x.html#frag\"><img src=\"http://img.example.com/i.png\" width=10 height=10></a>\n"
    "<a href=\"mailto:sales@example.org?subject=hi\">mail us</a>\n"
    "<form action=\"https://form.example.org/post\"></form>\n"
    "<a href=\"http://www.shop.co.uk/a\">shop</a>\n"
    "<a href=\"http://192.0.2.7/x\">ip</a>\n"
    "<p>visit www.plain.example.com/path or bare shop.example.biz today</p>\n"
    "</body></html>\n";

TEST(UriDetailList, AsSpamAssassinListsIt) {
  EXPECT_EQ(list_of(kLinks, testing::settings_from(kRegistry)),
            "../other/./x.html#frag\n"
            "  types: parsed\n"
            "  cleaned: ../other/./x.html#frag | http://../other/./x.html#frag | http:///other/./x.html#frag\n"
            "  text: <img>\\n\n"
            "http://192.0.2.7/x\n"
            "  types: a\n"
            "  cleaned: http://192..2.7/x | http://192.0.2.7/x\n"
            "  text: ip\n"
            "  domains: 192.0.2.7\n"
            "  hosts: 192.0.2.7\n"
            "http://base.example.net/dir/bg.png\n"
            "  types: body\n"
            "  cleaned: http://base.example.net/dir/bg.png\n"
            "  domains: example.net\n"
            "  hosts: base.example.net\n"
            "http://base.example.net/dir/index.html\n"
            "  types: base\n"
            "  cleaned: http://base.example.net/dir/index.html\n"
            "  domains: example.net\n"
            "  hosts: base.example.net\n"
            "http://base.example.net/dir/page2.html\n"
            "  types: a\n"
            "  cleaned: http://base.example.net/dir/page2.html\n"
            "  domains: example.net\n"
            "  hosts: base.example.net\n"
            "http://base.example.net/other/x.html#frag\n"
            "  types: a\n"
            "  cleaned: http://base.example.net/other/x.html#frag\n"
            "  domains: example.net\n"
            "  hosts: base.example.net\n"
            "http://img.example.com/i.png\n"
            "  types: img\n"
            "  cleaned: http://img.example.com/i.png\n"
            "  domains: example.com\n"
            "  hosts: img.example.com\n"
            "http://refresh.example.com/go\n"
            "  types: meta\n"
            "  cleaned: http://refresh.example.com/go\n"
            "  domains: example.com\n"
            "  hosts: refresh.example.com\n"
            "http://shop.example.biz\n"
            "  types: parsed,schemeless,unlinked\n"
            "  cleaned: http://shop.example.biz\n"
            "  domains: example.biz\n"
            "  hosts: shop.example.biz\n"
            "http://www.plain.example.com/path\n"
            "  types: parsed,schemeless\n"
            "  cleaned: http://www.plain.example.com/path\n"
            "  domains: example.com\n"
            "  hosts: www.plain.example.com\n"
            "http://www.shop.co.uk/a\n"
            "  types: a\n"
            "  cleaned: http://www.shop.co.uk/a\n"
            "  text: shop\n"
            "  domains: shop.co.uk\n"
            "  hosts: www.shop.co.uk\n"
            "https://form.example.org/post\n"
            "  types: form\n"
            "  cleaned: https://form.example.org/post\n"
            "  domains: example.org\n"
            "  hosts: form.example.org\n"
            "mailto:sales@example.org?subject=hi\n"
            "  types: a\n"
            "  cleaned: mailto:sales@example.org | mailto:sales@example.org?subject=hi\n"
            "  text: mail us\n"
            "  domains: example.org\n"
            "  hosts: example.org\n"
            "page2.html\n"
            "  types: parsed\n"
            "  cleaned: http://page2.html | page2.html\n"
            "  text: Click HERE now\n");
}

TEST(UriDetailList, TagsBaseAnchorsAndOddHrefs) {
  const std::string msg =
      "From: a@example.com\nTo: b@example.org\nSubject: more\nMIME-Version: 1.0\n"
      "Content-Type: text/html; charset=utf-8\n\n"
            "<html><body>\n"
            "<a x/href=\"http://evil.example.com/a\">one</a>\n"
            "<a href=\"http://evil.example.com/a\">two</a>\n"
            "<a href=\"http://evil.example.com/a\">one</a>\n"
            "<a href=\"  http://space.example.com/x  \">sp</a>\n"
            "<a href=\"http:rel.html\">samescheme</a>\n"
            "<a href=\"//www.noscheme.example.com/p?q=1\">ns</a>\n"
            "<a href=\"//ftp2.files.example.com/\">ftp</a>\n"
            "<a href=\"//other.example.com/\">other</a>\n"
            "<iframe src=\"http://frame.example.com/f\"></iframe>\n"
            "<script src=\"/js/app.js\"></script>\n"
            "<link href=\"http://style.example.com/s.css\">\n"
            "<area href=\"tel:+123456\">\n"
            "<img src=\"data:image/png;base64,AAAA\">\n"
            "<a href=\"http://ent.example.com/a?b=1&amp;c=2\">ent</a>\n"
            "<a href=\"http://www.example.com/%7Euser/\">pct</a>\n"
            "<a href=\"HTTP://UPPER.EXAMPLE.COM/\">upper</a>\n"
            "<a href=\"javascript:void(0)\">js</a>\n"
            "<a>noref</a>\n"
            "<a href=\"http://caf%C3%A9.example.com/\">idn</a>\n"
            "<a href=\"http://x.example.com/a/b/../../c/./d\">dots</a>\n"
            "<base href=\"ftp://files.example.net/pub/\">\n"
            "<a href=\"readme.txt\">readme</a>\n"
            "<a href=\"http://t.co/abc\"> &nbsp;link&nbsp; </a>\n"
            "</body></html>\n";
  EXPECT_EQ(list_of(msg, testing::settings_from(kRegistry)),
            "\n"
            "  types: parsed\n"
            "  cleaned: \n"
            "  text: noref\n"
            "//ftp2.files.example.com/\n"
            "  types: parsed\n"
            "  cleaned: //ftp2.files.example.com/ | http:////ftp2.files.example.com/\n"
            "  text: ftp\n"
            "//other.example.com/\n"
            "  types: a\n"
            "  cleaned: //other.example.com/ | http:////other.example.com/\n"
            "  text: other\n"
            "//www.noscheme.example.com/p?q=1\n"
            "  types: parsed\n"
            "  cleaned: //www.noscheme.example.com/p?q=1 | http:////www.noscheme.example.com/p?q=1\n"
            "  text: ns\n"
            "/js/app.js\n"
            "  types: script\n"
            "  cleaned: /js/app.js\n"
            "HTTP://UPPER.EXAMPLE.COM/\n"
            "  types: a\n"
            "  cleaned: HTTP://UPPER.EXAMPLE.COM/\n"
            "  text: upper\n"
            "  domains: example.com\n"
            "  hosts: upper.example.com\n"
            "data:image/png;base64,AAAA\n"
            "  types: img\n"
            "  cleaned: data:image/png;base64,AAAA\n"
            "ftp://files.example.net/pub/\n"
            "  types: base\n"
            "  cleaned: ftp://files.example.net/pub/\n"
            "  domains: example.net\n"
            "  hosts: files.example.net\n"
            "ftp://files.example.net/pub/readme.txt\n"
            "  types: a\n"
            "  cleaned: ftp://files.example.net/pub/readme.txt\n"
            "  domains: example.net\n"
            "  hosts: files.example.net\n"
            "ftp://ftp2.files.example.com/\n"
            "  types: a\n"
            "  cleaned: ftp://ftp2.files.example.com/\n"
            "  domains: example.com\n"
            "  hosts: ftp2.files.example.com\n"
            "http://caf%C3%A9.example.com/\n"
            "  types: a\n"
            "  cleaned: http://caf%C3%A9.example.com/\n"
            "  text: idn\n"
            "http://ent.example.com/a?b=1&c=2\n"
            "  types: a\n"
            "  cleaned: http://ent.example.com/a?b=1&c=2\n"
            "  text: ent\n"
            "  domains: example.com\n"
            "  hosts: ent.example.com\n"
            "http://evil.example.com/a\n"
            "  types: a\n"
            "  cleaned: http://evil.example.com/a\n"
            "  text: one | two\n"
            "  domains: example.com\n"
            "  hosts: evil.example.com\n"
            "http://frame.example.com/f\n"
            "  types: iframe\n"
            "  cleaned: http://frame.example.com/f\n"
            "  domains: example.com\n"
            "  hosts: frame.example.com\n"
            "http://space.example.com/x\n"
            "  types: a\n"
            "  cleaned: http://space.example.com/x\n"
            "  text: sp\n"
            "  domains: example.com\n"
            "  hosts: space.example.com\n"
            "http://style.example.com/s.css\n"
            "  types: link\n"
            "  cleaned: http://style.example.com/s.css\n"
            "  domains: example.com\n"
            "  hosts: style.example.com\n"
            "http://t.co/abc\n"
            "  types: a\n"
            "  cleaned: http://t.co/abc\n"
            "  text:   link  \n"
            "  domains: t.co\n"
            "  hosts: t.co\n"
            "http://www.example.com/%7Euser/\n"
            "  types: a\n"
            "  cleaned: http://www.example.com/%7Euser/ | http://www.example.com/~user/\n"
            "  text: pct\n"
            "  domains: example.com\n"
            "  hosts: www.example.com\n"
            "http://www.noscheme.example.com/p?q=1\n"
            "  types: a\n"
            "  cleaned: http://www.noscheme.example.com/p?q=1\n"
            "  domains: example.com\n"
            "  hosts: www.noscheme.example.com\n"
            "http://x.example.com/a/b/../../c/./d\n"
            "  types: parsed\n"
            "  cleaned: http://x.example.com/a/b/../../c/./d\n"
            "  text: dots\n"
            "  domains: example.com\n"
            "  hosts: x.example.com\n"
            "http://x.example.com/c/d\n"
            "  types: a\n"
            "  cleaned: http://x.example.com/c/d\n"
            "  domains: example.com\n"
            "  hosts: x.example.com\n"
            "http:rel.html\n"
            "  types: a\n"
            "  cleaned: http://rel.html | http:rel.html\n"
            "  text: samescheme\n"
            "javascript:void(0)\n"
            "  types: a\n"
            "  cleaned: javascript:void(0)\n"
            "  text: js\n"
            "readme.txt\n"
            "  types: parsed\n"
            "  cleaned: http://readme.txt | readme.txt\n"
            "  text: readme\n"
            "tel:+123456\n"
            "  types: area\n"
            "  cleaned: tel:+123456\n");
}

// uri_detail rules, parsed as URIDetail.pm parses them, on kLinks: spamassassin
// 4.0.1 with these rules and the stock TLD lists hits exactly the UD_* below.
TEST(UriDetailRules, HitAsSpamAssassinHits) {
  const std::string rules =
      "uri_detail UD_A_TEXT type =~ /^a$/ text =~ /click here/i\n"  // the text is page2.html's, not the target's
      "uri_detail UD_IMG type =~ /^img$/ host =~ /^img\\.example\\.com$/\n"
      "uri_detail UD_SCHEMELESS type =~ /schemeless/\n"
      "uri_detail UD_BASE cleaned =~ /^http:\\/\\/base\\.example\\.net\\/dir\\/page2\\.html/\n"
      "uri_detail UD_NOT_EX raw =~ /^http:/ domain !~ /example/\n"
      "uri_detail UD_UNLINKED type =~ /unlinked/\n"
      "uri_detail UD_META type =~ /^meta$/ raw =~ /refresh\\.example/\n"
      "uri_detail UD_FORM type =~ /form/ domain =~ /^example\\.org$/\n"
      "uri_detail UD_MAILTO raw =~ /^mailto:/ domain =~ /example\\.org/\n"
      "uri_detail UD_ANCHOR_IMG text =~ /<img>/\n"
      "uri_detail UD_REL_ANCHOR raw =~ /^page2\\.html$/ type =~ /parsed/\n"
      "uri_detail UD_TWO_CRIT raw =~ /nowhere/ type =~ /a/\n"
      "uri_detail UD_COUK host =~ /^www\\.shop\\.co\\.uk$/ domain =~ /^shop\\.co\\.uk$/\n"
      "uri_detail UD_IP domain =~ /^192\\.0\\.2\\.7$/\n"
      "uri_detail UD_LAST type =~ /^img$/ type =~ /^form$/\n"  // the later `type` replaces the earlier
      "uri_detail UD_FRAG cleaned =~ /\\#frag/\n";
  auto parsed = rules::parse_rule_text(rules, "t.cf", content_parse_options());
  ASSERT_TRUE(parsed.ok()) << format_errors(parsed.errors);
  ASSERT_TRUE(check_eval_args(*parsed.value).empty());
  EvalSettings s = testing::settings_from(kRegistry);
  std::set<std::string> hit;
  testing::with_eval_context(
      kLinks,
      [&](EvalContext& ctx) {
        for (const auto& r : parsed.value->rules) {
          EXPECT_EQ(r.eval.function, "check_uri_detail");
          ctx.rule = &r;
          if (eval_table().at(r.eval.function).run(ctx, r.eval.args)) hit.insert(r.name);
        }
        return 0;
      },
      {}, s);
  EXPECT_EQ(hit, (std::set<std::string>{"UD_ANCHOR_IMG", "UD_BASE", "UD_COUK", "UD_FORM", "UD_FRAG", "UD_IMG",
                                        "UD_IP", "UD_LAST", "UD_MAILTO", "UD_META", "UD_NOT_EX", "UD_REL_ANCHOR",
                                        "UD_SCHEMELESS", "UD_UNLINKED"}));
  const auto& last = parsed.value->rules[parsed.value->index.at("UD_LAST")];
  EXPECT_EQ(last.eval.args, (std::vector<std::string>{"type", "=~", "/^form$/"}));
}

TEST(UriDetailRules, InvalidRulesNameFileLineAndWhy) {
  auto errors = [](const std::string& line) {
    auto parsed = rules::parse_rule_text(line, "t.cf", content_parse_options());
    return format_errors(parsed.errors);
  };
  EXPECT_EQ(errors("uri_detail UD_KEY path =~ /x/\n"),
            "t.cf:1: rule UD_KEY: unknown uri_detail key 'path' (raw, type, cleaned, text, domain or host)\n");
  // `#` starts a comment, as in every rule file: nothing left to test.
  EXPECT_EQ(errors("uri_detail UD_HASH cleaned =~ /#frag/\n"),
            "t.cf:1: rule UD_HASH: no criteria (expected 'key =~ /regexp/ ...')\n");
  // URIDetail.pm reads m{...} only with the same character at both ends.
  EXPECT_EQ(errors("uri_detail UD_BRACES raw =~ m{x}\n"),
            "t.cf:1: rule UD_BRACES: no criteria (expected 'key =~ /regexp/ ...')\n");
  EXPECT_EQ(errors("uri_detail UD_OK raw =~ m!x! type !~ /a/i\n"), "");
  // A second line for a name adds to its criteria (spamassassin 4.0.1 then needs both).
  auto parsed = rules::parse_rule_text("uri_detail T_M raw =~ /nomatch/\nuri_detail T_M host =~ /bom/\n", "t.cf",
                                       content_parse_options());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value->rules.at(0).eval.args,
            (std::vector<std::string>{"raw", "=~", "/nomatch/", "host", "=~", "/bom/"}));
}

// HTTPSMismatch: a link whose text shows https:// of another domain. Three links
// with text count (the IP one does not), as spamassassin 4.0.1 counts them.
TEST(HttpsHttpMismatch, AnchorTextNamingAnotherHttpsDomain) {
  const std::string msg =
      "From: a@example.com\nTo: b@example.org\nSubject: bank\nMIME-Version: 1.0\n"
      "Content-Type: text/html; charset=us-ascii\n\n"
      "<html><body>\n"
      "<a href=\"http://phish.example.net/login\">https://www.mybank.example.com/login</a>\n"
      "<a href=\"https://www.mybank.example.com/help\">https://mybank.example.com/help</a>\n"
      "<a href=\"http://192.0.2.1/x\">https://www.mybank.example.com/</a>\n"
      "<a href=\"http://other.example.org/\">plain text</a>\n"
      "</body></html>\n";
  EvalSettings s = testing::settings_from(kRegistry);
  EXPECT_EQ(testing::run_eval("check_https_http_mismatch", {"1", "10"}, msg, {}, s),
            "link to example.net reads https://example.com");
  EXPECT_TRUE(testing::hits("check_https_http_mismatch", {"2"}, msg, {}, s));
  EXPECT_FALSE(testing::hits("check_https_http_mismatch", {"1", "2"}, msg, {}, s));  // 3 links, not under 2
  EXPECT_FALSE(testing::hits("check_https_http_mismatch", {"4"}, msg, {}, s));
  // Same domain in link and text: no mismatch.
  const std::string same =
      "Subject: x\nContent-Type: text/html\n\n<a href=\"http://a.example.com/\">https://b.example.com/</a>\n";
  EXPECT_FALSE(testing::hits("check_https_http_mismatch", {"1", "10"}, same, {}, s));
}

// Found in review, each checked against spamassassin 4.0.1's get_uri_detail_list():
// a <meta refresh> URL on a second line stays unstripped; "[1.2.3.4]" is no IP
// address (no domain); a byte order mark leaves href and anchor key alike; Unicode
// white space around an href goes; DKIM d= domains are listed; anchor texts keep a
// no-break space.
TEST(UriDetailList, EdgeCasesAsSpamAssassin) {
  const std::string msg =
      "From: a@example.com\n"
      "To: b@example.org\n"
      "Subject: edge\n"
      "DKIM-Signature: v=1; a=rsa-sha256; d=dkimdomain.com; s=sel;\n"
      "\tbh=abc=; b=def=\n"
      "MIME-Version: 1.0\n"
      "Content-Type: text/html; charset=utf-8\n"
      "\n"
      "<html><head><meta http-equiv=\"refresh\" content=\"0;\n"
      "url=http://evil.example.com/\"></head><body>caf\303\251\n"
      "<a>nohref</a>\n"
      "<a href=\"http://[1.2.3.4]/\">x</a>\n"
      "<a href=\"\357\273\277http://bom.example.com/\">https://other.example.org</a>\n"
      "<a href=\"\343\200\200http://ideo.example.com/\342\200\203\">ideo</a>\n"
      "<a href=\"http://good.example.com/\">see https:/// or https://other.example.org</a>\n"
      "<a href=\"http://evil.example.net/\">https://paypal.com\302\240login</a>\n"
      "</body></html>\n";
  EXPECT_EQ(list_of(msg, testing::settings_from(kRegistry)),
      "\n"
      "  types: parsed\n"
      "  cleaned: \n"
      "  text: nohref\n"
      "0\n"
      "url=http://evil.example.com/\n"
      "  types: meta\n"
      "  cleaned: 0url=http://evil.example.com/ | http://0url=http://evil.example.com/ | http://www.0url=http.com://evil.example.com/\n"
      "domainkeys:dkimdomain.com\n"
      "  types: domainkeys,nocanon,noclean\n"
      "  cleaned: \n"
      "  domains: dkimdomain.com\n"
      "  hosts: dkimdomain.com\n"
      "http://[1.2.3.4]/\n"
      "  types: a\n"
      "  cleaned: http://[1.2.3.4/ | http://[1.2.3.4]/\n"
      "  text: x\n"
      "http://bom.example.com/\n"
      "  types: a\n"
      "  cleaned: http://bom.example.com/\n"
      "  text: https://other.example.org\n"
      "  domains: example.com\n"
      "  hosts: bom.example.com\n"
      "http://evil.example.net/\n"
      "  types: a\n"
      "  cleaned: http://evil.example.net/\n"
      "  text: https://paypal.com\302\240login\n"
      "  domains: example.net\n"
      "  hosts: evil.example.net\n"
      "http://good.example.com/\n"
      "  types: a\n"
      "  cleaned: http://good.example.com/\n"
      "  text: see https:/// or https://other.example.org\n"
      "  domains: example.com\n"
      "  hosts: good.example.com\n"
      "http://ideo.example.com/\n"
      "  types: a\n"
      "  cleaned: http://ideo.example.com/\n"
      "  text: ideo\n"
      "  domains: example.com\n"
      "  hosts: ideo.example.com\n"
      "https://other.example.org\n"
      "  types: parsed\n"
      "  cleaned: https://other.example.org\n"
      "  domains: example.org\n"
      "  hosts: other.example.org\n"
      "https://paypal.com\n"
      "  types: parsed\n"
      "  cleaned: https://paypal.com\n"
      "  domains: paypal.com\n"
      "  hosts: paypal.com\n");
  // HTTPSMismatch reads past a bare "https:///" to the next https:// host, and a
  // host ends at a no-break space ("https://paypal.com\u00A0login").
  EvalSettings s = testing::settings_from(kRegistry);
  EXPECT_EQ(testing::run_eval("check_https_http_mismatch", {"1"}, msg, {}, s),
            "link to example.com reads https://example.org");
}

}  // namespace
}  // namespace mxgate
