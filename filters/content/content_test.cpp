// The content filter: scope texts as SpamAssassin builds them, every rule kind and
// meta operator over real MIME messages, where hits are reported, config errors
// with file and line, the scan pool, and the shipped rule set against
// tests/data/content/EXPECTED.
#include "filters/content/content_filter.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <unistd.h>

#include "filters/config_node.hpp"
#include "filters/content/content_scan.hpp"
#include "rules/rule_capture.hpp"
#include "base/work_pool.hpp"
#include "filters/content/scan_texts.hpp"
#include "filters/chain.hpp"
#include "filters/filter_state.hpp"
#include "filters/mime/mime_filter.hpp"

namespace mxgate {
namespace {
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace asio = boost::asio;

Message crlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return Message(out);
}

rules::RuleSetPtr compile(const std::string& text) {
  auto parsed = rules::parse_rule_text(text, "t.cf");
  EXPECT_TRUE(parsed.ok()) << format_errors(parsed.errors);
  if (!parsed.ok()) return nullptr;
  auto rs = rules::RuleSet::compile(std::move(*parsed.value));
  EXPECT_TRUE(rs.ok()) << format_errors(rs.errors);
  return rs.ok() ? *rs.value : nullptr;
}

// rule name -> where, for every rule that hit (sub-rules included).
std::map<std::string, std::string> hits(const rules::RuleSet& rs, const Message& msg, Envelope env = {}) {
  MimeView view = parse_mime(msg);
  ContentScan scan = scan_content(rs, view, msg, env, ScanLimits{});
  std::map<std::string, std::string> out;
  for (const auto& h : scan.hits) out[rs.rules()[h.rule].name] = h.where;
  return out;
}

std::set<std::string> names(const std::map<std::string, std::string>& m) {
  std::set<std::string> out;
  for (const auto& [k, v] : m) out.insert(k);
  return out;
}

using S = std::set<std::string>;

const char* kHtmlMail =
    "From: \"PayPal Support\" <support@paypa1.example>\n"
    "To: victim@example.org\n"
    "Cc: other@example.org\n"
    "Subject: =?UTF-8?B?VXJnZW50OiB2ZXJpZnkgeW91ciBhY2NvdW50?=\n"
    "Message-ID: <abc@paypa1.example>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/alternative; boundary=\"b1\"\n"
    "\n"
    "--b1\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "Dear customer,\n"
    "your account   has been\n"
    "limited.\n"
    "\n"
    "Click the link below.\n"
    "--b1\n"
    "Content-Type: text/html; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "<html><body><p>Dear <b>customer</b>,</p><p style=3D\"display:none\">hidden</p>\n"
    "<a href=3D\"http://192.0.2.7/login.php\">Verify now</a></body></html>\n"
    "--b1--\n";

TEST(ScanTexts, ParagraphsAsSpamAssassinSplitsThem) {
  std::string out;
  append_paragraphs("  Dear  friend,\nhello\tthere\n\n \n\nsecond   para\r\n\nthird", out);
  EXPECT_EQ(out, "Dear friend, hello there\nsecond para\nthird\n");
  out.clear();
  append_paragraphs("\n\n   \n", out);
  EXPECT_EQ(out, "");
}

TEST(ScanTexts, BodyRawbodyFullAndWhereEachPartStarts) {
  Message msg = crlf(kHtmlMail);
  MimeView view = parse_mime(msg);
  ScanTexts t = build_scan_texts(view, msg, ScanLimits{});
  EXPECT_EQ(t.body.text.substr(0, 42), "Urgent: verify your account\nDear customer,");
  EXPECT_NE(t.body.text.find("Dear customer, your account has been limited.\nClick the link below.\n"), std::string::npos)
      << t.body.text;
  EXPECT_EQ(t.body.text.find("<p"), std::string::npos);       // rendered
  EXPECT_NE(t.rawbody.text.find("<p style=\"display:none\">"), std::string::npos);  // decoded, not rendered
  EXPECT_EQ(t.full.find('\r'), std::string::npos);
  EXPECT_EQ(t.full.size() + std::count(msg.data().begin(), msg.data().end(), '\r'), msg.size());
  ASSERT_EQ(t.body.pieces.size(), 3u);
  EXPECT_EQ(t.body.pieces[0].label, "Subject");
  EXPECT_EQ(t.body.pieces[1].label, "part 1 text/plain");
  EXPECT_EQ(t.body.pieces[2].label, "part 2 text/html");
  auto [label, off] = t.body.locate(t.body.text.find("Verify now"));
  EXPECT_EQ(label, "part 2 text/html");
  EXPECT_EQ(t.body.pieces[2].offset + off, t.body.text.find("Verify now"));
  // With the form SpamAssassin's canonicalizer adds: it strips leading zeros from
  // each octet of a dotted address, "0" included (Util.pm uri_list_canonicalize).
  EXPECT_EQ(t.urls, (std::vector<std::string>{"http://192.0.2.7/login.php", "http://192..2.7/login.php"}));
}

TEST(ScanTexts, BodyPartsAreCappedLikeSpamAssassin) {
  std::string big = "Subject: x\n\n" + std::string(70'000, 'a') + " tail-marker\n";
  Message msg = crlf(big);
  MimeView view = parse_mime(msg);
  ScanLimits lim;
  ScanTexts t = build_scan_texts(view, msg, lim);
  // Cut at 50,000 bytes, then into lines of at most 2048 bytes (one line break each).
  EXPECT_LE(t.body.text.size(), lim.max_body_part_bytes + lim.max_body_part_bytes / 2048 + 10);
  EXPECT_EQ(t.body.text.find("tail-marker"), std::string::npos);
  EXPECT_NE(t.rawbody.text.find("tail-marker"), std::string::npos);  // rawbody reads 500,000
}

// The body as SpamAssassin 4.0.1 builds it (Message.pm get_rendered_body_text_array):
// every expected line below is what `spamassassin` gives for the same message.
// rawbody is the parts' bytes in their own charset (SpamAssassin's decode()); body
// is the text converted to UTF-8, ISO-2022-JP's 7-bit escapes included.
TEST(ScanTexts, RawbodyKeepsThePartsCharsetBodyIsUtf8) {
  Message msg = crlf(
      "Subject: s\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
      "--b\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\ncaf\xe9\n"
      "--b\nContent-Type: text/plain; charset=ISO-2022-JP\n\n\x1b$B$3$s$K$A$O\x1b(B\n--b--\n");
  MimeView view = parse_mime(msg);
  ScanTexts t = build_scan_texts(view, msg, ScanLimits{});
  EXPECT_NE(t.body.text.find("caf\xc3\xa9"), std::string::npos);
  EXPECT_NE(t.body.text.find("こんにちは"), std::string::npos);
  EXPECT_EQ(t.body.text.find('\x1b'), std::string::npos);
  EXPECT_EQ(t.rawbody.text, "caf\xe9\n\x1b$B$3$s$K$A$O\x1b(B\n");
}

TEST(ScanTexts, BodyIsSpamAssassinsRenderedTextArray) {
  Message msg = crlf(
      "From: a@example.net\nTo: b@example.org\nSubject: first\nSubject: see  the\t last\n"
      "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
      "--b\nContent-Type: text/plain\n\nfirst line\nsame   para\n\n  second para\n"
      "--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAAA\n"
      "--b\nContent-Type: text/html\n\n<p>html para</p>tail<br>more<div>x</div><div>y</div>\n"
      "--b\nContent-Type: text/calendar\n\nBEGIN:VCALENDAR\n--b--\n");
  MimeView view = parse_mime(msg);
  ScanTexts t = build_scan_texts(view, msg, ScanLimits{});
  // The last Subject, as written; a paragraph that followed blanks keeps one space;
  // the attachment between the parts adds its line break; <p> is a blank line, <br>
  // and one <div> a line break, two <div>s a paragraph; text/calendar is not shown.
  EXPECT_EQ(t.body.text, "see  the\t last\nfirst line same para\n second para\nhtml para\ntail more x\ny\n");
  ASSERT_EQ(t.body.pieces.size(), 3u);
  EXPECT_EQ(t.body.locate(t.body.text.find("html para")).first, "part 2 text/html");
  EXPECT_EQ(t.rawbody.text.find("VCALENDAR"), std::string::npos);

  // No Subject: an empty first line. A paragraph over 2048 bytes is cut at its last
  // space within 2048 bytes (the line break counted).
  std::string words;
  for (int i = 0; i < 300; ++i) words += (i ? " word" : "word") + std::string(i < 10 ? "000" : i < 100 ? "00" : "0") + std::to_string(i);
  Message longmsg = crlf("From: a@example.net\n\n" + words + "\n");
  MimeView lv = parse_mime(longmsg);
  ScanTexts lt = build_scan_texts(lv, longmsg, ScanLimits{});
  ASSERT_EQ(lt.body.text.substr(0, 9), "\nword0000");
  std::size_t first_end = lt.body.text.find('\n', 1);
  EXPECT_EQ(first_end - 1, 2043u);  // "... word0226 " : 227 words of 9 bytes
  EXPECT_EQ(lt.body.text.substr(first_end - 9, 10), "word0226 \n");
  EXPECT_EQ(lt.body.text.substr(first_end + 1, 8), "word0227");
}

// SpamAssassin's uri rules read get_uri_list(): URIs of the Subject line too, bare
// addresses as mailto:, and each mailto: also without its ?query (checked with
// spamassassin 4.0.1 on the same message: the same seven URIs).
TEST(ScanTexts, UriListAsSpamAssassinsGetUriList) {
  Message msg = crlf(
      "From: a@example.net\nTo: b@example.org\nSubject: see www.subject.com  now\n\n"
      "To unsubscribe, send an email to:\nforteana-unsubscribe@egroups.com\n"
      "or E-mail: Sales@Example.COM. Not: vi@gra, a@b.c0m, x@y, http://u:p@host.net/ "
      "[mailto:list-admin@xent.com]On\nmailto:who@where.com?subject=hi&body=x\n");
  MimeView view = parse_mime(msg);
  ScanTexts t = build_scan_texts(view, msg, ScanLimits{});
  std::vector<std::string> got = t.urls;
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"http://u:p@host.net/", "http://www.subject.com", "mailto:Sales@Example.COM",
                                           "mailto:forteana-unsubscribe@egroups.com", "mailto:list-admin@xent.com",
                                           "mailto:who@where.com", "mailto:who@where.com?subject=hi&body=x"}));
}

