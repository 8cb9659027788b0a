// ImageInfo's tests (eval_imageinfo.cpp). The expectations were checked against
// SpamAssassin 4.0.1 (`spamassassin -L -t --cf=...`, the same rules on the same
// message): it hit I1 I2 I3 I4 I5 I7 I8 I9 I11 I12 I14 and nothing else.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "filters/content/eval_test_util.hpp"

namespace mxgate {
namespace {

// A 500x400 GIF named x.gif, a 300x200 PNG, a 50x100 JPEG (APP0 before its SOF0),
// a GIF that is not base64 (not counted), a PNG whose data is not a PNG (counted,
// no size), and four bytes of text.
const std::string kImages =
    "From: a@example.com\n"
    "To: b@example.com\n"
    "Subject: pics\n"
    "Date: Mon, 7 Dec 2026 10:00:00 +0000\n"
    "Message-ID: <2@example.com>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/related; boundary=\"R\"\n"
    "\n"
    "--R\n"
    "Content-Type: text/plain\n"
    "\n"
    "look\n"
    "--R\n"
    "Content-Type: image/gif; name=\"x.gif\"\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "R0lGODlh9AGQAYAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
    "--R\n"
    "Content-Type: image/png\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "iVBORw0KGgoAAAANSUhEUgAAASwAAADICAIAAAAAAAAAAAAAAElFTkQAAAAA\n"
    "--R\n"
    "Content-Type: image/jpeg\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "/9j/4AAQSkZJRgAAAAAAAAAAAAD/wAARCABkADIDAAAAAAAAAAAA/9k=\n"
    "--R\n"
    "Content-Type: image/gif\n"
    "Content-Transfer-Encoding: 7bit\n"
    "\n"
    "GIF89a\n"
    "--R\n"
    "Content-Type: image/png\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "aGVsbG8gd29ybGQ=\n"
    "--R--\n";

const char* const kRules = R"(body I1 eval:image_count('gif',1,1)
body I2 eval:image_count('png','2')
body I3 eval:pixel_coverage('gif','180000','475000')
body I4 eval:pixel_coverage('all',62500,300000)
body I5 eval:image_size_exact('png','200','300')
body I6 eval:image_size_exact('png','300','200')
body I7 eval:image_size_range('gif',300,300)
body I8 eval:image_named('x.gif')
body I9 eval:image_to_text_ratio('all', '0.000', '0.015')
rawbody I10 eval:image_to_text_ratio('all', '0.000', '0.0000001')
body I11 eval:image_count('jpeg',1,1)
body I12 eval:image_size_exact('jpeg','100','50')
body I13 eval:image_count('jpg',1)
body I14 eval:image_count('all',4,4)
)";

std::set<std::string> hits_of(const std::string& rules_text, const std::string& message) {
  return testing::eval_rule_hits(rules_text, message);
}

TEST(EvalImageInfo, AgreesWithSpamAssassin) {
  std::set<std::string> want = {"I1", "I2", "I3", "I4", "I5", "I7", "I8", "I9", "I11", "I12", "I14"};
  EXPECT_EQ(hits_of(kRules, kImages), want);
  EXPECT_EQ(testing::run_eval("pixel_coverage", {"all", "1"}, kImages), "265000 pixels of all");
}

TEST(EvalImageInfo, NoImagesAndBrokenImages) {
  const std::string plain = "From: a@example.com\nSubject: x\n\nhello\n";
  EXPECT_EQ(hits_of(kRules, plain), (std::set<std::string>{}));
  // Truncated data of every kind: counted, no area, nothing read past the end.
  std::string broken =
      "From: a@example.com\nSubject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"B\"\n\n"
      "--B\nContent-Type: image/gif\nContent-Transfer-Encoding: base64\n\nR0lGODlh9A==\n"
      "--B\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgoAAAANSUhE\n"
      "--B\nContent-Type: image/jpeg\nContent-Transfer-Encoding: base64\n\n/9j/4AAQ\n"
      "--B\nContent-Type: image/jpeg\nContent-Transfer-Encoding: base64\n\n/9j/wAAR\n--B--\n";
  EXPECT_TRUE(testing::hits("image_count", {"all", "4", "4"}, broken));
  EXPECT_FALSE(testing::hits("pixel_coverage", {"all", "1"}, broken));
}

TEST(EvalImageInfo, ArgumentsCheckedAtLoad) {
  auto parsed = rules::parse_rule_text("body A eval:image_count('gif')\nbody B eval:pixel_coverage('gif','x')\n"
                                       "header C eval:image_count('gif',1)\n",
                                       "t.cf", content_parse_options());
  ASSERT_TRUE(parsed.errors.empty());
  EXPECT_EQ(check_eval_args(*parsed.value).size(), 2u);
  EXPECT_TRUE(parsed.value->unsupported_rules.count("C"));  // a body test, not a header test
}

}  // namespace
}  // namespace mxgate
