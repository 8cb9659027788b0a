#include "filters/mime/mime.hpp"
#include "filters/mime/mime_filter.hpp"
#include "filters/config_node.hpp"
#include "filters/mime/mime_text.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace mxgate {
namespace {

// Messages arrive from DataReader with CRLF line ends; the literals here use "\n".
std::string crlf(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) out += '\r';
    out += s[i];
  }
  return out;
}

MimeView parse(std::string_view text, const MimeLimits& limits = {}) { return parse_mime(Message(crlf(text)), limits); }

std::vector<std::string> problem_names(const MimeView& v) {
  std::vector<std::string> out;
  for (const auto& p : v.problems) out.push_back(mime_problem_symbol(p.kind));
  return out;
}

bool has_url(const MimeView& v, std::string_view u) { return std::find(v.urls.begin(), v.urls.end(), u) != v.urls.end(); }

const char* const kHead = "From: a@example.net\nTo: b@example.org\nSubject: test\nMIME-Version: 1.0\n";

TEST(Mime, MultipartAlternativeTextAndHtml) {
  MimeView v = parse(std::string(kHead) +
                     "Content-Type: multipart/alternative; boundary=\"b1\"\n\n"
                     "preamble\n--b1\nContent-Type: text/plain; charset=us-ascii\n\nHello plain\n"
                     "--b1\nContent-Type: text/html; charset=utf-8\n\n"
                     "<html><head><style>p{color:red}</style></head><body><p>Hello <b>html</b></p>"
                     "<p>second&nbsp;para</p></body></html>\n--b1--\nepilogue\n");
  ASSERT_EQ(v.text_parts.size(), 2u);
  EXPECT_EQ(v.text_parts[0].content_type, "text/plain");
  EXPECT_EQ(v.text_parts[0].charset, "us-ascii");
  EXPECT_EQ(v.text_parts[0].decoded, "Hello plain");  // RFC 2046 5.1.1: the CRLF before a boundary is the boundary's
  EXPECT_EQ(v.text_parts[0].depth, 1u);
  EXPECT_TRUE(v.text_parts[1].html);
  // HTML.pm's white space, as SpamAssassin 4.0.1 renders it: <p> and </p> are each a
  // blank line; &nbsp; is a space.
  EXPECT_EQ(v.text_parts[1].rendered, "\n\nHello html\n\n\n\nsecond para\n\n");
  EXPECT_EQ(v.body_text, "test\nHello plain\n\n\nHello html\n\n\n\nsecond para\n\n");
  EXPECT_NE(v.rawbody.find("<b>html</b>"), std::string::npos);
  EXPECT_EQ(v.part_count, 3u);
  EXPECT_TRUE(v.attachments.empty());
  EXPECT_TRUE(v.problems.empty()) << ::testing::PrintToString(problem_names(v));
}

struct BodyRow {
  const char* what;
  const char* content_headers;  // Content-Type and Content-Transfer-Encoding lines
  std::string body;
  std::string decoded;
  std::vector<std::string> problems;
};