TEST(HeaderText, WhatEachKeyReads) {
  Message msg = crlf(
      "From: \"Bob Q. Example\" <bob@example.com>\n"
      "To: a@example.org,\n b@example.org\n"
      "Cc: c@example.org\n"
      "Subject: =?ISO-8859-1?Q?caf=E9?= menu\n"
      "Received: from one\n"
      "Received: from two\n"
      "X-Message-Id: <x1@h>\n"
      "\nbody\n");
  MimeView view = parse_mime(msg);
  Envelope env;
  env.mail_from = Mailbox{"bounce@example.net", {}};
  env.client.ip = "192.0.2.1";  // in a live transaction the MAIL FROM is the envelope sender
  auto get = [&](std::string_view key) { return header_text(key, view, msg, env); };
  EXPECT_EQ(get("subject"), "café menu\n");
  EXPECT_EQ(get("subject:raw"), " =?ISO-8859-1?Q?caf=E9?= menu\n");
  // :addr and :name have no line end (SpamAssassin's Check.pm joins values with
  // "\n" and adds none): From:addr =~ /\s/ (FROM_ADDR_WS) must not match here.
  EXPECT_EQ(get("from:addr"), "bob@example.com");
  EXPECT_EQ(get("from:name"), "Bob Q. Example");
  EXPECT_EQ(get("to:addr"), "a@example.org\nb@example.org");  // every address of the field
  EXPECT_EQ(get("to"), "a@example.org, b@example.org\n");
  EXPECT_EQ(get("tocc"), "a@example.org, b@example.org\nc@example.org\n");
  EXPECT_EQ(get("received"), "from one\nfrom two\n");
  EXPECT_EQ(get("received:first"), "from one\n");
  EXPECT_EQ(get("received:last"), "from two\n");
  EXPECT_EQ(get("MESSAGEID"), "<x1@h>\n");
  // Only MESSAGEID is the pseudo-header; "MessageID" is a real header name
  // (MSGID_HDR_MALF's __HAS_MESSAGEID is exists:MessageID).
  EXPECT_EQ(get("messageid"), std::nullopt);
  EXPECT_EQ(get("envelopefrom"), "bounce@example.net");  // one address, no line end (get_envelope_from)
  // A stored message (no client): the headers the last MTA wrote; none here.
  Envelope stored;
  stored.mail_from = env.mail_from;
  EXPECT_EQ(header_text("envelopefrom", view, msg, stored), std::nullopt);
  Message with_rp("Return-Path: <rp@example.net>\r\nFrom: a@example.com\r\n\r\nx\r\n");
  EXPECT_EQ(header_text("envelopefrom", parse_mime(with_rp), with_rp, stored), "rp@example.net");
  EXPECT_EQ(get("x-nothing"), std::nullopt);
  EXPECT_EQ(get("received:ip"), std::nullopt);  // not implemented: reads as absent
  std::string all = *get("ALL");
  EXPECT_NE(all.find("Subject: café menu\n"), std::string::npos) << all;
  EXPECT_NE(all.find("Received: from two\n"), std::string::npos);
  EXPECT_NE(get("ALL:raw")->find("Subject:  =?ISO-8859-1?Q?caf=E9?= menu\n"), std::string::npos) << *get("ALL:raw");
  EXPECT_EQ(first_address("bob@example.com (Bob)"), "bob@example.com");
  EXPECT_EQ(first_display_name("bob@example.com (Bob)"), "Bob");
  EXPECT_EQ(first_address("Undisclosed recipients:;"), "Undisclosed");
  using V = std::vector<std::string>;
  EXPECT_EQ(addresses_in("Name <a@example.net>"), V{"a@example.net"});
  EXPECT_EQ(addresses_in(" a@x.example, \"Doe, J\" <b@y.example>;c@z.example (C)"),
            (V{"a@x.example", "b@y.example", "c@z.example"}));
  EXPECT_EQ(addresses_in("Foo: Bar <c@z.example>;"), V{"c@z.example"});
  EXPECT_EQ(addresses_in("\"a b\"@x.example"), V{"\"a b\"@x.example"});
  EXPECT_TRUE(addresses_in("Undisclosed recipients:;").empty());
  EXPECT_TRUE(addresses_in("<>").empty());
  EXPECT_TRUE(addresses_in("Name <a b@x.example>").empty());
  EXPECT_TRUE(addresses_in("Foo Blah").empty());
  EXPECT_EQ(addresses_in("Joe\r\n <joe@example.com>"), V{"joe@example.com"});
}

