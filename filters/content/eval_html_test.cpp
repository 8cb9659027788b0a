// SpamAssassin's HTMLEval functions over HTML.pm's statistics. Each expectation
// was checked against SpamAssassin 4.0.1 (spamassassin -L -t, or HTML.pm's
// results dumped for the same text).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "filters/content/eval_test_util.hpp"

namespace mxgate {
std::string describe_html_facts(EvalContext& ctx);

namespace {

using testing::hits;
using testing::run_eval;

std::string html_msg(const std::string& html, const std::string& subject = "Hello there",
                     const std::string& charset = "us-ascii") {
  return "From: a@example.com\nTo: b@example.org\nSubject: " + subject +
         "\nMIME-Version: 1.0\nContent-Type: text/html; charset=" + charset + "\n\n" + html + "\n";
}

std::string plain_msg(const std::string& body) {
  return "From: a@example.com\nTo: b@example.org\nSubject: hi\nContent-Type: text/plain\n\n" + body + "\n";
}

std::string facts_of(const std::string& text) {
  return testing::with_eval_context(text, [](EvalContext& ctx) { return describe_html_facts(ctx); });
}

TEST(EvalHtml, HtmlMessageNeedsNonEmptyHtmlPart) {
  EXPECT_TRUE(hits("html_test", {"html"}, html_msg("<p>hi</p>")));
  EXPECT_FALSE(hits("html_test", {"html"}, plain_msg("<p>hi</p>")));
  // An empty text/html part renders nothing and gathers no statistics.
  EXPECT_FALSE(hits("html_test", {"html"},
                    "From: a@example.com\nSubject: x\nContent-Type: text/html\n\n"));
}

TEST(EvalHtml, LowContrastText) {
  // White on white, and near-white (distance < 12) on white.
  EXPECT_TRUE(hits("html_test", {"font_low_contrast"}, html_msg("<font color=#ffffff>hidden words</font>")));
  EXPECT_TRUE(hits("html_test", {"font_low_contrast"}, html_msg("<font color=\"#f8f8f8\">hidden words</font>")));
  EXPECT_TRUE(hits("html_test", {"font_low_contrast"},
                   html_msg("<div style=\"background-color: #000; color: rgb(10,10,10)\">x</div>")));
  // Visible colours, and a white font with no text in it, do not count.
  EXPECT_FALSE(hits("html_test", {"font_low_contrast"}, html_msg("<font color=#808080>grey words</font>")));
  EXPECT_FALSE(hits("html_test", {"font_low_contrast"}, html_msg("<font color=white> </font>plain")));
  // bgcolor attributes are never applied by HTML.pm (only CSS backgrounds are).
  EXPECT_FALSE(hits("html_test", {"font_low_contrast"},
                    html_msg("<table bgcolor=#000000><tr><td><font color=#000000>x</font></td></tr></table>")));
}

TEST(EvalHtml, InvalidColourAndFontFace) {
  EXPECT_TRUE(hits("html_test", {"font_invalid_color"}, html_msg("<font color=\"blurple\">x</font>")));
  EXPECT_FALSE(hits("html_test", {"font_invalid_color"}, html_msg("<font color=\"#12ab34\">x</font>")));
  EXPECT_TRUE(hits("html_test", {"font_face_bad"}, html_msg("<font face=\"{foo}\">x</font>")));
  EXPECT_FALSE(hits("html_test", {"font_face_bad"}, html_msg("<font face=\"Arial, Helvetica, sans-serif\">x</font>")));
}

TEST(EvalHtml, TestsOnTags) {
  EXPECT_TRUE(hits("html_test", {"form_action_mailto"}, html_msg("<form action=\"MAILTO:x@y.z\"></form>")));
  EXPECT_FALSE(hits("html_test", {"form_action_mailto"}, html_msg("<form action=\"http://y.z/\"></form>")));
  EXPECT_TRUE(hits("html_test", {"embeds"}, html_msg("<embed src=x.swf>")));
  EXPECT_FALSE(hits("html_test", {"embeds"}, html_msg("<img src=x.gif>")));
  EXPECT_TRUE(hits("check_iframe_src", {}, html_msg("<iframe src=\"http://x.example/\"></iframe>")));
  EXPECT_FALSE(hits("check_iframe_src", {}, html_msg("<iframe src=\"\"></iframe>")));
}

TEST(EvalHtml, TagExistsAndBalance) {
  EXPECT_TRUE(hits("html_tag_exists", {"center"}, html_msg("<center>x</center>")));
  // A stray end tag is enough for `exists`.
  EXPECT_TRUE(hits("html_tag_exists", {"center"}, html_msg("x</center>")));
  EXPECT_FALSE(hits("html_tag_exists", {"center"}, html_msg("<p>x</p>")));
  EXPECT_TRUE(hits("html_tag_balance", {"body", "!= 0"}, html_msg("<html><body>x</html>")));
  EXPECT_FALSE(hits("html_tag_balance", {"body", "!= 0"}, html_msg("<html><body>x</body></html>")));
  // More closes than opens count as 0 (and as an extra close).
  EXPECT_FALSE(hits("html_tag_balance", {"body", "!= 0"}, html_msg("<body>x</body></body>")));
  EXPECT_TRUE(hits("html_range", {"closed_extra_ratio", "0.09", "inf"}, html_msg("<body>x</body></body>")));
  // Text inside <script> or <title> is not parsed for tags.
  EXPECT_FALSE(hits("html_tag_exists", {"center"}, html_msg("<script>if (a<b) x='<center>';</script>")));
}

TEST(EvalHtml, RangesAndEval) {
  std::string big = html_msg("<font size=7>BIG</font>");
  EXPECT_TRUE(hits("html_range", {"max_size", "6", "inf"}, big));
  EXPECT_FALSE(hits("html_range", {"max_size", "5", "6"}, big));
  EXPECT_FALSE(hits("html_range", {"max_size", "6", "inf"}, html_msg("<font size=+1>x</font>")));
  EXPECT_TRUE(hits("html_eval", {"length", "< 384"}, html_msg("<p>short</p>")));
  EXPECT_FALSE(hits("html_eval", {"length", "< 384"}, html_msg("<p>" + std::string(400, 'a') + "</p>")));
  // Unknown tags: bad_tag_ratio = 2 of 3 tags are not HTML 4 elements.
  std::string odd = html_msg("<p>x<zz>y<qq>");
  EXPECT_TRUE(hits("html_range", {"bad_tag_ratio", "0.60", "0.70"}, odd));
  EXPECT_TRUE(hits("html_range", {"non_element_ratio", "0.60", "0.70"}, odd));
  EXPECT_FALSE(hits("html_range", {"bad_tag_ratio", "0.90", "1.00"}, odd));
  // Words cut by tags: 2 cuts over 3 tags.
  EXPECT_TRUE(hits("html_range", {"obfuscation_ratio", ".6", ".7"}, html_msg("Vi<b>ag</b>ra pills<br>")));
  EXPECT_FALSE(hits("html_range", {"obfuscation_ratio", "0", "1"}, html_msg("Viagra <b>pills</b> here<br>")));
}

TEST(EvalHtml, ImageOnlyAndRatio) {
  std::string img = html_msg("<a href=\"http://x.example/\"><img src=\"http://x.example/a.gif\" width=400 height=300></a>");
  EXPECT_TRUE(hits("html_image_only", {"0000", "0400"}, img));
  EXPECT_FALSE(hits("html_image_only", {"0400", "0800"}, img));
  EXPECT_FALSE(hits("html_image_only", {"0000", "0400"}, html_msg("<a href=\"http://x.example/\">no image</a>")));
  // 4 visible characters over 400x300 pixels.
  std::string few = html_msg("abcd<img src=a.gif width=400 height=300>");
  EXPECT_TRUE(hits("html_image_ratio", {"0.000", "0.002"}, few));
  EXPECT_FALSE(hits("html_image_ratio", {"0.002", "0.004"}, few));
}

TEST(EvalHtml, TextMatchOnTitleAnchorComment) {
  std::string m = html_msg("<title>Cheap &amp; easy</title><!-- saved from url=(0022)http://x/ -->"
                           "<a href=\"http://x.example/\"><img src=a.gif></a>");
  EXPECT_TRUE(hits("html_text_match", {"title", "Cheap & easy"}, m));
  EXPECT_TRUE(hits("html_text_match", {"comment", "<!-- saved from url=\\(\\d{4}\\)"}, m));
  EXPECT_TRUE(hits("html_text_match", {"anchor", "<img>"}, m));
  EXPECT_TRUE(hits("html_text_match", {"comment", "<!.*?>"}, m));
  EXPECT_FALSE(hits("html_text_match", {"title", ".{120}"}, m));
  EXPECT_FALSE(hits("html_text_match", {"anchor", "<img>"}, html_msg("<a href=x>text</a><img src=a.gif>")));
  EXPECT_TRUE(hits("html_text_match", {"comment", "<!(?!-).{0,6}>"}, html_msg("a<!x>b")));
  EXPECT_FALSE(hits("html_text_match", {"comment", "<!(?!-).{0,6}>"}, html_msg("a<!-- x -->b")));
  // 120 characters, not bytes.
  std::string title(100, 'a');
  for (int i = 0; i < 10; ++i) title += "\xc3\xa9";
  EXPECT_FALSE(hits("html_text_match", {"title", ".{120}"}, html_msg("<title>" + title + "</title>", "x", "utf-8")));
  EXPECT_TRUE(hits("html_text_match", {"title", ".{110}"}, html_msg("<title>" + title + "</title>", "x", "utf-8")));
}

TEST(EvalHtml, TitleSubjectRatio) {
  std::string title = "<title>" + std::string(60, 'x') + "</title>";
  EXPECT_TRUE(hits("html_title_subject_ratio", {"3.5"}, html_msg(title, "short")));  // 60 / 6
  EXPECT_FALSE(hits("html_title_subject_ratio", {"3.5"}, html_msg(title, std::string(30, 's'))));
}

TEST(EvalHtml, CharsetFarawayNeverHitsWithDefaultLocales) {
  EXPECT_FALSE(hits("html_charset_faraway", {},
                    html_msg("<meta http-equiv=\"Content-Type\" content=\"text/html; charset=big5\">x")));
}

TEST(EvalHtml, ParserEdgeCases) {
  // Unterminated markup becomes a comment; nothing hangs or throws.
  EXPECT_NE(facts_of(html_msg("x<a href=\"y")).find("comment=[1]<a href=\"y"), std::string::npos);
  EXPECT_NO_THROW(facts_of(html_msg(std::string(100000, '<'))));
  EXPECT_NO_THROW(facts_of(html_msg(std::string(50000, '&') + "<font color=rgb(999999999999999999999999,1)>x")));
  std::string deep;
  for (int i = 0; i < 20000; ++i) deep += "<font color=red><td>";
  for (int i = 0; i < 20000; ++i) deep += "</font></td>";
  EXPECT_NO_THROW(facts_of(html_msg(deep)));
  // Shapes that would be quadratic in a naive parser: each about 1 MB, parsed to the
  // end (their speed is a benchmark matter, tests/bench, not asserted here).
  for (std::string unit : {"<title>x", "<!-->x", "<!--x>", "<script>x<p>", "<a href='x'>", "<font color=red><td>",
                           "</zz>", "&amp", "<td style='color:#fff;background:#fff'>x", "<!---><script>"}) {
    std::string big;
    while (big.size() < 1'000'000) big += unit;
    EXPECT_NO_THROW(facts_of(html_msg(big))) << unit;
  }
  // What HTML::Parser does at end of input (checked against HTML.pm): an unclosed
  // <script> swallows the rest; an unclosed <title> ends at the next tag; after a
  // "<!--" that never closes, an unclosed <script> ends at once.
  EXPECT_FALSE(hits("html_tag_exists", {"b"}, html_msg("<script>a<b>c")));
  EXPECT_TRUE(hits("html_tag_exists", {"p"}, html_msg("<title>x<p>y")));
  EXPECT_TRUE(hits("html_text_match", {"title", "^x$"}, html_msg("<title>x<p>y")));
  EXPECT_TRUE(hits("html_tag_exists", {"p"}, html_msg("<!--->a<script>c<p>e")));
  EXPECT_NE(facts_of(html_msg("<!--->a<script>c<p>e")).find("inside=p:1,script:0 "), std::string::npos);
  // Unclosed <style> ends at the end of the part, its text hidden.
  EXPECT_FALSE(hits("html_tag_balance", {"style", "!= 0"}, html_msg("<style>p { color: red }")));
}

TEST(EvalHtml, ArgumentChecks) {
  const auto& t = eval_table();
  EXPECT_EQ(t.at("html_range").check_args({"max_size", "6", "inf"}), "");
  EXPECT_NE(t.at("html_range").check_args({"max_size", "six"}), "");
  EXPECT_EQ(t.at("html_eval").check_args({"length", "< 384"}), "");
  EXPECT_NE(t.at("html_eval").check_args({"length", "system()"}), "");
  EXPECT_NE(t.at("html_tag_balance").check_args({"bo-dy", "!= 0"}), "");
  EXPECT_NE(t.at("html_text_match").check_args({"title", "(unclosed"}), "");
}

// Every call the stock rules make (SpamAssassin 4.0.1's 20_html_tests.cf and
// friends) loads.
TEST(EvalHtml, StockRuleArgumentsLoad) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> calls = {
      {"html_test", {"html"}},
      {"html_text_match", {"comment", "<!(?!-).{0,6}>"}},
      {"html_text_match", {"comment", "<!-- saved from url=\\(\\d{4}\\)"}},
      {"html_test", {"embeds"}},
      {"html_range", {"closed_extra_ratio", "0.09", "inf"}},
      {"html_range", {"max_size", "5", "6"}},
      {"html_range", {"max_size", "6", "inf"}},
      {"html_test", {"font_low_contrast"}},
      {"html_test", {"font_face_bad"}},
      {"html_test", {"form_action_mailto"}},
      {"html_image_only", {"0000", "0400"}},
      {"html_image_only", {"0400", "0800"}},
      {"html_image_only", {"0800", "1200"}},
      {"html_image_only", {"1200", "1600"}},
      {"html_image_only", {"1600", "2000"}},
      {"html_image_only", {"2000", "2400"}},
      {"html_image_only", {"2400", "2800"}},
      {"html_image_only", {"2800", "3200"}},
      {"html_image_ratio", {"0.000", "0.002"}},
      {"html_image_ratio", {"0.002", "0.004"}},
      {"html_image_ratio", {"0.004", "0.006"}},
      {"html_image_ratio", {"0.006", "0.008"}},
      {"html_range", {"obfuscation_ratio", ".05", ".1"}},
      {"html_range", {"obfuscation_ratio", ".1", ".2"}},
      {"html_range", {"obfuscation_ratio", ".2", ".3"}},
      {"html_range", {"obfuscation_ratio", ".3", ".4"}},
      {"html_range", {"obfuscation_ratio", ".5", ".6"}},
      {"html_range", {"obfuscation_ratio", ".7", ".8"}},
      {"html_range", {"obfuscation_ratio", ".9", "1.0"}},
      {"html_tag_balance", {"body", "!= 0"}},
      {"html_tag_balance", {"head", "!= 0"}},
      {"html_tag_exists", {"bgsound"}},
      {"html_range", {"bad_tag_ratio", "0.40", "0.50"}},
      {"html_range", {"bad_tag_ratio", "0.50", "0.60"}},
      {"html_range", {"bad_tag_ratio", "0.60", "0.70"}},
      {"html_range", {"bad_tag_ratio", "0.90", "1.00"}},
      {"html_range", {"non_element_ratio", "0.30", "0.40"}},
      {"html_range", {"non_element_ratio", "0.40", "0.50"}},
      {"html_range", {"non_element_ratio", "0.60", "0.70"}},
      {"html_range", {"non_element_ratio", "0.80", "0.90"}},
      {"html_text_match", {"anchor", "<img>"}},
      {"html_range", {"length", "0", "1024"}},
      {"html_range", {"length", "1024", "1536"}},
      {"html_range", {"length", "1536", "2048"}},
      {"html_eval", {"length", "< 512"}},
      {"html_text_match", {"comment", "<!.*?>"}},
      {"html_eval", {"length", "< 384"}},
      {"html_tag_exists", {"center"}},
      {"html_text_match", {"title", ".{120}"}},
      {"html_title_subject_ratio", {"3.5"}},
      {"html_charset_faraway", {}},
      {"check_iframe_src", {}},
      {"html_tag_exists", {"body"}},
      {"html_tag_exists", {"head"}},
      {"html_tag_exists", {"html"}},
      {"html_tag_exists", {"meta"}},
      {"html_tag_exists", {"style"}},
      {"html_tag_exists", {"script"}},
      {"html_tag_balance", {"center", "!= 0"}},
      {"html_test", {"font_invalid_color"}},
  };
  const auto& t = eval_table();
  for (const auto& [function, args] : calls) {
    auto it = t.find(function);
    ASSERT_NE(it, t.end()) << function;
    if (it->second.check_args) {
      EXPECT_EQ(it->second.check_args(args), "") << function << " " << args.front();
    }
  }
}

// Dumps the statistics of the messages listed (one path a line) in the file named
// by HTML_DUMP_LIST, for comparison with SpamAssassin's HTML.pm results:
//   HTML_DUMP_LIST=list ./eval_test --gtest_also_run_disabled_tests --gtest_filter='EvalHtml.DISABLED_Dump'
TEST(EvalHtml, DISABLED_Dump) {
  const char* list = std::getenv("HTML_DUMP_LIST");
  ASSERT_NE(list, nullptr);
  std::ifstream in(list);
  std::string path;
  while (std::getline(in, path)) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string out = facts_of(ss.str());
    if (const char* dir = std::getenv("HTML_DUMP_DECODED")) {  // the decoded HTML parts too
      Message msg(ss.str());
      MimeView view = parse_mime(msg);
      int n = 0;
      for (const auto& tp : view.text_parts)
        if (tp.html) std::ofstream(std::string(dir) + "/" + std::to_string(n++) + "." + path.substr(path.rfind('/') + 1)) << tp.decoded;
    }
    if (const char* rules = std::getenv("HTML_DUMP_RULES")) {  // lines: RULE<TAB>function<TAB>args...
      std::ifstream rf(rules);
      std::string rl;
      while (std::getline(rf, rl)) {
        std::vector<std::string> cols;
        std::size_t at = 0;
        for (std::size_t tab; (tab = rl.find('\t', at)) != std::string::npos; at = tab + 1) cols.push_back(rl.substr(at, tab - at));
        cols.push_back(rl.substr(at));
        if (cols.size() < 2) continue;
        if (hits(cols[1], std::vector<std::string>(cols.begin() + 2, cols.end()), ss.str())) std::cout << path << " RULE " << cols[0] << "\n";
      }
    }
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) std::cout << path << " " << line << "\n";
  }
}

}  // namespace
}  // namespace mxgate