TEST(Mime, TransferEncodingsAndCharsets) {
  const BodyRow rows[] = {
      {"base64", "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n",
       "SGVsbG8g\nd29ybGQh\n", "Hello world!", {}},
      {"quoted-printable, soft break", "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n",
       "caf=C3=A9 cr=\n=C3=A8me=3D\n", "café crème=\n", {}},
      {"iso-8859-1", "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n",
       "caf\xe9 \xa3" "5\n", "café £5\n", {}},
      {"windows-1252", "Content-Type: text/plain; charset=windows-1252\nContent-Transfer-Encoding: 8bit\n",
       "\x93quoted\x94 \x80" "5\n", "“quoted” €5\n", {}},
      {"utf-8", "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n",
       "\xe3\x81\x93\xe3\x82\x93\n", "こん\n", {}},
      {"koi8-r", "Content-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: 8bit\n",
       "\xf0\xd2\xc9\xd7\xc5\xd4\n", "Привет\n", {}},
      {"shift_jis", "Content-Type: text/plain; charset=shift_jis\nContent-Transfer-Encoding: 8bit\n",
       "\x82\xb1\x82\xf1\x82\xc9\x82\xbf\x82\xcd\n", "こんにちは\n", {}},
      {"iso-2022-jp (7-bit, escape sequences)", "Content-Type: text/plain; charset=ISO-2022-JP\n",
       "\x1b$B$3$s$K$A$O\x1b(B ok\n", "こんにちは ok\n", {}},
      {"shift_jis in base64", "Content-Type: text/plain; charset=Shift_JIS\nContent-Transfer-Encoding: base64\n",
       "grGC8YLJgr+CzQ==\n", "こんにちは", {}},
      {"no charset, 8-bit latin1", "Content-Type: text/plain\n", "na\xefve\n", "naïve\n", {}},
      {"unknown charset", "Content-Type: text/plain; charset=x-nonsense\nContent-Transfer-Encoding: 8bit\n",
       "plain words \xe9\n", "plain words é\n", {"MIME_UNKNOWN_CHARSET"}},
      {"unknown charset, 7-bit", "Content-Type: text/plain; charset=x-nonsense\n", "plain words\n", "plain words\n",
       {"MIME_UNKNOWN_CHARSET"}},
      {"invalid utf-8", "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n",
       "ok \xff\xfe ok\n", "ok \xEF\xBF\xBD\xEF\xBF\xBD ok\n", {"MIME_BAD_CHARSET"}},
      {"invalid shift_jis", "Content-Type: text/plain; charset=shift_jis\nContent-Transfer-Encoding: 8bit\n",
       "\x82\xb1\x82\n", "こ\xEF\xBF\xBD\n", {"MIME_BAD_CHARSET"}},
      {"garbage base64", "Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: base64\n",
       "SGVs*bG8=\n!!!\n", "Hello", {"MIME_BAD_BASE64"}},
      {"truncated base64", "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n", "SGVsbG8\n", "Hel",
       {"MIME_BAD_BASE64"}},
      {"bad qp", "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n", "a=ZZb=4\n", "a=ZZb=4\n",
       {"MIME_BAD_QP"}},
      {"unknown encoding", "Content-Type: text/plain\nContent-Transfer-Encoding: x-rot13\n", "uryyb\n", "uryyb\n",
       {"MIME_UNKNOWN_ENCODING"}},
      {"NUL bytes", "Content-Type: text/plain\n", std::string("a\0b\0\0c\n", 7), "abc\n", {"MIME_NUL_BYTES"}},
  };
  for (const auto& row : rows) {
    MimeView v = parse(std::string(kHead) + row.content_headers + "\n" + row.body);
    ASSERT_EQ(v.text_parts.size(), 1u) << row.what;
    EXPECT_EQ(v.text_parts[0].decoded, row.decoded) << row.what;
    EXPECT_EQ(problem_names(v), row.problems) << row.what;
  }
}

TEST(Mime, HeadersDecodeRfc2047) {
  MimeView v = parse(
      "From: =?ISO-8859-1?Q?Andr=E9?= Pirard <p@example.net>\n"
      "Subject: =?UTF-8?B?w6lsw6h2ZQ==?= and =?iso-8859-1?q?caf=E9_cr=E8me?=\n"
      "X-Joined: =?utf-8?q?Hello?=\n =?utf-8?q?_World?=\n"
      "X-8bit: caf\xc3\xa9\n"
      "X-Latin: caf\xe9\n"
      "X-Broken: =?utf-8?B?###?=\n"
      "\nbody\n");
  ASSERT_EQ(v.headers.size(), 6u);
  EXPECT_EQ(v.headers[0].name, "From");
  EXPECT_EQ(v.headers[0].decoded, "André Pirard <p@example.net>");
  EXPECT_EQ(v.subject(), "élève and café crème");
  EXPECT_EQ(v.headers[1].raw, " =?UTF-8?B?w6lsw6h2ZQ==?= and =?iso-8859-1?q?caf=E9_cr=E8me?=");
  EXPECT_EQ(v.header("x-joined")->decoded, "Hello World");  // adjacent encoded-words joined
  EXPECT_EQ(v.header("X-8bit")->decoded, "café");
  EXPECT_EQ(v.header("X-Latin")->decoded, "café");
  EXPECT_EQ(v.header("X-Broken")->decoded, "=?utf-8?B?###?=");  // kept as written, not lost
  // Folding as SpamAssassin unfolds it (one space per fold), and no decoding in the
  // fields where "=?" is data.
  MimeView f = parse("Received: from a (HELO b) by\n    marinorg.net (CommuniGate Pro SMTP 3.5.6) with SMTP id 1;\n"
                     "\tSun, 26 May 2002 01:23:18 +0000\nMessage-ID: <=?utf-8?q?x?=@example.net>\nSubject: a\n\tb\n\nx\n");
  EXPECT_EQ(f.header("Received")->decoded,
            "from a (HELO b) by marinorg.net (CommuniGate Pro SMTP 3.5.6) with SMTP id 1; Sun, 26 May 2002 01:23:18 +0000");
  EXPECT_EQ(f.header("Message-ID")->decoded, "<=?utf-8?q?x?=@example.net>");
  EXPECT_EQ(f.header("Subject")->decoded, "a b");
  EXPECT_EQ(v.body_text, "élève and café crème\nbody\n");
  // ISO-2022-JP words, each decoded on its own (GMime joins their bytes first and
  // stops after the first word), as spamassassin 4.0.1 decodes this Subject.
  MimeView jp = parse(
      "Subject: =?iso-2022-jp?B?UmU6IBskQjswSSkyPTNYJSglcyU4JUslIiVqJXMlME1NJVcbKEI=?=\n"
      "\t=?iso-2022-jp?B?GyRCJW0lOyU5JUAlJiVzJEskRCQkJEYbKEIgIC0gdGlja2V0ICM1NTYw?=\n"
      "\t=?iso-2022-jp?B?Nk9UQzEgLQ==?= x\n\nbody\n");
  EXPECT_EQ(jp.subject(), "Re: 三菱化学エンジニアリング様プロセスダウンについて  - ticket #55606OTC1 - x");
}