TEST(ScanContent, EveryScopeAndRuleKind) {
  auto rs = compile(
      "header SUBJ_URGENT Subject =~ /^urgent:/i\n"
      "header SUBJ_RAW_B64 Subject:raw =~ /=\\?UTF-8\\?B\\?/i\n"
      "header FROM_NAME_PAYPAL From:name =~ /paypal/i\n"
      "header FROM_NOT_PAYPAL From:addr !~ /\\@paypal\\.com$/\n"
      "header TOCC_TWO ToCc =~ /victim.*\\n.*other/s\n"
      "header NO_XMAILER X-Mailer =~ /./ [if-unset: none]\n"
      "header XMAILER_UNSET X-Mailer =~ /^none$/ [if-unset: none]\n"
      "header XMAILER_NEG X-Mailer !~ /outlook/i\n"
      "header ALL_PAYPA1 ALL =~ /^Message-ID: <[^>]*paypa1/im\n"
      "header HAS_MSGID exists:Message-ID\n"
      "header HAS_LISTID exists:List-Id\n"
      "body DEAR_CUSTOMER /^Dear customer\\b/\n"
      "body ACCOUNT_LIMITED /your account has been limited/\n"
      "body CROSSES_PARAGRAPH /limited\\.\\s+Click/\n"
      "body VERIFY_NOW /\\bverify now\\b/i\n"
      "rawbody HIDDEN_TEXT /display\\s*:\\s*none/i\n"
      "body HIDDEN_IN_BODY /display:none/\n"
      "full FULL_BOUNDARY /^--b1--$/m\n"
      "uri URI_IP /^https?:\\/\\/\\d+\\.\\d+\\.\\d+\\.\\d+/\n"
      "uri URI_PHP /\\.php$/\n"
      "score SUBJ_URGENT 1.5\n"
      "describe SUBJ_URGENT Subject starts with Urgent\n");
  ASSERT_TRUE(rs);
  auto h = hits(*rs, crlf(kHtmlMail));
  EXPECT_EQ(names(h), (S{"ACCOUNT_LIMITED", "ALL_PAYPA1", "DEAR_CUSTOMER", "FROM_NAME_PAYPAL", "FROM_NOT_PAYPAL",
                         "FULL_BOUNDARY", "HAS_MSGID", "HIDDEN_TEXT", "NO_XMAILER", "SUBJ_RAW_B64", "SUBJ_URGENT",
                         "TOCC_TWO", "URI_IP", "URI_PHP", "VERIFY_NOW", "XMAILER_NEG", "XMAILER_UNSET"}));
  EXPECT_EQ(h["SUBJ_URGENT"], "header Subject: \"Urgent:\"");
  EXPECT_EQ(h["DEAR_CUSTOMER"], "body part 1 text/plain at 13: \"Dear customer\"");
  EXPECT_EQ(h["URI_IP"], "uri \"http://192.0.2.7/login.php\"");
  EXPECT_EQ(h["FROM_NOT_PAYPAL"], "header From (no match)");
  EXPECT_EQ(h["XMAILER_UNSET"], "header X-Mailer (absent)");
  EXPECT_EQ(h["HAS_MSGID"], "header Message-ID exists");
  EXPECT_EQ(h["VERIFY_NOW"].rfind("body part 2 text/html at ", 0), 0u) << h["VERIFY_NOW"];
  EXPECT_EQ(h["HIDDEN_TEXT"].rfind("rawbody part 2 text/html at ", 0), 0u) << h["HIDDEN_TEXT"];
  EXPECT_EQ(h["FULL_BOUNDARY"].rfind("full at ", 0), 0u);
}

