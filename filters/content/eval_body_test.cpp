// BodyEval (Plugin/BodyEval.pm) and the small TextCat/URIEval tests: each message
// here was checked against `spamassassin -L -t` 4.0.1 (the stock rule named in
// each test hits on the "hit" message and not on the other).
#include <gtest/gtest.h>

#include <string>

#include "filters/content/eval_test_util.hpp"

namespace mxgate {
namespace {

using testing::hits;
using testing::run_eval;

std::string alternative(const std::string& text, const std::string& html) {
  return "From: a@example.com\nTo: b@example.org\nSubject: offer\nMessage-ID: <1@example.com>\n"
         "Date: Mon, 7 Dec 2026 10:00:00 +0000\nMIME-Version: 1.0\n"
         "Content-Type: multipart/alternative; boundary=\"XX\"\n\n"
         "preamble\n--XX\nContent-Type: text/plain; charset=us-ascii\n\n" +
         text + "\n--XX\nContent-Type: text/html; charset=us-ascii\n\n" + html + "\n--XX--\n";
}

std::string plain(const std::string& body, const std::string& subject = "hello") {
  return "From: a@example.com\nTo: b@example.org\nSubject: " + subject +
         "\nMessage-ID: <1@example.com>\nDate: Mon, 7 Dec 2026 10:00:00 +0000\n\n" + body;
}

// MPART_ALT_DIFF: every HTML word missing from the text alternative.
TEST(EvalBodyMpartAlt, HtmlWordsMissingFromTextHit) {
  std::string m = alternative("Hello there, see the attached report.",
                              "<html><body><p>Cheap pills online, order today!</p></body></html>");
  EXPECT_TRUE(hits("multipart_alternative_difference", {"99", "100"}, m));
  EXPECT_EQ(*run_eval("multipart_alternative_difference", {"0", "undef"}, m), "100% of HTML words not in the text alternative");
}

TEST(EvalBodyMpartAlt, SameWordsDoNotHit) {
  std::string m = alternative("Hello there, see the attached report.",
                              "<html><body><p>Hello there, see the <b>attached</b> report.</p></body></html>");
  EXPECT_FALSE(hits("multipart_alternative_difference", {"99", "100"}, m));
  EXPECT_EQ(*run_eval("multipart_alternative_difference", {"0", "undef"}, m), "0% of HTML words not in the text alternative");
  // One HTML word of four is missing: 25%.
  std::string q = alternative("one two three", "<p>one two three four</p>");
  EXPECT_EQ(*run_eval("multipart_alternative_difference", {"0", "undef"}, q), "25% of HTML words not in the text alternative");
  EXPECT_FALSE(hits("multipart_alternative_difference", {"25", "100"}, q));
  EXPECT_TRUE(hits("multipart_alternative_difference", {"24", "25"}, q));
}

// A word used more often in HTML than in the text still counts as missing.
TEST(EvalBodyMpartAlt, CountsRepeatedWords) {
  std::string m = alternative("buy now", "<p>buy buy now</p>");
  EXPECT_EQ(*run_eval("multipart_alternative_difference", {"0", "undef"}, m), "50% of HTML words not in the text alternative");
}

// Tokens without a word character (bullets, rules) are not words.
TEST(EvalBodyMpartAlt, IgnoresPunctuationTokens) {
  std::string m = alternative("alpha beta", "<p>alpha -- beta *** \xE2\x80\xA2</p>");
  EXPECT_EQ(*run_eval("multipart_alternative_difference", {"0", "undef"}, m), "0% of HTML words not in the text alternative");
}

// An HTML part with only an image counts as one word the text cannot have.
TEST(EvalBodyMpartAlt, ImageOnlyHtml) {
  std::string m = alternative("some text here", "<html><body><img src=\"cid:x\"></body></html>");
  EXPECT_TRUE(hits("multipart_alternative_difference", {"99", "100"}, m));
  std::string none = alternative("some text here", "<html><body></body></html>");
  // No HTML words: the alternative is skipped, the difference stays 0.
  EXPECT_EQ(*run_eval("multipart_alternative_difference", {"0", "undef"}, none), "0% of HTML words not in the text alternative");
  EXPECT_FALSE(hits("multipart_alternative_difference", {"1", "undef"}, none));
}

// Exchange meeting requests (text/html + text/calendar) are left alone.
TEST(EvalBodyMpartAlt, MeetingRequestSkipped) {
  std::string m =
      "From: a@example.com\nSubject: meet\nMIME-Version: 1.0\n"
      "Content-Type: multipart/alternative; boundary=\"XX\"\n\n"
      "--XX\nContent-Type: text/html\n\n<p>Meeting on Monday</p>\n"
      "--XX\nContent-Type: text/calendar; method=REQUEST\n\nBEGIN:VCALENDAR\nEND:VCALENDAR\n--XX--\n";
  EXPECT_FALSE(hits("multipart_alternative_difference", {"99", "100"}, m));
  // The same without the calendar part: all HTML words lack a text part.
  std::string h =
      "From: a@example.com\nSubject: meet\nMIME-Version: 1.0\n"
      "Content-Type: multipart/alternative; boundary=\"XX\"\n\n"
      "--XX\nContent-Type: text/html\n\n<p>Meeting on Monday</p>\n--XX--\n";
  EXPECT_TRUE(hits("multipart_alternative_difference", {"99", "100"}, h));
}

// Alternatives nested in multipart/mixed are found; a plain multipart/mixed is not one.
TEST(EvalBodyMpartAlt, NestedAlternative) {
  std::string m =
      "From: a@example.com\nSubject: x\nMIME-Version: 1.0\n"
      "Content-Type: multipart/mixed; boundary=\"OUT\"\n\n"
      "--OUT\nContent-Type: multipart/alternative; boundary=\"IN\"\n\n"
      "--IN\nContent-Type: text/plain\n\nhello\n--IN\nContent-Type: text/html\n\n<p>other words</p>\n--IN--\n"
      "--OUT\nContent-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n--OUT--\n";
  EXPECT_TRUE(hits("multipart_alternative_difference", {"99", "100"}, m));
  std::string mixed =
      "From: a@example.com\nSubject: x\nMIME-Version: 1.0\n"
      "Content-Type: multipart/mixed; boundary=\"OUT\"\n\n"
      "--OUT\nContent-Type: text/plain\n\nhello\n--OUT\nContent-Type: text/html\n\n<p>other words</p>\n--OUT--\n";
  EXPECT_FALSE(hits("multipart_alternative_difference", {"1", "undef"}, mixed));
}

// MPART_ALT_DIFF_COUNT: many more text words than HTML words.
TEST(EvalBodyMpartAlt, CountRatio) {
  std::string m = alternative("one two three four five six seven eight nine ten", "<p>one two three</p>");
  EXPECT_TRUE(hits("multipart_alternative_difference_count", {"3", "1"}, m));  // 10/3 > 3
  std::string close = alternative("one two three four five six seven eight nine", "<p>one two three</p>");
  EXPECT_FALSE(hits("multipart_alternative_difference_count", {"3", "1"}, close));  // 9/3 is not > 3
  std::string one = alternative("one two three four five", "<p>one</p>");
  EXPECT_FALSE(hits("multipart_alternative_difference_count", {"3", "1"}, one));  // 1 HTML word is not > 1
}

// BLANK_LINES_80_90: between 80% (exclusive) and 90% of decoded lines blank.
TEST(EvalBodyBlankLines, Ratio) {
  std::string nine_of_ten = plain("text\n\n\n\n\n\n\n\n\n\n");
  EXPECT_TRUE(hits("check_blank_line_ratio", {"80", "90", "4"}, nine_of_ten));
  EXPECT_EQ(*run_eval("check_blank_line_ratio", {"80", "90", "4"}, nine_of_ten), "90% blank lines (9 of 10)");
  std::string half = plain("a\n\nb\n\nc\n\nd\n\ne\n\n");
  EXPECT_FALSE(hits("check_blank_line_ratio", {"80", "90", "4"}, half));
  EXPECT_TRUE(hits("check_blank_line_ratio", {"30", "50", "4"}, half));
  // Fewer lines than minlines: the ratio is -1.
  std::string short_one = plain("\n\n");
  EXPECT_FALSE(hits("check_blank_line_ratio", {"80", "100", "4"}, short_one));
  EXPECT_TRUE(hits("check_blank_line_ratio", {"0", "-1", "4"}, short_one));
}

// SpamAssassin keeps 20 lines of a run of blank lines: 20 of 22 lines.
TEST(EvalBodyBlankLines, LongRunsSquashed) {
  std::string m = plain("a\n" + std::string(30, '\n') + "b\n");
  EXPECT_EQ(*run_eval("check_blank_line_ratio", {"90", "91", "4"}, m), "90.91% blank lines (20 of 22)");
  EXPECT_FALSE(hits("check_blank_line_ratio", {"91", "100", "4"}, m));
}

// __TVD_SPACE_RATIO: no line above 5 bytes has 10% or more spaces.
TEST(EvalBodyTvd, VerticalWords) {
  std::string dense = plain("Clickhereforthebestdealsonline\n", "deals");
  EXPECT_TRUE(hits("tvd_vertical_words", {"0", "10"}, dense));
  std::string prose = plain("This is an ordinary sentence with spaces.\n", "deals");
  EXPECT_FALSE(hits("tvd_vertical_words", {"0", "10"}, prose));
  // "v i a g r a": more spaces than letters in a line reads 100.
  // SpamAssassin's values: the part's last line break became a space (3%); the prose 20%.
  EXPECT_EQ(*run_eval("tvd_vertical_words", {"0", "100"}, dense), "space ratio 3%");
  EXPECT_EQ(*run_eval("tvd_vertical_words", {"0", "100"}, prose), "space ratio 20%");
  std::string vertical = plain("v  i  a  g  r  a\n", "x");
  EXPECT_EQ(*run_eval("tvd_vertical_words", {"0", "100"}, vertical), "space ratio 100%");
}

// The Subject line counts, its folds read as one space as SpamAssassin decodes them.
TEST(EvalBodyTvd, FoldedSubject) {
  std::string m = plain("Clickhereforthebestdealsonline\n",
                        "Truck driver leaves trail of smelly pizza waste along major\n    highway. Hilarity ensues");
  EXPECT_EQ(*run_eval("tvd_vertical_words", {"0", "100"}, m), "space ratio 16%");
  EXPECT_FALSE(hits("tvd_vertical_words", {"0", "10"}, m));
}

// TVD_STOCK1: two or more stock-report labels in the text/plain part.
TEST(EvalBodyStock, Labels) {
  std::string stock = plain("Company: Acme Mining Corp\nSymbol: ACMM\nCurrent Price: $0.12\nTarget: $1.50\n");
  EXPECT_TRUE(hits("check_stock_info", {"2"}, stock));
  EXPECT_EQ(*run_eval("check_stock_info", {"2"}, stock), "4 stock labels");
  std::string one = plain("Company: Acme Mining Corp\nThanks for the meeting yesterday: see you.\n");
  EXPECT_FALSE(hits("check_stock_info", {"2"}, one));
  // Labels longer than 30 characters do not count; "S-t-o-c-k" with filler letters does.
  std::string odd = plain("A very long label that is longer than thirty chars: 1\nS.t.o.c.k: ABC\nTicker : X\n");
  EXPECT_EQ(*run_eval("check_stock_info", {"0"}, odd), "2 stock labels");
}

// __KAM_BODY_LENGTH_LT_128 and friends: the body as received, LF line ends.
TEST(EvalBodyLength, Short) {
  std::string m = plain("hi\n");  // 3 bytes
  EXPECT_TRUE(hits("check_body_length", {"128"}, m));
  EXPECT_TRUE(hits("check_body_length", {"3"}, m));
  EXPECT_FALSE(hits("check_body_length", {"2"}, m));
  EXPECT_FALSE(hits("check_body_length", {"128"}, plain(std::string(200, 'x') + "\n")));
}

TEST(EvalBodySignature, Ratio) {
  std::string m = plain("0123456789\n-- \nJohn Doe, Example Corp\n");
  EXPECT_EQ(*run_eval("plaintext_body_length", {"0"}, m), "length 11");
  EXPECT_EQ(*run_eval("plaintext_sig_length", {"0"}, m), "length 24");
  EXPECT_TRUE(hits("plaintext_body_sig_ratio", {"0", "0.5"}, m));
  // A delimiter with 4 bytes or fewer after it is a decoy: no signature.
  std::string decoy = plain("0123456789\n-- \nab\n");
  EXPECT_FALSE(hits("plaintext_sig_length", {"1"}, decoy));
  EXPECT_FALSE(hits("plaintext_body_sig_ratio", {"0", "0.5"}, decoy));
}

// Lengths are of the transfer-decoded bytes: quoted-printable drops trailing blanks.
TEST(EvalBodySignature, QuotedPrintable) {
  std::string m =
      "From: a@example.com\nSubject: x\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n"
      "Content-Transfer-Encoding: quoted-printable\n\nbody text   \n-- \nJohn Doe=20\nExample Corp   \n";
  EXPECT_EQ(*run_eval("plaintext_body_length", {"0"}, m), "length 10");
  EXPECT_EQ(*run_eval("plaintext_sig_length", {"0"}, m), "length 24");
}

TEST(EvalBodyTextCat, NeverHitWithDefaultLanguages) {
  std::string m = plain("\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xD0\xBC\xD0\xB8\xD1\x80 "
                        "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82\n");
  EXPECT_FALSE(hits("check_language", {}, m));
  EXPECT_FALSE(hits("check_body_8bits", {}, m));
}

TEST(EvalBodyUri, Truncated) {
  EXPECT_TRUE(hits("check_uri_truncated", {}, plain("see http://example.com/" + std::string(9000, 'a') + "\n")));
  EXPECT_FALSE(hits("check_uri_truncated", {}, plain("see http://example.com/" + std::string(8000, 'a') + "\n")));
}

TEST(EvalBodyArgs, Checked) {
  const auto& t = eval_table();
  EXPECT_EQ(t.at("multipart_alternative_difference").check_args({"99", "undef"}), "");
  EXPECT_NE(t.at("multipart_alternative_difference").check_args({"99"}), "");
  EXPECT_NE(t.at("check_blank_line_ratio").check_args({"a", "1"}), "");
  EXPECT_EQ(t.at("check_blank_line_ratio").check_args({"80", "90", "4"}), "");
  EXPECT_NE(t.at("check_stock_info").check_args({}), "");
}

// Broken and hostile MIME never throws and keeps to the message size.
TEST(EvalBodyHostile, BrokenStructures) {
  std::string deep = "From: a@b.c\nSubject: x\nContent-Type: multipart/mixed; boundary=b0\n\n";
  for (int i = 1; i < 200; ++i)
    deep += "--b" + std::to_string(i - 1) + "\nContent-Type: multipart/alternative; boundary=b" + std::to_string(i) + "\n\n";
  deep += "--b199\nContent-Type: text/html\n\n<p>x</p>\n";
  std::string no_boundary = "From: a@b.c\nSubject: x\nContent-Type: multipart/alternative\n\n<p>x</p>\n";
  std::string same_boundary =
      "From: a@b.c\nSubject: x\nContent-Type: multipart/alternative; boundary=\"S\"\n\n"
      "--S\nContent-Type: multipart/alternative; boundary=\"S\"\n\n--S\nContent-Type: text/html\n\n<p>a b</p>\n--S--\n--S--\n";
  std::string headers_only = "From: a@b.c\nSubject: x\nContent-Type: multipart/alternative; boundary=\"S\"\n\n--S\n";
  std::string long_line = plain(std::string(100000, 'x') + "\n" + std::string(50000, ' ') + ":" + "\n");
  std::string names = "From: a@b.c\nSubject: x\nContent-Type: multipart/alternative; boundary=\"S\"";
  for (int i = 0; i < 20000; ++i) names += "; name";
  names += "\n\n--S\nContent-Type: text/plain\n\nx\n--S--\n";
  std::string labels;
  for (int i = 0; i < 100000; ++i) labels += "Some label here: value\n";
  labels = plain(labels);
  for (const std::string* m : {&deep, &no_boundary, &same_boundary, &headers_only, &long_line, &names, &labels}) {
    for (const char* f : {"multipart_alternative_difference", "multipart_alternative_difference_count",
                          "check_blank_line_ratio", "tvd_vertical_words", "check_stock_info",
                          "plaintext_body_sig_ratio"}) {
      std::vector<std::string> args = {"0", "1000"};
      if (std::string(f) == "check_stock_info") args = {"0"};
      EXPECT_NO_THROW(run_eval(f, args, *m)) << f;
    }
  }
}

}  // namespace
}  // namespace mxgate

