// MIMEEval's tests (eval_mime.cpp). Each expectation was checked against
// SpamAssassin 4.0.1 on the same message (Plugin/MIMEEval.pm run on it).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "filters/content/eval_test_util.hpp"

namespace mxgate {
namespace {

using testing::hits;
using testing::run_eval;

const std::string kHead =
    "From: a@example.com\nTo: b@example.com\nSubject: test\nDate: Mon, 7 Dec 2026 10:00:00 +0000\n"
    "Message-ID: <1@example.com>\nMIME-Version: 1.0\n";

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

const std::string kQpLong = kHead +
                            "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n" +
                            std::string(79, 'a') + "\n=3D=41=42 caf=E9 =20=20\nend\n";
const std::string kQpOk = kHead +
                          "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n" +
                          std::string(78, 'a') + "\ncaf=E9 =20=20\nend\n";

TEST(EvalMimeQp, LongLineAndNeedlessEncoding) {
  EXPECT_TRUE(hits("check_for_mime", {"mime_qp_long_line"}, kQpLong));
  EXPECT_FALSE(hits("check_for_mime", {"mime_qp_long_line"}, kQpOk));  // 78 + LF is allowed (bug 5491)
  // =41 =42 =20 =20 need no encoding; the =20 run ending the line is forgiven.
  EXPECT_EQ(run_eval("check_for_mime", {"mime_qp_count"}, kQpLong), "2 QP-encoded characters that needed no encoding");
  // A QP part whose encoded characters all needed encoding: SpamAssassin replaces
  // the part count by that (zero) character count, so __MIME_QP does not hit.
  EXPECT_FALSE(hits("check_for_mime", {"mime_qp_count"}, kQpOk));
  EXPECT_TRUE(hits("check_qp_ratio", {"0.01"}, kQpLong));  // 2 / 108 bytes
  EXPECT_FALSE(hits("check_qp_ratio", {"0.02"}, kQpLong));
}

const std::string kHtmlTop = kHead + "Content-Type: text/html; charset=utf-8\n\n<html><body>hi there</body></html>\n";
const std::string kAlt = kHead +
                         "Content-Type: multipart/alternative; boundary=\"AB\"\n\npreamble\n--AB\nContent-Type: "
                         "text/plain\n\nx\n--AB\nContent-Type: text/html\n\n<html><body>" +
                         repeat("<p>hello there friend</p>\n", 12) +
                         "</body></html>\n--AB\nContent-Type: image/gif\nContent-Transfer-Encoding: base64\n\n"
                         "R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=\n--AB--\n";
const std::string kAltOk = kHead +
                           "Content-Type: multipart/alternative; boundary=\"AB\"\n\n--AB\nContent-Type: text/plain\n\n"
                           "hello there friend, a longer text part\n--AB\nContent-Type: text/html\n\n"
                           "<p>hello there friend</p>\n--AB--\n";

TEST(EvalMimeHtml, HtmlOnlyAndMostlyHtml) {
  EXPECT_TRUE(hits("check_for_mime_html", {}, kHtmlTop));
  EXPECT_TRUE(hits("check_for_mime_html_only", {}, kHtmlTop));
  EXPECT_TRUE(hits("check_for_mime_html", {}, kAlt));
  EXPECT_FALSE(hits("check_for_mime_html_only", {}, kAlt));  // it has a text/plain part
  EXPECT_FALSE(hits("check_for_mime_html", {}, kQpOk));
  // text/plain "x" (1 byte, its line break belongs to the boundary) against 339
  // bytes of HTML: 0.0059, inside MIME_HTML_MOSTLY's [0, 0.01).
  EXPECT_TRUE(hits("check_mime_multipart_ratio", {"0.00", "0.01"}, kAlt));
  EXPECT_FALSE(hits("check_mime_multipart_ratio", {"0.00", "0.01"}, kAltOk));  // 1.5
  EXPECT_TRUE(hits("check_mime_multipart_ratio", {"1.4", "1.6"}, kAltOk));
  // Not multipart/alternative: the ratio stays 1.0.
  EXPECT_TRUE(hits("check_mime_multipart_ratio", {"1", "2"}, kHtmlTop));
  EXPECT_TRUE(hits("check_for_mime", {"mime_multipart_alternative"}, kAlt));
  EXPECT_FALSE(hits("check_for_mime", {"mime_multipart_alternative"}, kHtmlTop));
}

TEST(EvalMimeStructure, AlternativeWithNonTextPart) {
  EXPECT_EQ(run_eval("check_ma_non_text", {}, kAlt), "multipart/alternative holds image/gif");
  EXPECT_FALSE(hits("check_ma_non_text", {}, kAltOk));
  EXPECT_EQ(run_eval("check_for_mime", {"mime_base64_count"}, kAlt), "1 base64 part(s)");
  EXPECT_FALSE(hits("check_for_mime", {"mime_base64_count"}, kAltOk));
}

const std::string kB64Text = kHead + "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n" +
                             repeat("QUFB", 19) + "QUF\nQUFB\n";
const std::string kB64Attach = kHead +
                               "Content-Type: multipart/mixed; boundary=XY\n\n--XY\nContent-Type: text/plain; "
                               "charset=utf-8\n\nsee attached\n--XY\nContent-Type: text/plain; name=a.txt\n"
                               "Content-Disposition: attachment; filename=a.txt\nContent-Transfer-Encoding: base64\n\n" +
                               repeat("QUFB", 19) + "\nQUFB\n--XY--\n";

TEST(EvalMimeBase64, EncodedTextAndLineLength) {
  EXPECT_TRUE(hits("check_for_mime", {"mime_base64_encoded_text"}, kB64Text));
  EXPECT_FALSE(hits("check_for_mime", {"mime_base64_encoded_text"}, kB64Attach));  // an attachment
  // 79 characters + LF = 80: BASE64_LENGTH_79_INF, not 78_79.
  EXPECT_TRUE(hits("check_base64_length", {"79"}, kB64Text));
  EXPECT_FALSE(hits("check_base64_length", {"78", "79"}, kB64Text));
  // 76 + LF = 77: neither.
  EXPECT_FALSE(hits("check_base64_length", {"78", "79"}, kB64Attach));
  EXPECT_TRUE(hits("check_base64_length", {"77", "77"}, kB64Attach));
  EXPECT_EQ(run_eval("check_for_mime", {"mime_attachment"}, kB64Attach), "1 attachment(s)");
  EXPECT_FALSE(hits("check_for_mime", {"mime_attachment"}, kB64Text));
}

const std::string kBroken = kHead +
                            "Content-Type: multipart/mixed; boundary=XY\n\n--XY\nContent-Type: text/plain\n"
                            "this line has no blank before it\n--XY\nno headers here\n--XY\nContent-Type: "
                            "multipart/related; boundary=ZZ\n\n--ZZ\nContent-Type: text/plain\n\ninner, never "
                            "closed\n--XY--\nan epilogue with words\n";
const std::string kClean = kHead +
                           "Content-Type: multipart/mixed; boundary=XY\n\n--XY\nContent-Type: text/plain\n\nhello\n"
                           "--XY\nContent-Type: text/plain\n\nagain\n--XY--\n.\n\n";

TEST(EvalMimeParseFlags, MultipartDefects) {
  for (const char* flag : {"missing_mime_head_body_separator", "missing_mime_headers", "mime_epilogue_exists"}) {
    EXPECT_EQ(run_eval("check_msg_parse_flags", {flag}, kBroken), flag);
    EXPECT_FALSE(hits("check_msg_parse_flags", {flag}, kClean)) << flag;  // "." after the end is no epilogue
  }
  EXPECT_TRUE(hits("check_for_mime", {"mime_missing_boundary"}, kBroken));  // --ZZ never closed
  EXPECT_FALSE(hits("check_for_mime", {"mime_missing_boundary"}, kClean));
  EXPECT_FALSE(hits("check_msg_parse_flags", {"no_such_flag"}, kBroken));
}

TEST(EvalMimeParseFlags, HeaderSection) {
  std::string msg = "From: a@example.com\nTo: b@example.com\nSubject: test\nX-Long: " + repeat("word ", 2000) +
                    "\n--foo\nbody\n";
  EXPECT_TRUE(hits("check_msg_parse_flags", {"missing_head_body_separator"}, msg));
  EXPECT_TRUE(hits("check_msg_parse_flags", {"truncated_header"}, msg));  // 10,000 > 8192 bytes
  EXPECT_FALSE(hits("check_msg_parse_flags", {"missing_head_body_separator"}, kClean));
  EXPECT_FALSE(hits("check_msg_parse_flags", {"truncated_header"}, kClean));
  // Headers up to the end with no blank line, and the fourth non-header line.
  EXPECT_TRUE(hits("check_msg_parse_flags", {"missing_head_body_separator"}, "From: a@b.c\nSubject: x\n"));
  EXPECT_TRUE(hits("check_msg_parse_flags", {"missing_head_body_separator"},
                   "From: a@b.c\nnot a header\nnor this\nnor this\nstill not\n\nbody\n"));
  EXPECT_FALSE(hits("check_msg_parse_flags", {"missing_head_body_separator"},
                    "From: a@b.c\nnot a header\nnor this\nnor this\n\nbody\n"));
}

const std::string kAscii = kHead +
                           "Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n"
                           "caf\xe9 ol\xe9\n&#x2019;&#x201C;&#x201D; quotes\n";
const std::string kUtf8 = kHead +
                          "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\ncaf\xc3\xa9\n"
                          "plain words here and more words to dilute &#x2019; one entity only in a long enough line "
                          "of text, really quite long indeed\n";

TEST(EvalMimeText, AsciiIllegalAndUnicodeEntities) {
  EXPECT_TRUE(hits("check_for_ascii_text_illegal", {}, kAscii));
  EXPECT_FALSE(hits("check_for_ascii_text_illegal", {}, kUtf8));
  // 3 entities against 17 other characters (0.176); 1 against 121 (0.0083).
  EXPECT_TRUE(hits("check_abundant_unicode_ratio", {"0.05"}, kAscii));
  EXPECT_FALSE(hits("check_abundant_unicode_ratio", {"0.02"}, kUtf8));
  EXPECT_TRUE(hits("check_abundant_unicode_ratio", {"0.008"}, kUtf8));
  // A part without Content-Type is text/plain; charset=us-ascii.
  EXPECT_TRUE(hits("check_for_ascii_text_illegal", {}, "Subject: x\n\ncaf\xe9\n"));
}

TEST(EvalMimeCharset, BadIsoAndFaraway) {
  std::string bad = kHead + "Content-Type: text/plain; charset=iso-foo-bar\n\nhello\n";
  EXPECT_TRUE(hits("check_for_mime", {"mime_bad_iso_charset"}, bad));
  EXPECT_FALSE(hits("check_for_mime", {"mime_bad_iso_charset"}, kQpOk));  // iso-8859-1
  EXPECT_FALSE(hits("check_for_mime", {"mime_bad_iso_charset"},
                    kHead + "Content-Type: text/plain; charset=iso-2022-jp\n\nhello\n"));
  // ok_locales defaults to "all": never faraway.
  EXPECT_FALSE(hits("check_for_faraway_charset", {}, kHead + "Content-Type: text/plain; charset=koi8-r\n\n\xf0\xf2\xe9\xf7\xe5\xf4\n"));
  EXPECT_FALSE(hits("check_for_mime", {"mime_faraway_charset"}, bad));
}

TEST(EvalMimeUppercase, ShareOfCapitals) {
  std::string loud = kHead + "Content-Type: text/plain\n\n" +
                     repeat("THIS IS A VERY LOUD MESSAGE ABOUT MONEY AND you should read it NOW OR NEVER. ", 4) + "\n";
  // SpamAssassin: exactly 75% (the Subject "test" counts as lower case).
  EXPECT_TRUE(hits("check_for_uppercase", {"50", "75"}, loud));
  EXPECT_FALSE(hits("check_for_uppercase", {"75", "100"}, loud));
  // Under 200 characters: never.
  EXPECT_FALSE(hits("check_for_uppercase", {"0", "100"}, kHead + "\nSHORT AND LOUD BUT TOO SHORT\n"));
  // A charset that writes with capitals: never.
  std::string jp = kHead + "Content-Type: text/plain; charset=iso-2022-jp\n\n" +
                   repeat("THIS IS A VERY LOUD MESSAGE ABOUT MONEY AND you should read it NOW OR NEVER. ", 4) + "\n";
  EXPECT_FALSE(hits("check_for_uppercase", {"50", "75"}, jp));
}

TEST(EvalMimeStructure, QuirksOfSpamAssassinsParser) {
  // A part whose Content-Type repeats its parent's boundary hides one level of it
  // (bug 7358): the inner closing line does not end the outer multipart.
  std::string nested = kHead +
                       "Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: multipart/alternative; "
                       "boundary=B\n\n--B\nContent-Type: text/html\n\n<p>x</p>\n--B--\n--B--\n";
  EXPECT_FALSE(hits("check_for_mime", {"mime_missing_boundary"}, nested));
  EXPECT_TRUE(hits("check_for_mime", {"mime_multipart_alternative"}, nested));
  // message/rfc822 parts are parsed as messages: their parts count too.
  std::string fwd = kHead +
                    "Content-Type: multipart/mixed; boundary=O\n\n--O\nContent-Type: text/plain\n\nsee below\n"
                    "--O\nContent-Type: message/rfc822\n\nSubject: inner\nContent-Type: text/html\n\n<p>hi</p>\n--O--\n";
  EXPECT_EQ(run_eval("check_for_mime", {"mime_body_html_count"}, fwd), "1 text/html part(s)");
  EXPECT_FALSE(hits("check_for_mime_html_only", {}, fwd));
  // A closing boundary with no opening one.
  std::string unopened = kHead + "Content-Type: multipart/mixed; boundary=Q\n\nhello\n--Q--\n";
  EXPECT_TRUE(hits("check_for_mime", {"mime_missing_boundary"}, unopened));
}

TEST(EvalMimeLimits, HostileStructureStaysBounded) {
  // 3000 parts: SpamAssassin stops at 1000 per multipart and sets the parse flag
  // (check_for_mime's key of the same name never hits in 4.0.1).
  std::string many = kHead + "Content-Type: multipart/mixed; boundary=P\n\n";
  for (int i = 0; i < 3000; ++i) many += "--P\nContent-Type: text/plain\n\nx\n";
  many += "--P--\n";
  EXPECT_TRUE(hits("check_msg_parse_flags", {"mimepart_limit_exceeded"}, many));
  EXPECT_FALSE(hits("check_for_mime", {"mimepart_limit_exceeded"}, many));
  EXPECT_EQ(run_eval("check_for_mime", {"mime_body_text_count"}, many), "1000 text part(s)");
  // 200 nested multiparts: parsing stops at 20 levels; the rest is one leaf.
  std::string deep = kHead + "Content-Type: multipart/mixed; boundary=b0\n\n";
  for (int i = 0; i < 200; ++i)
    deep += "--b" + std::to_string(i) + "\nContent-Type: multipart/mixed; boundary=b" + std::to_string(i + 1) + "\n\n";
  deep += "--b200\nContent-Type: text/html\n\n<p>deep</p>\n";
  EXPECT_FALSE(hits("check_for_mime", {"mime_body_html_count"}, deep));
  EXPECT_TRUE(hits("check_for_mime", {"mime_missing_boundary"}, deep));
  // Empty and degenerate input.
  EXPECT_FALSE(hits("check_for_mime", {"mime_base64_count"}, ""));
  EXPECT_TRUE(hits("check_msg_parse_flags", {"missing_head_body_separator"}, "--\n--\n"));
  EXPECT_FALSE(hits("check_base64_length", {"1"}, std::string(100000, '\n')));
}

// Not run by default: prints the facts for every message listed in
// $MIME_CORPUS_LIST, in the format of the SpamAssassin-side dump used to compare.
TEST(EvalMimeCorpus, DISABLED_Dump) {
  const char* list = std::getenv("MIME_CORPUS_LIST");
  ASSERT_NE(list, nullptr);
  std::ifstream files(list);
  std::string path;
  auto lead_number = [](const EvalResult& r) -> std::string {
    if (!r) return "0";
    std::size_t end = r->find(' ');
    return r->substr(0, end);
  };
  auto last_word = [](const EvalResult& r) -> std::string {
    if (!r) return "0";
    return r->substr(r->rfind(' ') + 1);
  };
  while (std::getline(files, path)) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text(without_mbox_separator(ss.str()));
    auto m = [&](const char* key) { return run_eval("check_for_mime", {key}, text); };
    std::string up = run_eval("check_for_uppercase", {"-1", "1000"}, text).value_or("0%");
    std::string b64 = run_eval("check_base64_length", {"0"}, text).value_or("of 0 characters");
    b64 = b64.substr(b64.find("of ") + 3);
    std::cout << path << " mime_base64_count=" << lead_number(m("mime_base64_count"))
              << " mime_base64_encoded_text=" << (m("mime_base64_encoded_text") ? 1 : 0)
              << " mime_body_html_count=" << lead_number(m("mime_body_html_count"))
              << " mime_body_text_count=" << lead_number(m("mime_body_text_count"))
              << " mime_missing_boundary=" << (m("mime_missing_boundary") ? 1 : 0)
              << " mime_multipart_alternative=" << (m("mime_multipart_alternative") ? 1 : 0)
              << " mime_multipart_ratio=" << last_word(m("mime_multipart_ratio"))
              << " mime_qp_count=" << lead_number(m("mime_qp_count"))
              << " mime_qp_long_line=" << (m("mime_qp_long_line") ? 1 : 0)
              << " mime_qp_ratio=" << last_word(m("mime_qp_ratio"))
              << " mime_ascii_text_illegal=" << lead_number(m("mime_ascii_text_illegal"))
              << " mime_text_unicode_ratio=" << last_word(m("mime_text_unicode_ratio"))
              << " mime_attachment=" << lead_number(m("mime_attachment"))
              << " mime_bad_iso_charset=" << (m("mime_bad_iso_charset") ? 1 : 0)
              << " mime_html_charsets=" << m("mime_html_charsets").value_or("-") << " base64_length="
              << b64.substr(0, b64.find(' ')) << " uppercase=" << up.substr(0, up.find('%'));
    for (const char* flag : {"missing_head_body_separator", "missing_mime_head_body_separator", "missing_mime_headers",
                             "truncated_header", "mime_epilogue_exists", "mimepart_limit_exceeded"})
      std::cout << " " << flag << "=" << (hits("check_msg_parse_flags", {flag}, text) ? 1 : 0);
    std::cout << " ma_non_text=" << (hits("check_ma_non_text", {}, text) ? 1 : 0)
              << " html=" << (hits("check_for_mime_html", {}, text) ? 1 : 0)
              << " htmlonly=" << (hits("check_for_mime_html_only", {}, text) ? 1 : 0) << "\n";
  }
}

}  // namespace
}  // namespace mxgate