TEST(ScanContent, MetasSubRulesScoresAndMultiple) {
  auto rs = compile(
      "body __A /alpha/\n"
      "body __B /beta/\n"
      "body __C /gamma/\n"
      "body __MANY_X /x/\ntflags __MANY_X multiple\n"
      "meta AND_AB __A && __B\n"
      "meta OR_CZ __C || __Z_UNDEFINED\n"
      "meta NOT_C !__C\n"
      "meta SUM2 (__A + __B + __C) >= 2\n"
      "meta SUM3 (__A + __B + __C) >= 3\n"
      "meta THREE_X __MANY_X > 2\n"
      "meta FOUR_X __MANY_X > 3\n"
      "meta __SUM (__A + __B + __C)\n"
      "meta SUM_OF_META __SUM >= 2\n"
      "meta META_OF_META AND_AB && !SUM3\n"
      "body ZERO /alpha/\nscore ZERO 0\n"
      "body NICE /beta/\nscore NICE -1.5\ntflags NICE nice\ndescribe NICE Looks like ham\n"
      "score AND_AB 2.5\ndescribe AND_AB Alpha and beta\n");
  ASSERT_TRUE(rs);
  Message msg = crlf("Subject: t\n\nalpha beta x x x\n");
  auto h = hits(*rs, msg);
  // ZERO (score 0, no meta uses it) is disabled, as in SpamAssassin: not even scanned.
  EXPECT_EQ(names(h), (S{"AND_AB", "META_OF_META", "NICE", "NOT_C", "SUM2", "SUM_OF_META", "THREE_X", "__A", "__B",
                         "__MANY_X", "__SUM"}));
  MimeView view = parse_mime(msg);
  ContentScan scan = scan_content(*rs, view, msg, Envelope{}, ScanLimits{});
  auto syms = content_symbols(*rs, scan);
  std::map<std::string, Symbol> by;
  for (const auto& s : syms) by[s.name] = s;
  // Sub-rules and zero-scored rules never become symbols.
  EXPECT_EQ(by.count("__A"), 0u);
  EXPECT_EQ(by.count("ZERO"), 0u);
  EXPECT_DOUBLE_EQ(by["AND_AB"].score, 2.5);
  EXPECT_EQ(by["AND_AB"].detail, "Alpha and beta");
  EXPECT_EQ(by["AND_AB"].where, "meta: __A __B");
  EXPECT_EQ(by["META_OF_META"].where, "meta: AND_AB");
  EXPECT_EQ(by["NOT_C"].where, "meta");  // true for what did not hit
  EXPECT_DOUBLE_EQ(by["NICE"].score, -1.5);
  EXPECT_DOUBLE_EQ(by["SUM2"].score, 1.0);  // SpamAssassin's default for a rule without a score
  for (const auto& h2 : scan.hits)
    if (rs->rules()[h2.rule].name == "__MANY_X") {
      EXPECT_EQ(h2.count, 3u);
    }
}

// The classifier's probability through check_bayes, and the score set it switches
// to: SpamAssassin scores with the Bayes set once Bayes can answer (PerMsgStatus),
// even for a message it gave no probability; an answer left from another
// transaction counts for nothing.
TEST(ScanContent, BayesBandsAndTheBayesScoreSet) {
  std::string cf;
  for (const auto& [name, text] : builtin_rule_files())
    if (name.ends_with("60_bayes.cf")) cf = text;
  ASSERT_FALSE(cf.empty());
  cf += "body SETS /alpha/\nscore SETS 1 1 2.5 2.5\n";
  auto parsed = rules::parse_rule_text(cf, "t.cf", content_parse_options());
  ASSERT_TRUE(parsed.ok()) << format_errors(parsed.errors);
  EXPECT_TRUE(check_eval_args(*parsed.value).empty());
  auto compiled = rules::RuleSet::compile(std::move(*parsed.value));
  ASSERT_TRUE(compiled.ok()) << format_errors(compiled.errors);
  const rules::RuleSet& rs = **compiled.value;
  Message msg = crlf("Subject: t\n\nalpha\n");
  MimeView view = parse_mime(msg);
  auto scored = [&](std::optional<BayesAnswer> answer) {
    Envelope env;
    env.txn_id = "S.1";
    env.state = std::make_shared<FilterState>();
    if (answer) env.state->bayes = *answer;
    std::map<std::string, double> out;
    for (const auto& sym : content_symbols(rs, scan_content(rs, view, msg, env, ScanLimits{}))) out[sym.name] = sym.score;
    return out;
  };
  using M = std::map<std::string, double>;
  auto answer = [](const char* txn, bool available, std::optional<double> p) {
    BayesAnswer a;
    a.txn = txn;
    a.available = available;
    a.probability = p;
    return a;
  };
  EXPECT_EQ(scored(std::nullopt), (M{{"SETS", 1.0}}));
  EXPECT_EQ(scored(answer("S.1", true, 0.995)), (M{{"BAYES_99", 3.8}, {"SETS", 2.5}}));
  EXPECT_EQ(scored(answer("S.1", true, 0.9995)), (M{{"BAYES_99", 3.8}, {"BAYES_999", 0.2}, {"SETS", 2.5}}));
  EXPECT_EQ(scored(answer("S.1", true, 0.0)), (M{{"BAYES_00", -1.5}, {"SETS", 2.5}}));
  EXPECT_EQ(scored(answer("S.1", true, 0.5)), (M{{"BAYES_50", 2.0}, {"SETS", 2.5}}));
  EXPECT_EQ(scored(answer("S.1", true, std::nullopt)), (M{{"SETS", 2.5}}));
  EXPECT_EQ(scored(answer("S.1", false, std::nullopt)), (M{{"SETS", 1.0}}));
  EXPECT_EQ(scored(answer("S.0", true, 0.995)), (M{{"SETS", 1.0}}));
  // check_bayes's arguments are checked at load.
  auto bad = rules::parse_rule_text("body B eval:check_bayes('0.5')\nbody C eval:check_bayes('x', '1')\n", "b.cf",
                                    content_parse_options());
  ASSERT_TRUE(bad.ok());
  auto errs = format_errors(check_eval_args(*bad.value));
  EXPECT_NE(errs.find("b.cf:1: rule B: check_bayes: takes two arguments"), std::string::npos) << errs;
  EXPECT_NE(errs.find("b.cf:2: rule C: check_bayes: 'x' is not a probability"), std::string::npos) << errs;
}