TEST(Mime, Rfc2231FilenamesAndAttachments) {
  MimeView v = parse(std::string(kHead) +
                     "Content-Type: multipart/mixed; boundary=xx\n\n"
                     "--xx\nContent-Type: text/plain\n\nsee attached\n"
                     "--xx\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
                     "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\n\n"
                     "JVBERi0xLjQK\n"
                     "--xx\nContent-Type: application/octet-stream;\n name*0*=iso-8859-1''na%EFve;\n name*1=\".bin\"\n\n"
                     "raw bytes\n"
                     "--xx\nContent-Type: image/png; name==?utf-8?b?w6l0w6kucG5n?=\nContent-Transfer-Encoding: base64\n\n"
                     "iVBORw0KGgo=\n"
                     "--xx--\n");
  ASSERT_EQ(v.attachments.size(), 3u);
  EXPECT_EQ(v.attachments[0].filename, "résumé.pdf");
  EXPECT_EQ(v.attachments[0].content_type, "application/pdf");
  EXPECT_EQ(v.attachments[0].disposition, "attachment");
  EXPECT_EQ(v.attachments[0].decoded_size, 9u);  // "%PDF-1.4\n"
  EXPECT_EQ(v.attachments[1].filename, "naïve.bin");
  EXPECT_EQ(v.attachments[1].decoded_size, 9u);  // "raw bytes": the CRLF before the boundary is not content
  EXPECT_EQ(v.attachments[2].filename, "été.png");
  EXPECT_EQ(v.attachments[2].decoded_size, 8u);
  ASSERT_EQ(v.text_parts.size(), 1u);
  EXPECT_EQ(v.text_parts[0].decoded, "see attached");

  MimeView top = parse("Subject: x\nContent-Type: application/pdf; name*=utf-8''%E2%82%AC.pdf\n"
                       "Content-Disposition: attachment; filename*0=\"long\"; filename*1=\"name.pdf\"\n\nx\n");
  // The fields themselves read as SpamAssassin's header() gives them, which knows
  // no RFC 2231; the attachment's name is decoded.
  EXPECT_EQ(top.header("Content-Type")->decoded, "application/pdf; name*=utf-8''%E2%82%AC.pdf");
  EXPECT_EQ(top.header("Content-Disposition")->decoded, "attachment; filename*0=\"long\"; filename*1=\"name.pdf\"");
  ASSERT_EQ(top.attachments.size(), 1u);
  EXPECT_EQ(top.attachments[0].filename, "longname.pdf");
}