// SpamAssassin 4 capture rules: named groups set tags, %{TAG} rules read them with
// the values quoted; a rule whose tag is unset is not run at all (each case below
// checked against spamassassin 4.0.1 on the same rules and message).
TEST(ScanContent, CaptureRulesSetTagsThatTemplateRulesRead) {
  auto rs = compile(
      "header __TO_ADDR To:addr =~ /(?<TO_ADDR>.*)/\n"
      "uri EMAIL_IN_URI m|^https?://.{4,64}\\#%{TO_ADDR}|i\n"
      "body __HELLO_NAME /\\bHello,? (?<HELLO_NAME>\\w+)\\b/\n"
      "header NAME_IN_FROM From =~ /\\b%{HELLO_NAME}\\b/i\n"
      "header NAME_NOT_IN_SUBJ Subject !~ /%{HELLO_NAME}/\n"
      "body MISSING_TAG /%{NO_SUCH_TAG}/\n"
      "header NEG_MISSING Subject !~ /%{NO_SUCH_TAG}/\n"
      "body __ALL_WORDS /\\b(?<WORD>w\\w+)/\ntflags __ALL_WORDS multiple\n"
      "body TWO_WORDS /^%{WORD} and %{WORD}$/\n"
      "body DOTS /a%{TO_ADDR}z/\n");
  ASSERT_TRUE(rs);
  EXPECT_EQ(rs->capture_rules().size(), 3u);
  EXPECT_EQ(rs->template_rules().size(), 7u);
  EXPECT_EQ(rs->find("__TO_ADDR")->priority, -10000);  // captures run first, as in SpamAssassin
  EXPECT_TRUE(rs->find("__HELLO_NAME")->captures);
  EXPECT_EQ(rs->find("NAME_IN_FROM")->templates, std::vector<std::string>{"HELLO_NAME"});
  // Template rules are compiled per message: they are in no scope.
  EXPECT_EQ(rs->regex_of("EMAIL_IN_URI"), nullptr);
  Message msg = crlf(
      "From: Bob Smith <bob@example.com>\n"
      "To: Alice <alice.x+y@example.org>\n"
      "Subject: Hi there bob\n\n"
      "Hello Bob, see http://evil.example.net/a/b.html#alice.x+y@example.org now.\n\n"
      "wax and wane\n\n"
      "aalice.x+y@example.orgz\n");
  auto h = hits(*rs, msg);
  EXPECT_EQ(names(h), (S{"DOTS", "EMAIL_IN_URI", "NAME_IN_FROM", "NAME_NOT_IN_SUBJ", "TWO_WORDS", "__ALL_WORDS",
                         "__HELLO_NAME", "__TO_ADDR"}));
  EXPECT_EQ(h["EMAIL_IN_URI"], "uri \"http://evil.example.net/a/b.html#alice.x+y@example.org\"");
  EXPECT_EQ(h["NAME_IN_FROM"], "header From: \"Bob\"");
  EXPECT_EQ(h["NAME_NOT_IN_SUBJ"], "header Subject (no match)");  // "Bob" is case-sensitive there
  // The values are quoted: "." and "+" of the address are literal.
  Message msg2 = crlf(
      "From: Bob <bob@example.com>\nTo: alice.x+y@example.org\nSubject: Bob\n\n"
      "Hello Bob\n\nhttp://evil.example.net/a/b.html#aliceXxxy@example.org\n\naaliceXxxy@exampleXorgz\n");
  auto h2 = hits(*rs, msg2);
  EXPECT_EQ(names(h2), (S{"NAME_IN_FROM", "__HELLO_NAME", "__TO_ADDR"}));
  // Rules run in priority order, wherever they are defined: a rule that reads one
  // tag and sets another, placed between the two (SpamAssassin orders rules of one
  // priority and type by hash, so only distinct priorities make a chain certain).
  auto chained = compile(
      "header SURNAME_IN_FROM From =~ /%{SURNAME}/\n"
      "body __SURNAME /\\b%{HELLO_NAME} (?<SURNAME>\\w+)/\npriority __SURNAME -5000\n"
      "body __HELLO_NAME /\\bHello,? (?<HELLO_NAME>\\w+)\\b/\n");
  ASSERT_TRUE(chained);
  EXPECT_EQ(names(hits(*chained, crlf("From: Bob Smith <bob@example.com>\nSubject: hi\n\nHello Bob\n\nBob Smith signs\n"))),
            (S{"SURNAME_IN_FROM", "__HELLO_NAME", "__SURNAME"}));
  // The last rule to set a tag wins (no piling up), and a capture of nothing sets the
  // tag empty: the rules reading it do not run (spamassassin 4.0.1: "dependent tag
  // not defined").
  auto replaced = compile(
      "header __CAP_A Subject =~ /(?<MYTAG>foo\\d)/\npriority __CAP_A -20000\n"
      "header __CAP_B From =~ /(?<MYTAG>bar\\d)/\n"
      "body T_TEMPL /x%{MYTAG}x/\n"
      "header __CAP_D Subject =~ /(?<THIRD>foo)/\npriority __CAP_D -20000\n"
      "header __CAP_E X-Foo =~ /(?<THIRD>q*)/\n"
      "body T_TEMPL3 /%{THIRD}/\n"
      "body T_DUP /y%{DOM}y/\n"
      "header __CAP_DUP To =~ /(?<DOM>foo)|(?<DOM>bar)/\n");
  ASSERT_TRUE(replaced);
  EXPECT_EQ(names(hits(*replaced, crlf("From: bar1@example.com\nTo: x@bar.example\nSubject: foo1\nX-Foo: zz\n\n"
                                       "xfoo1x ybary foo\n"))),
            (S{"T_DUP", "__CAP_A", "__CAP_B", "__CAP_D", "__CAP_DUP", "__CAP_E"}));
  // No To: the tag is empty, so unset: its rules do not run, not even a `!~` one.
  Message msg3 = crlf("From: x@example.com\nSubject: s\n\nnothing http://a.example/#\n");
  EXPECT_EQ(names(hits(*rs, msg3)), (S{"__TO_ADDR"}));
}

TEST(ScanContent, HostileMessagesStillScan) {
  auto rs = compile("body WORD /needle/\nrawbody RAW /needle/\nfull FULL /needle/\n");
  ASSERT_TRUE(rs);
  // Broken boundaries and base64: scanned as far as it goes.
  Message broken = crlf(
      "Content-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: text/plain\n"
      "Content-Transfer-Encoding: base64\n\nbmVlZGxl!!!***\n--zz\n");
  auto h = hits(*rs, broken);
  EXPECT_EQ(names(h), (S{"RAW", "WORD"}));  // full reads the raw base64
  // No header section at all, NUL bytes, 8-bit junk.
  std::string junk = "\n";
  junk += std::string("\0\xff\xfe needle \x01", 12);
  EXPECT_EQ(names(hits(*rs, Message(junk))).count("FULL"), 1u);
}

// ---- through the config and the filter interface ----

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("mxgate-content-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  void write(const std::string& name, const std::string& text) const {
    fs::create_directories((path / name).parent_path());
    std::ofstream(path / name) << text;
  }
};

std::shared_ptr<ContentFilter> make(const std::string& yaml, const std::string& file, std::vector<ConfigError>& errs) {
  YAML::Node n = YAML::Load(yaml);
  ConfigMap cfg(n, file, "content", &errs);
  auto f = make_content_filter(cfg);
  cfg.finish();
  return std::static_pointer_cast<ContentFilter>(f);
}

TEST(ContentConfig, RuleFoldersRelativeToTheConfigAndLaterFilesOverride) {
  TempDir d;
  d.write("rules/10_a.cf", "body CHEAP /cheap pills/\nscore CHEAP 1.0\ndescribe CHEAP Sells pills\n");
  d.write("local/50_local.cf", "score CHEAP 4.0\n");
  d.write("rules/README.md", "not a rule file\n");
  std::vector<ConfigError> errs;
  auto f = make("rules: [rules, local]\ncache_dir: " + (d.path / "cache").string() + "\n",
                (d.path / "mxgate.yaml").string(), errs);
  ASSERT_TRUE(errs.empty()) << format_errors(errs);
  ASSERT_TRUE(f);
  Verdict v = f->check(Envelope{}, crlf("Subject: hi\n\nbuy cheap pills\n"));
  ASSERT_EQ(v.symbols.size(), 1u);
  EXPECT_EQ(v.symbols[0].name, "CHEAP");
  EXPECT_DOUBLE_EQ(v.symbols[0].score, 4.0);
  EXPECT_EQ(v.symbols[0].detail, "Sells pills");
  EXPECT_EQ(v.action, Action::Continue);
  EXPECT_TRUE(fs::exists(f->config().report.cache_file)) << f->config().report.cache_note;
}

TEST(ContentConfig, RuleErrorsNameFileLineAndRule) {
  TempDir d;
  d.write("rules/10_a.cf", "body OK /fine/\n\nbody BAD_ONE /unclosed\nmeta BAD_META (OK &&\n");
  std::vector<ConfigError> errs;
  auto f = make("rules: [rules]\ncache_dir: ''\n", (d.path / "mxgate.yaml").string(), errs);
  EXPECT_FALSE(f);
  ASSERT_EQ(errs.size(), 3u) << format_errors(errs);
  std::string file = (d.path / "rules/10_a.cf").string();
  EXPECT_EQ(errs[0].file, file);
  EXPECT_EQ(errs[0].line, 3);
  EXPECT_NE(errs[0].str().find("rule BAD_ONE"), std::string::npos) << errs[0].str();
  EXPECT_EQ(errs[1].line, 4);
  EXPECT_NE(errs[1].str().find("rule BAD_META"), std::string::npos) << errs[1].str();
  EXPECT_EQ(errs[2].str(), (d.path / "mxgate.yaml").string() + ":1: content.rules: the rule set has 2 error(s), listed above");

  errs.clear();
  EXPECT_FALSE(make("rules: [no-such-folder]\n", (d.path / "mxgate.yaml").string(), errs));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_NE(errs[0].str().find("no-such-folder: cannot read rule folder"), std::string::npos) << errs[0].str();

  errs.clear();
  EXPECT_FALSE(make("rules: [rules]\nbusy_reply: 550 5.7.1 no\nscan_thread: 2\n", (d.path / "m.yaml").string(), errs));
  std::string all = format_errors(errs);
  EXPECT_NE(all.find("busy_reply: must be a 4xx reply"), std::string::npos) << all;
  EXPECT_NE(all.find("scan_thread"), std::string::npos) << all;
}