TEST(Mime, HtmlRendering) {
  struct Row {
    const char* html;
    const char* text;
  };
  const Row rows[] = {
      // Each expected text is what SpamAssassin 4.0.1's HTML.pm renders (checked with
      // Mail::SpamAssassin::HTML->new(1,1)->parse(...)->get_rendered_text()).
      {"<p>a</p><p>b</p>", "\n\na\n\n\n\nb\n\n"},
      {"a<br>b<br><br><br>c", "a\nb\n\n\nc"},
      {"<script>var x = '<p>no</p>';</script>yes<SCRIPT type=x>no</Script >", "yes"},
      {"<style>.a{}</style><STYLE>b</STYLE>shown", "shown"},
      {"&lt;tag&gt; &amp; &quot;q&quot; &#65;&#x42;&#X43; &euro;&copy &bogus; &amp", "<tag> & \"q\" ABC €© &bogus; &"},
      {"&#150;&#0;&#xD800;&#1114112;", "–\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"spread   \n\t out &nbsp; &nbsp; words", "spread out words"},
      {"v&shy;i&#8203;agra", "v\u00ADi\u200Bagra"},  // kept: body rules see them as SpamAssassin does
      {"<!-- hidden <p> -->seen<!DOCTYPE html><?xml x?>", "seen"},
      {"<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", " a  b  c "},
      // br, div: a line break; li, h1: a space; title: a blank line. A tag's white space
      // takes one trailing space off the text before it, and one leading space off the
      // text after it; text before any such tag keeps its own.
      {"<html>\n<body>\n<div>one</div><div>two</div> x <br> y <li>item</li><h1>T</h1><title>tt</title>",
       " \none\n\ntwo\nx\ny item  T \n\ntt\n\n"},
      {"1 < 2 and 3 > 2", "1 < 2 and 3 > 2"},
      {"<a href='x'>unterminated <b", "unterminated "},
      {"<div title=\"a>b\">quoted</div>", "\nquoted\n"},
      {"<script>never closed", ""},
      {"<!-- never closed", ""},
  };
  for (const auto& row : rows) EXPECT_EQ(render_html(row.html, 1 << 20), row.text) << row.html;

  bool truncated = false;
  std::string big;
  for (int i = 0; i < 1000; ++i) big += "<p>word</p>";
  std::string out = render_html(big, 100, &truncated);
  EXPECT_TRUE(truncated);
  EXPECT_LE(out.size(), 100u);
}

TEST(Mime, Urls) {
  std::vector<std::string> urls;
  find_urls("see http://a.example/x?y=1. and (https://b.example/p) or www.c.example, "
            "mailto:me@d.example; FTP://e.example/f; not-a-www.nothing xhttp://no.example "
            "www. alone http:// and https://f.example/(g)",
            urls);
  EXPECT_EQ(urls, (std::vector<std::string>{"http://a.example/x?y=1", "https://b.example/p", "http://www.c.example",
                                            "mailto:me@d.example", "FTP://e.example/f", "https://f.example/(g)"}));

  std::vector<std::string> html_urls;
  render_html("<a href=\"http://one.example/?a=1&amp;b=2\">text http://two.example </a>"
              "<img src=//three.example/i.png><a href='javascript:x()'>j</a><a href=cid:abc>c</a>"
              "<form action=\"https://four.example/post\"></form><a HREF=\" www.five.example \">5</a>",
              1 << 20, nullptr, &html_urls);
  EXPECT_EQ(html_urls, (std::vector<std::string>{"http://one.example/?a=1&b=2", "http://two.example",
                                                 "http://three.example/i.png", "https://four.example/post",
                                                 "http://www.five.example"}));

  MimeView v = parse(std::string(kHead) +
                     "Content-Type: multipart/alternative; boundary=b\n\n"
                     "--b\nContent-Type: text/plain\n\nGo to http://shop.example/buy now, or www.shop.example.\n"
                     "--b\nContent-Type: text/html\n\n<a href=\"http://shop.example/buy\">buy</a>"
                     "<a href=\"http://tracker.example/t\">t</a>\n--b--\n");
  EXPECT_EQ(v.urls, (std::vector<std::string>{"http://shop.example/buy", "http://www.shop.example",
                                              "http://tracker.example/t"}));
}

// Bare addresses are URIs to SpamAssassin (its text URI parser makes them mailto:),
// so uri rules such as __UNSUB_LINK see "forteana-unsubscribe@egroups.com". Every
// expectation below is what spamassassin 4.0.1's get_uri_list() gives for this text.
TEST(Mime, BareAddressesAreMailtoUris) {
  std::vector<std::string> urls;
  find_urls("To unsubscribe, send an email to:\nforteana-unsubscribe@egroups.com\n"
            "or E-mail: Sales@Example.COM. Not: vi@gra, a@b.c0m, x@y, http://u:p@host.net/ "
            "[mailto:list-admin@xent.com]On\n",
            urls, true);
  EXPECT_EQ(urls, (std::vector<std::string>{"mailto:forteana-unsubscribe@egroups.com", "mailto:Sales@Example.COM",
                                            "http://u:p@host.net/", "mailto:list-admin@xent.com"}));
  // MimeView::urls keeps the links written as such (FreeMail reads its mailto: as <a href>s).
  urls.clear();
  find_urls("write to sales@example.com", urls);
  EXPECT_TRUE(urls.empty());
}

TEST(Mime, NestedMessageRfc822) {
  MimeView v = parse(std::string(kHead) +
                     "Content-Type: multipart/mixed; boundary=outer\n\n"
                     "--outer\nContent-Type: text/plain\n\nForwarded below.\n"
                     "--outer\nContent-Type: message/rfc822\n\n"
                     "From: c@example.com\nSubject: inner\nContent-Type: multipart/alternative; boundary=inner\n\n"
                     "--inner\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
                     "SW5uZXIgdGV4dCDinJM=\n--inner\nContent-Type: text/html\n\n<p>Inner <i>html</i> http://in.example/</p>\n"
                     "--inner--\n--outer--\n");
  ASSERT_EQ(v.text_parts.size(), 3u);
  EXPECT_EQ(v.text_parts[1].decoded, "Inner text ✓");
  EXPECT_EQ(v.text_parts[1].depth, 3u);  // multipart/mixed > message/rfc822 > multipart/alternative > part
  EXPECT_EQ(v.text_parts[2].rendered, "\n\nInner html http://in.example/\n\n");
  EXPECT_EQ(v.part_count, 6u);
  EXPECT_EQ(v.max_depth, 3u);
  EXPECT_TRUE(has_url(v, "http://in.example/"));
  EXPECT_EQ(v.subject(), "test");  // the top-level one
  EXPECT_TRUE(v.problems.empty()) << ::testing::PrintToString(problem_names(v));
}

TEST(Mime, BoundaryProblems) {
  MimeView missing_final = parse(std::string(kHead) + "Content-Type: multipart/mixed; boundary=b\n\n"
                                 "--b\nContent-Type: text/plain\n\none\n--b\nContent-Type: text/plain\n\ntwo\n");
  ASSERT_EQ(missing_final.text_parts.size(), 2u);
  EXPECT_EQ(missing_final.text_parts[1].decoded, "two\n");
  EXPECT_TRUE(missing_final.has(MimeProblem::MissingFinalBoundary));

  MimeView never = parse(std::string(kHead) + "Content-Type: multipart/mixed; boundary=nowhere\n\n"
                         "--elsewhere\nContent-Type: text/plain\n\ntext\n--elsewhere--\n");
  EXPECT_TRUE(never.has(MimeProblem::MissingBoundary));
  EXPECT_TRUE(never.text_parts.empty());

  MimeView none = parse(std::string(kHead) + "Content-Type: multipart/mixed\n\nno boundary at all\n");
  EXPECT_TRUE(none.has(MimeProblem::NoBoundary));

  MimeView inner_open = parse(std::string(kHead) + "Content-Type: multipart/mixed; boundary=o\n\n"
                              "--o\nContent-Type: multipart/alternative; boundary=i\n\n"
                              "--i\nContent-Type: text/plain\n\ninner\n--o\nContent-Type: text/plain\n\nafter\n--o--\n");
  ASSERT_EQ(inner_open.text_parts.size(), 2u);
  EXPECT_EQ(inner_open.text_parts[1].decoded, "after");
  EXPECT_TRUE(inner_open.has(MimeProblem::BadBoundary));
  EXPECT_TRUE(inner_open.has(MimeProblem::MissingFinalBoundary));
}

template <typename F>
double seconds(F&& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(Mime, DeepNestingStopsAtTheLimit) {
  std::string m = std::string(kHead);
  for (int i = 0; i < 1000; ++i) m += "Content-Type: multipart/mixed; boundary=\"b" + std::to_string(i) + "\"\n\n--b" + std::to_string(i) + "\n";
  m += "Content-Type: text/plain\n\ndeep\n";
  for (int i = 999; i >= 0; --i) m += "--b" + std::to_string(i) + "--\n";
  MimeView v;
  double s = seconds([&] { v = parse(m); });
  EXPECT_LT(s, 5.0);
  EXPECT_TRUE(v.has(MimeProblem::TooDeep));
  EXPECT_EQ(v.max_depth, 20u);
  EXPECT_EQ(v.part_count, 21u);
  EXPECT_TRUE(v.text_parts.empty());

  // message/rfc822 nesting counts too.
  std::string r = std::string(kHead);
  for (int i = 0; i < 50; ++i) r += "Content-Type: message/rfc822\n\nSubject: level " + std::to_string(i) + "\n";
  r += "Content-Type: text/plain\n\nbottom\n";
  MimeLimits five;
  five.max_depth = 5;
  MimeView rv = parse(r, five);
  EXPECT_TRUE(rv.has(MimeProblem::TooDeep));
  EXPECT_EQ(rv.max_depth, 5u);
}

TEST(Mime, ManyPartsStopAtTheLimit) {
  std::string m = std::string(kHead) + "Content-Type: multipart/mixed; boundary=b\n\n";
  for (int i = 0; i < 10000; ++i) m += "--b\nContent-Type: text/plain\n\npart " + std::to_string(i) + "\n";
  m += "--b--\n";
  MimeView v;
  double s = seconds([&] { v = parse(m); });
  EXPECT_LT(s, 5.0);
  EXPECT_TRUE(v.has(MimeProblem::TooManyParts));
  EXPECT_EQ(v.part_count, 500u);
  EXPECT_EQ(v.text_parts.size(), 499u);  // the multipart itself is one of the 500
  EXPECT_EQ(v.text_parts.back().decoded, "part 498");
}

TEST(Mime, DecodedBytesBudget) {
  // 50 MB of decoded text against the default 32 MiB budget.
  std::string m = std::string(kHead) + "Content-Type: multipart/mixed; boundary=b\n\n"
                  "--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n";
  const std::string line = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n";  // 54 x 'A'
  const std::size_t lines = 50'000'000 / 54 + 1;
  m.reserve(m.size() + lines * line.size() + 200);
  for (std::size_t i = 0; i < lines; ++i) m += line;
  m += "--b\nContent-Type: text/plain\n\nafter the budget\n--b--\n";
  Message msg(crlf(m));
  MimeView v;
  double s = seconds([&] { v = parse_mime(msg); });
  EXPECT_LT(s, 20.0);
  EXPECT_TRUE(v.has(MimeProblem::TooBig));
  ASSERT_EQ(v.text_parts.size(), 2u);
  EXPECT_EQ(v.text_parts[0].decoded.size(), 32u * 1024 * 1024);
  EXPECT_TRUE(v.text_parts[1].decoded.empty());

  MimeLimits small;
  small.max_decoded_bytes = 10;
  MimeView sv = parse(std::string(kHead) + "\n0123456789abcdef\n", small);
  EXPECT_EQ(sv.text_parts[0].decoded, "0123456789");
  EXPECT_TRUE(sv.has(MimeProblem::TooBig));

  MimeLimits html;
  html.max_html_text_bytes = 50;
  std::string page;
  for (int i = 0; i < 100; ++i) page += "<p>word</p>";
  MimeView hv = parse(std::string(kHead) + "Content-Type: text/html\n\n" + page + "\n", html);
  EXPECT_TRUE(hv.has(MimeProblem::HtmlTooBig));
  EXPECT_LE(hv.text_parts[0].rendered.size(), 50u);
}

TEST(Mime, HostileOddities) {
  // NUL bytes in headers and body, bare garbage, header-only, empty.
  std::string nul = std::string("Subject: a\0b\n", 13) + "Content-Type: text/html\n\n" + std::string("<p>x\0y</p>\n", 11);
  MimeView v = parse(nul);
  EXPECT_EQ(v.subject(), "ab");
  EXPECT_EQ(v.text_parts.at(0).rendered, "\n\nxy\n\n");
  EXPECT_TRUE(v.has(MimeProblem::NulBytes));

  for (std::string_view junk : {std::string_view(""), std::string_view("\n"), std::string_view("no header here"),
                                std::string_view("Subject: only\n"), std::string_view("\x01\x02\xff\n\n--\n--\n"),
                                std::string_view("Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\n----\n"),
                                std::string_view("Content-Type: ;;;===\nContent-Transfer-Encoding: base64\n\n====\n")}) {
    MimeView j = parse(junk);
    EXPECT_LE(j.part_count, 2u) << junk;
  }
}

TEST(Mime, ThreadsParseIndependently) {
  std::string m = std::string(kHead) + "Content-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: 8bit\n\n"
                  "\xf0\xd2\xc9\xd7\xc5\xd4 http://x.example/\n";
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        MimeView v = parse(m);
        if (v.text_parts.size() == 1 && v.text_parts[0].decoded == "Привет http://x.example/\n" && v.urls.size() == 1) ++good;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 800);
}

TEST(MimeFilter, SymbolsForProblems) {
  MimeFilter f(std::make_shared<MimeConfig>());
  struct Row {
    const char* what;
    std::string message;
    std::vector<std::string> symbols;
  };
  const Row rows[] = {
      {"clean", std::string(kHead) + "\nhello\n", {}},
      {"bad base64 twice", std::string(kHead) + "Content-Type: multipart/mixed; boundary=b\n\n"
       "--b\nContent-Transfer-Encoding: base64\n\n*a*\n--b\nContent-Transfer-Encoding: base64\n\n!\n--b--\n",
       {"MIME_BAD_BASE64"}},
      {"no final boundary", std::string(kHead) + "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n",
       {"MIME_MISSING_FINAL_BOUNDARY"}},
  };
  for (const auto& row : rows) {
    Verdict v = f.check(Message(crlf(row.message)));
    EXPECT_EQ(v.action, Action::Continue) << row.what;
    std::vector<std::string> names;
    for (const auto& s : v.symbols) names.push_back(s.name);
    EXPECT_EQ(names, row.symbols) << row.what;
  }
  Verdict twice = f.check(Message(crlf(rows[1].message)));
  ASSERT_EQ(twice.symbols.size(), 1u);
  EXPECT_DOUBLE_EQ(twice.symbols[0].score, 1.0);
  EXPECT_NE(twice.symbols[0].detail.find("(x2)"), std::string::npos);
}

TEST(MimeFilter, Config) {
  std::vector<ConfigError> errs;
  YAML::Node n = YAML::Load("max_depth: 3\nmax_parts: 0\nmax_decoded_bytes: 1M\nscores: { MIME_TOO_DEEP: 7.5, NOPE: 1 }\n");
  FilterPtr f;
  {
    ConfigMap cfg(n, "c.yaml", "mime", &errs);
    f = make_mime_filter(cfg);
  }
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_NE(errs[0].str().find("mime.max_parts: must be between 1 and 100000"), std::string::npos) << errs[0].str();
  EXPECT_NE(errs[1].str().find("mime.scores.NOPE: unknown symbol"), std::string::npos) << errs[1].str();
  auto* mf = dynamic_cast<MimeFilter*>(f.get());
  ASSERT_NE(mf, nullptr);
  EXPECT_STREQ(mf->name(), "mime");
  std::string m = std::string(kHead);
  for (int i = 0; i < 5; ++i) m += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n--b" + std::to_string(i) + "\n";
  m += "\nx\n";
  Verdict v = mf->check(Message(crlf(m)));
  auto deep = std::find_if(v.symbols.begin(), v.symbols.end(), [](const Symbol& s) { return s.name == "MIME_TOO_DEEP"; });
  ASSERT_NE(deep, v.symbols.end());
  EXPECT_DOUBLE_EQ(deep->score, 7.5);
  EXPECT_EQ(deep->detail, "deeper than 3");
}

// ---- Corpora from ../shared/testdata ----

std::vector<std::filesystem::path> corpus_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string name = e.path().filename().string();
    if (name.rfind("LICENSE", 0) == 0 || e.path().extension() == ".png") continue;
    out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct CorpusResult {
  std::filesystem::path path;
  MimeView view;
};

std::vector<CorpusResult> run_corpus(const char* sub, std::size_t min_files) {
  std::filesystem::path dir = std::filesystem::path(MXGATE_TESTDATA) / sub;
  std::vector<CorpusResult> out;
  if (!std::filesystem::is_directory(dir)) return out;
  for (const auto& p : corpus_files(dir)) {
    Message msg(crlf(read_file(p)));
    MimeView v;
    double s = seconds([&] { v = parse_mime(msg); });
    EXPECT_LT(s, 2.0) << p;
    // Whatever the input: UTF-8 everywhere, and multiparts that have a boundary have parts.
    for (const auto& tp : v.text_parts) EXPECT_TRUE(mime_detail::is_valid_utf8(tp.decoded) && mime_detail::is_valid_utf8(tp.rendered)) << p;
    for (const auto& h : v.headers) EXPECT_TRUE(mime_detail::is_valid_utf8(h.decoded)) << p << " " << h.name;
    const MimeHeader* ct = v.header("Content-Type");
    if (ct && ct->decoded.rfind("multipart/", 0) == 0 && ct->decoded.find("boundary=") != std::string::npos &&
        !v.has(MimeProblem::MissingBoundary) && !v.has(MimeProblem::BadHeader)) {
      EXPECT_GT(v.part_count, 1u) << p;
    }
    out.push_back({p, std::move(v)});
  }
  EXPECT_GE(out.size(), min_files) << dir;
  return out;
}

const MimeView& find(const std::vector<CorpusResult>& rs, std::string_view tail) {
  for (const auto& r : rs)
    if (r.path.generic_string().ends_with(tail)) return r.view;
  ADD_FAILURE() << "no corpus file " << tail;
  static MimeView empty;
  return empty;
}

TEST(MimeCorpus, PythonEmail) {
  if (!std::filesystem::is_directory(std::filesystem::path(MXGATE_TESTDATA) / "python-test_email"))
    GTEST_SKIP() << "no " << MXGATE_TESTDATA << "/python-test_email";
  auto rs = run_corpus("python-test_email", 48);
  std::size_t with_text = 0;
  for (const auto& r : rs) with_text += r.view.text_parts.empty() ? 0 : 1;
  EXPECT_GE(with_text, 40u);
  EXPECT_EQ(find(rs, "msg_01.txt").subject(), "This is a test message");
  const MimeView& digest = find(rs, "msg_02.txt");
  EXPECT_EQ(digest.subject(), "Ppp digest, Vol 1 #2 - 5 msgs");
  EXPECT_GE(digest.part_count, 5u);
  EXPECT_TRUE(has_url(digest, "http://www.zzz.org/mailman/listinfo/ppp"));
  for (const auto& r : rs)
    std::cout << r.path.filename().string() << ": parts=" << r.view.part_count << " text=" << r.view.text_parts.size()
              << " att=" << r.view.attachments.size() << " problems=" << ::testing::PrintToString(problem_names(r.view))
              << "\n";
}

TEST(MimeCorpus, Enmime) {
  if (!std::filesystem::is_directory(std::filesystem::path(MXGATE_TESTDATA) / "enmime-testdata"))
    GTEST_SKIP() << "no " << MXGATE_TESTDATA << "/enmime-testdata";
  auto rs = run_corpus("enmime-testdata", 100);
  const MimeView& qp = find(rs, "mail/qp-utf8-header.raw");
  EXPECT_EQ(qp.subject(), "MIME UTF8 Test ¢ More Text");
  EXPECT_NE(qp.header("From")->decoded.find("André Pirard"), std::string::npos);
  EXPECT_EQ(qp.text_parts.size(), 2u);

  const MimeView& att = find(rs, "mail/attachment.raw");
  ASSERT_EQ(att.attachments.size(), 1u);
  EXPECT_EQ(att.attachments[0].filename, "test.html");
  EXPECT_EQ(att.attachments[0].decoded_size, 7u);  // "<html>\n"

  const MimeView& b64 = find(rs, "low-quality/malformed-base64-attach.raw");
  EXPECT_TRUE(b64.has(MimeProblem::BadBase64));
  ASSERT_EQ(b64.attachments.size(), 1u);
  EXPECT_EQ(b64.attachments[0].filename, "some.doc");

  EXPECT_TRUE(find(rs, "low-quality/unk-charset-part.raw").has(MimeProblem::UnknownCharset));
  EXPECT_TRUE(find(rs, "parts/multimixed-no-closing-boundary.raw").has(MimeProblem::MissingFinalBoundary));
  for (const auto& r : rs)
    std::cout << r.path.lexically_relative(MXGATE_TESTDATA).string() << ": parts=" << r.view.part_count
              << " text=" << r.view.text_parts.size() << " att=" << r.view.attachments.size()
              << " problems=" << ::testing::PrintToString(problem_names(r.view)) << "\n";
}

}  // namespace
}  // namespace mxgate