Verdict run_hook(ContentFilter& f, const Envelope& env, const Message& msg) {
  asio::io_context ioc;
  Verdict out;
  asio::co_spawn(ioc, [&]() -> Task<void> { out = co_await f.on_end_of_data(env, msg); }, asio::detached);
  ioc.run();
  return out;
}

TEST(ContentFilter, LargeMessagesScanOnThePoolWithTheSameResult) {
  // The process's work pool, as loading a server config makes it (work_pool.*).
  auto pool = process_work_pool(0, 256);
  TempDir d;
  d.write("r/a.cf", "body NEEDLE /needle in a haystack/\nrawbody TAIL /tail marker/\n");
  std::vector<ConfigError> errs;
  auto inline_f = make("rules: [r]\ncache_dir: ''\ninline_scan_bytes: 1M\n", (d.path / "m.yaml").string(), errs);
  auto pool_f = make("rules: [r]\ncache_dir: ''\ninline_scan_bytes: 0\n", (d.path / "m.yaml").string(), errs);
  ASSERT_TRUE(errs.empty()) << format_errors(errs);
  ASSERT_TRUE(inline_f && pool_f);
  ASSERT_EQ(pool_f->config().pool, pool);
  std::string body = "Subject: s\n\n";
  for (int i = 0; i < 2000; ++i) body += "filler line " + std::to_string(i) + "\n";
  body += "a needle in a haystack\n\ntail marker\n";
  Message msg = crlf(body);
  Envelope env;
  env.txn_id = "T.1";
  std::thread::id session = std::this_thread::get_id();
  Verdict a = run_hook(*inline_f, env, msg);
  Verdict b = run_hook(*pool_f, env, msg);
  ASSERT_EQ(a.symbols.size(), 2u);
  ASSERT_EQ(b.symbols.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(a.symbols[i].name, b.symbols[i].name);
    EXPECT_EQ(a.symbols[i].where, b.symbols[i].where);
  }
  EXPECT_EQ(std::this_thread::get_id(), session);
}

TEST(ContentFilter, AFullQueueIsATempfailNotAnEndlessWait) {
  TempDir d;
  d.write("r/a.cf", "body NEEDLE /needle/\n");
  auto cfg = std::make_shared<ContentConfig>();
  cfg->rules = compile("body NEEDLE /needle/\n");
  cfg->inline_scan_bytes = 0;
  cfg->pool = std::make_shared<WorkPool>(1, 1);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::promise<void> started;
  ASSERT_TRUE(cfg->pool->try_submit([gate, &started] { started.set_value(); gate.wait(); }));  // the thread
  started.get_future().wait();
  ASSERT_TRUE(cfg->pool->try_submit([] {}));  // the one queue slot
  ContentFilter f(cfg);
  Verdict v = run_hook(f, Envelope{}, crlf("Subject: x\n\nneedle\n"));
  EXPECT_EQ(v.action, Action::Tempfail);
  ASSERT_TRUE(v.reply);
  EXPECT_EQ(v.reply->code(), 451);
  EXPECT_EQ(v.reply->enhanced(), "4.3.2");
  release.set_value();
  cfg->pool->quiesce();
  Verdict ok = run_hook(f, Envelope{}, crlf("Subject: x\n\nneedle\n"));
  EXPECT_EQ(ok.action, Action::Continue);
  ASSERT_EQ(ok.symbols.size(), 1u);
}

TEST(ContentFilter, ReusesTheMimeFiltersView) {
  auto cfg = std::make_shared<ContentConfig>();
  cfg->rules = compile("body SEEN /only-in-the-shared-view/\n");
  ContentFilter f(cfg);
  Envelope env;
  env.txn_id = "S.1";
  env.state = std::make_shared<FilterState>();
  Message msg = crlf("Subject: x\n\nplain text\n");
  auto view = std::make_shared<MimeView>(parse_mime(msg));
  view->text_parts.at(0).rendered = "only-in-the-shared-view";
  env.state->mime = view;
  env.state->mime_txn = "S.1";
  EXPECT_EQ(f.check(env, msg).symbols.size(), 1u);
  env.txn_id = "S.2";  // another transaction: parsed anew
  EXPECT_EQ(f.check(env, msg).symbols.size(), 0u);
}

TEST(MimeFilterOffload, LargeMessagesParseOnThePoolAndLeaveTheViewForContent) {
  auto pool = process_work_pool(1, 4);  // what a content filter's config creates
  ASSERT_EQ(current_work_pool(), pool);
  auto mcfg = std::make_shared<MimeConfig>();
  mcfg->inline_parse_bytes = 0;  // everything counts as large
  auto mime_ptr = std::make_shared<MimeFilter>(mcfg);
  MimeFilter& mime = *mime_ptr;
  auto ccfg = std::make_shared<ContentConfig>();
  ccfg->rules = compile("body SEEN /broken base64 ahead/\n");
  ContentFilter content(ccfg);
  Envelope env;
  env.txn_id = "M.1";
  env.state = std::make_shared<FilterState>();
  // The session lends the chain's settings: the mime filter's own.
  FilterChain chain({mime_ptr}, 1s);
  env.state->mime_settings = chain.mime_settings();
  ASSERT_EQ(env.state->mime_settings->inline_parse_bytes, 0u);
  Message msg = crlf(
      "Subject: s\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
      "YnJva2VuIGJhc2U2NCBhaGVhZA==\n!!not base64!!\n");
  asio::io_context ioc;
  Verdict mv, cv;
  asio::co_spawn(ioc, [&]() -> Task<void> {
    mv = co_await mime.on_end_of_data(env, msg);
    cv = co_await content.on_end_of_data(env, msg);
  }, asio::detached);
  ioc.run();
  ASSERT_TRUE(env.state->mime);
  EXPECT_EQ(env.state->mime_txn, "M.1");
  ASSERT_FALSE(mv.symbols.empty());
  EXPECT_EQ(mv.symbols[0].name, "MIME_BAD_BASE64");
  ASSERT_EQ(cv.symbols.size(), 1u);
  EXPECT_EQ(cv.symbols[0].name, "SEEN");
}

// Whichever filter runs first, the message is parsed once and with the mime filter's
// limits: content listed before mime sees what mime would have parsed.
TEST(MimeView, ParsedOnceWithTheConfiguredLimitsWhateverTheOrder) {
  auto mcfg = std::make_shared<MimeConfig>();
  mcfg->limits.max_parts = 2;
  auto mime = std::make_shared<MimeFilter>(mcfg);
  auto ccfg = std::make_shared<ContentConfig>();
  ccfg->rules = compile("body THIRD /third part/\n");
  auto content = std::make_shared<ContentFilter>(ccfg);
  FilterChain chain({content, mime}, 1s);  // content first
  ASSERT_EQ(chain.mime_settings()->limits.max_parts, 2u);
  Envelope env;
  env.txn_id = "P.1";
  env.state = std::make_shared<FilterState>();
  env.state->mime_settings = chain.mime_settings();
  Message msg = crlf(
      "Subject: s\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
      "--b\nContent-Type: text/plain\n\nfirst part\n"
      "--b\nContent-Type: text/plain\n\nsecond part\n"
      "--b\nContent-Type: text/plain\n\nthird part\n--b--\n");
  asio::io_context ioc;
  Verdict cv, mv;
  std::shared_ptr<const MimeView> after_content;
  asio::co_spawn(ioc, [&]() -> Task<void> {
    cv = co_await content->on_end_of_data(env, msg);
    after_content = env.state->mime;
    mv = co_await mime->on_end_of_data(env, msg);
  }, asio::detached);
  ioc.run();
  ASSERT_TRUE(after_content);
  EXPECT_EQ(env.state->mime, after_content);  // the mime filter did not parse again
  std::vector<std::string> names;
  for (const auto& s : mv.symbols) names.push_back(s.name);
  EXPECT_NE(std::find(names.begin(), names.end(), "MIME_TOO_MANY_PARTS"), names.end());
  // Under the default limits the third part would be scanned; under max_parts 2 not.
  EXPECT_TRUE(cv.symbols.empty());
  Envelope plain;
  plain.txn_id = "P.2";
  EXPECT_EQ(content->check(plain, msg).symbols.size(), 1u);
}

// ---- the shipped rule set ----

TEST(BuiltinRules, LoadWithoutErrorsOrWarningsAllOnHyperscan) {
  ASSERT_FALSE(builtin_rule_files().empty());
  // As the content filter reads them: with its eval tests (60_bayes.cf's check_bayes).
  auto parsed = rules::parse_rule_texts(builtin_rule_files(), content_parse_options());
  ASSERT_TRUE(parsed.ok()) << format_errors(parsed.errors);
  for (const auto& w : parsed.value->warnings) ADD_FAILURE() << w.str();
  auto rs = rules::RuleSet::compile(std::move(*parsed.value));
  ASSERT_TRUE(rs.ok()) << format_errors(rs.errors);
  auto counts = (*rs.value)->counts();
  EXPECT_EQ(counts.by_engine[0], counts.total()) << rules::lint_report(**rs.value);
  std::size_t scored = 0;
  for (const auto& r : (*rs.value)->rules()) {
    if (r.name.starts_with("__")) continue;
    ++scored;
    EXPECT_TRUE(r.has_score) << r.name << " has no score line";
    EXPECT_FALSE(r.describe.empty()) << r.name << " has no describe line";
  }
  EXPECT_GE(scored, 30u);
}

// tests/data/content/EXPECTED: "FILE: RULE ..." (must hit), "FILE: !RULE" (must
// not), "FILE: none" (no positive-scored rule may hit).
TEST(BuiltinRules, SampleMessagesHitWhatEXPECTEDSays) {
  fs::path dir = fs::path(MXGATE_SOURCE_DIR) / "tests/data/content";
  std::ifstream in(dir / "EXPECTED");
  ASSERT_TRUE(in) << dir / "EXPECTED";
  std::vector<ConfigError> errs;
  auto f = make("rules: [builtin]\ncache_dir: ''\n", "builtin.yaml", errs);
  ASSERT_TRUE(f) << format_errors(errs);
  std::size_t checked = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto colon = line.find(':');
    ASSERT_NE(colon, std::string::npos) << line;
    std::string file = line.substr(0, colon);
    std::ifstream m(dir / file, std::ios::binary);
    ASSERT_TRUE(m) << file;
    std::stringstream ss;
    ss << m.rdbuf();
    Envelope env;
    env.mail_from = Mailbox{"sender@example.net", {}};
    Verdict v = f->check(env, crlf(ss.str()));
    std::map<std::string, Symbol> got;
    for (const auto& s : v.symbols) got[s.name] = s;
    std::string all;
    for (const auto& s : v.symbols) all += " " + s.name + "(" + s.where + ")";
    std::istringstream words(line.substr(colon + 1));
    for (std::string w; words >> w;) {
      ++checked;
      if (w == "none") {
        for (const auto& s : v.symbols) EXPECT_LE(s.score, 0.0) << file << ": " << s.name << " hit: " << s.where;
      } else if (w[0] == '!') {
        EXPECT_EQ(got.count(w.substr(1)), 0u) << file << ": " << w.substr(1) << " must not hit:" << all;
      } else {
        EXPECT_EQ(got.count(w), 1u) << file << ": " << w << " must hit; hits:" << all;
      }
    }
  }
  EXPECT_GT(checked, 20u);
}

}  // namespace
}  // namespace mxgate
