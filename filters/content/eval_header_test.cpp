// SpamAssassin's HeaderEval functions (eval_header.cpp): each with a message that
// hits and a close one that does not, as spamassassin -L -t 4.0.1 decides them.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "filters/content/eval_test_util.hpp"

namespace mxgate {
namespace {

using testing::hits;
using testing::run_eval;

std::string with_date(const std::string& date, const std::string& received_date) {
  return "Received: from mx.example.net (mx.example.net [192.0.2.1])\n"
         "\tby mail.example.org with ESMTP id 1234; " +
         received_date +
         "\n"
         "From: a@example.net\nTo: b@example.org\nSubject: hello\nDate: " +
         date + "\n\nbody\n";
}

bool shifted(const std::string& msg, const std::string& min, const std::string& max) {
  return hits("check_for_shifted_date", {min, max}, msg);
}

TEST(EvalHeaderDate, FutureAndPastAgainstReceived) {
  const std::string rcvd = "Mon, 5 Jan 2004 15:00:00 +0000";
  // 10:00 EST is 15:00 UTC: no difference.
  EXPECT_FALSE(shifted(with_date("Mon, 5 Jan 2004 10:00:00 EST", rcvd), "3", "6"));
  EXPECT_TRUE(shifted(with_date("Mon, 5 Jan 2004 10:00:00 EST", rcvd), "-1", "1"));
  // 7 hours ahead: DATE_IN_FUTURE_06_12, not 03_06.
  auto future = with_date("Mon, 5 Jan 2004 22:00:00 +0000", rcvd);
  EXPECT_TRUE(shifted(future, "6", "12"));
  EXPECT_FALSE(shifted(future, "3", "6"));
  EXPECT_EQ(run_eval("check_for_shifted_date", {"6", "12"}, future), "Date is 7.0 hours after the Received time");
  // 5 days behind: DATE_IN_PAST_96_XX.
  auto past = with_date("Wed, 31 Dec 2003 15:00:00 +0000", rcvd);
  EXPECT_TRUE(shifted(past, "undef", "-96"));
  EXPECT_FALSE(shifted(past, "-48", "-24"));
}

TEST(EvalHeaderDate, ClosestReceivedWinsAndBottomEqualOneIsIgnored) {
  // Two hops: the Date is 4 hours after the top one, 1 hour after the lower one.
  const std::string msg =
      "Received: from a by b; Mon, 5 Jan 2004 10:00:00 +0000\n"
      "Received: from c by d; Mon, 5 Jan 2004 13:00:00 +0000\n"
      "Date: Mon, 5 Jan 2004 14:00:00 +0000\nFrom: a@example.net\nTo: b@example.org\n\nx\n";
  EXPECT_TRUE(shifted(msg, "0.5", "1.5"));
  EXPECT_FALSE(shifted(msg, "3", "6"));
  // The bottom hop agreeing exactly with Date is the sender's own stamp: skipped,
  // so the top one (5 hours earlier) decides.
  const std::string own =
      "Received: from a by b; Mon, 5 Jan 2004 10:00:00 +0000\n"
      "Received: from c by d; Mon, 5 Jan 2004 15:00:00 +0000\n"
      "Date: Mon, 5 Jan 2004 15:00:00 +0000\nFrom: a@example.net\nTo: b@example.org\n\nx\n";
  EXPECT_TRUE(shifted(own, "3", "6"));
}

TEST(EvalHeaderDate, NoReceivedDateMeansNoDifferenceOfflineButNowLive) {
  const std::string msg = "Date: Mon, 5 Jan 2004 10:00:00 +0000\nFrom: a@example.net\nTo: b@example.org\n\nx\n";
  EXPECT_FALSE(shifted(msg, "undef", "-96"));  // a stored message: SpamAssassin finds nothing to compare
  Envelope env;
  env.mail_from = Mailbox{"a@example.net", {}};
  env.client.ip = "192.0.2.9";  // a live transaction: a connected client
  // In a transaction the receiving MTA's Received (now) is still to come.
  EXPECT_TRUE(hits("check_for_shifted_date", {"undef", "-96"}, msg, env));
  EXPECT_FALSE(hits("check_for_shifted_date", {"-48", "-24"}, msg, env));
}

TEST(EvalHeaderDate, ToleratesOddFormatsAsSpamAssassinDoes) {
  const std::string rcvd = "Mon, 5 Jan 2004 15:00:00 +0000";
  // Two-digit year, no seconds, named zone.
  EXPECT_TRUE(shifted(with_date("Mon, 5 Jan 04 10:00 EST", rcvd), "-0.1", "0.1"));
  // asctime: SpamAssassin takes the time along with the date and so reads midnight.
  EXPECT_TRUE(shifted(with_date("Mon Jan  5 15:00:00 2004", rcvd), "-15.1", "-14.9"));
  // Out-of-range time parts are pulled back (25:70:80 -> 23:59:59); only the first
  // capitalised word is tried as a zone ("MON" is none: UTC).
  EXPECT_TRUE(shifted(with_date("Mon, 5 Jan 2004 25:70:80 MON EST", rcvd), "8.9", "9.1"));
  // Day 31 of February rolls over to 1 March; day 0 is no date at all.
  EXPECT_TRUE(shifted(with_date("31 Feb 2004 15:00:00 +0000", "Mon, 1 Mar 2004 15:00:00 +0000"), "-0.1", "0.1"));
  EXPECT_TRUE(shifted(with_date("1 Jan 2004 15:00:00 +0000", rcvd), "undef", "-1"));
  EXPECT_FALSE(shifted(with_date("0 Jan 2004 15:00:00 +0000", rcvd), "undef", "-1"));
  // Unknown zone words count as UTC; "-0000" too.
  EXPECT_TRUE(shifted(with_date("Mon, 5 Jan 2004 15:00:00 XYZ", rcvd), "-0.1", "0.1"));
  // A bad argument fails loading.
  const auto& fn = eval_table().at("check_for_shifted_date");
  EXPECT_NE(fn.check_args({"x", "1"}), "");
  EXPECT_NE(fn.check_args({"1"}), "");
  EXPECT_EQ(fn.check_args({"undef", "-96"}), "");
}

TEST(EvalHeaderDate, FetchmailHopsAreSkipped) {
  // The top pair records the download by fetchmail (a day later): not used.
  const std::string msg =
      "Received: from localhost (localhost [127.0.0.1]) by h.example.org; Tue, 6 Jan 2004 15:00:00 +0000\n"
      "Received: from pop.example.net by localhost with POP3 (fetchmail-5.9.0) for u@h; Tue, 6 Jan 2004 "
      "15:00:00 +0000\n"
      "Received: from x by pop.example.net; Mon, 5 Jan 2004 15:00:00 +0000\n"
      "Date: Mon, 5 Jan 2004 15:00:00 +0000\nFrom: a@example.net\nTo: b@example.org\n\nx\n";
  EXPECT_FALSE(shifted(msg, "undef", "-0.1"));
  EXPECT_TRUE(shifted(msg, "-0.1", "0.1"));
}

TEST(EvalHeaderOutlook, MessageIdClockAgainstDate) {
  // Date 2002-09-02 12:00:00 UTC = 1030968000; the token Outlook would write, as
  // SpamAssassin computes it: int(t * 0.0023283064365387 + 27111902.8329849).
  const long long t = 1030968000;
  const long long token = static_cast<long long>(t * 0.0023283064365387 + 27111902.8329849);
  char id[64];
  std::snprintf(id, sizeof id, "<0000%08llx$0a1b2c3d$0a1b2c3d@example.net>", token);
  const std::string base = "From: a@example.net\nTo: b@example.org\nDate: Mon, 02 Sep 2002 12:00:00 +0000\n";
  EXPECT_FALSE(hits("check_outlook_message_id", {}, base + "Message-ID: " + id + "\n\nx\n"));
  std::snprintf(id, sizeof id, "<0000%08llx$0a1b2c3d$0a1b2c3d@example.net>", token + 100000);
  EXPECT_TRUE(hits("check_outlook_message_id", {}, base + "Message-ID: " + id + "\n\nx\n"));
  // Not Outlook's form: never.
  EXPECT_FALSE(hits("check_outlook_message_id", {}, base + "Message-ID: <abc@example.net>\n\nx\n"));
}

TEST(EvalHeaderMissingTo, ToOrApparentlyTo) {
  EXPECT_TRUE(hits("check_for_missing_to_header", {}, "From: a@example.net\nSubject: x\n\nx\n"));
  EXPECT_FALSE(hits("check_for_missing_to_header", {}, "From: a@example.net\nApparently-To: b@example.org\n\nx\n"));
  EXPECT_FALSE(hits("check_for_missing_to_header", {}, "From: a@example.net\nTo: undisclosed-recipients:;\n\nx\n"));
}

TEST(EvalHeaderToInSubject, LocalPartOrAddress) {
  auto msg = [](const std::string& subject) {
    return "From: a@example.net\nTo: Bob <bob@example.org>\nSubject: " + subject + "\n\nx\n";
  };
  EXPECT_TRUE(hits("check_for_to_in_subject", {"user"}, msg("bob, your account")));
  EXPECT_TRUE(hits("check_for_to_in_subject", {"user"}, msg("Re: hello bob")));
  EXPECT_TRUE(hits("check_for_to_in_subject", {"user"}, msg("bob")));
  EXPECT_FALSE(hits("check_for_to_in_subject", {"user"}, msg("special offer for bob")));  // anchored at the start
  EXPECT_FALSE(hits("check_for_to_in_subject", {"user"}, msg("Bob, your account")));  // that one is case-sensitive
  EXPECT_FALSE(hits("check_for_to_in_subject", {"user"}, msg("bobcat pictures")));
  EXPECT_TRUE(hits("check_for_to_in_subject", {"address"}, msg("news for BOB@example.org today")));
  EXPECT_FALSE(hits("check_for_to_in_subject", {"address"}, msg("news for bob today")));
  EXPECT_NE(eval_table().at("check_for_to_in_subject").check_args({"local"}), "");
}

TEST(EvalHeaderEqualFromDomains, SecondLevelDomainsCompared) {
  const std::string from = "From: a@mail.example.net\nTo: b@example.org\n";
  EXPECT_TRUE(hits("check_equal_from_domains", {}, "Return-Path: <bounce@lists.other.org>\n" + from + "\nx\n"));
  EXPECT_FALSE(hits("check_equal_from_domains", {}, "Return-Path: <bounce@smtp.EXAMPLE.net>\n" + from + "\nx\n"));
  // The transaction's MAIL FROM is the envelope sender when there is one.
  Envelope env;
  env.mail_from = Mailbox{"x@other.org", {}};
  env.client.ip = "192.0.2.9";  // a live transaction: a connected client
  EXPECT_TRUE(hits("check_equal_from_domains", {}, "Return-Path: <bounce@example.net>\n" + from + "\nx\n", env));
  // No envelope sender at all: nothing to compare.
  EXPECT_FALSE(hits("check_equal_from_domains", {}, from + "\nx\n"));
  // A Return-Path below a Received was written by an earlier hop: not trusted.
  EXPECT_FALSE(hits("check_equal_from_domains", {},
                    "Received: from a by b; Mon, 5 Jan 2004 10:00:00 +0000\nReturn-Path: <x@other.org>\n" + from +
                        "\nx\n"));
  // Nor is the top one when another Return-Path sits below a Received field (a list
  // archive's copy: SpamAssassin's /^Received:.*?^Return-Path:/ over all fields).
  EXPECT_FALSE(hits("check_equal_from_domains", {},
                    "Return-Path: <x@other.org>\nReceived: from a by b; Mon, 5 Jan 2004 10:00:00 +0000\n"
                    "Return-Path: <y@other.org>\n" + from + "\nx\n"));
}

TEST(EvalHeaderRecipients, SortedAndSimilar) {
  const std::string sorted =
      "From: a@example.net\nTo: aa1@xa.example, aa2@xb.example, aa3@xc.example, aa4@xd.example,\n"
      " aa5@xe.example, aa6@xf.example, aa7@xg.example\n\nx\n";
  EXPECT_TRUE(hits("sorted_recipients", {}, sorted));
  EXPECT_TRUE(hits("similar_recipients", {"0.65", "undef"}, sorted));
  EXPECT_EQ(run_eval("similar_recipients", {"0.65", "undef"}, sorted), "7 recipients, similarity 1.00");
  const std::string unsorted =
      "From: a@example.net\nTo: ag@x1.example, ab@x2.example, ac@x3.example, ad@x4.example,\n"
      " ae@x5.example, af@x6.example, aa@x7.example\n\nx\n";
  EXPECT_FALSE(hits("sorted_recipients", {}, unsorted));
  // Six sorted are too few.
  const std::string six =
      "From: a@example.net\nTo: aa@x1.example, ab@x2.example\nCc: ac@x3.example, ad@x4.example,\n"
      " ae@x5.example, af@x6.example\n\nx\n";
  EXPECT_FALSE(hits("sorted_recipients", {}, six));
  const std::string varied =
      "From: a@example.net\nTo: john@example.org, mary@foo.example, zed@bar.example, kim@qux.example,\n"
      " lee@zap.example\n\nx\n";
  EXPECT_FALSE(hits("similar_recipients", {"0.65", "undef"}, varied));
}

TEST(EvalHeaderIllegalChars, RawEightBitInHeaders) {
  // Latin-1 bytes in a Subject: not UTF-8, so they count.
  EXPECT_TRUE(hits("check_illegal_chars", {"Subject", "0.00", "2"},
                   "From: a@example.net\nSubject: caf\xe9 cr\xe8me\n\nx\n"));
  // One pound sign alone is forgiven, and valid UTF-8 is allowed.
  EXPECT_FALSE(hits("check_illegal_chars", {"Subject", "0.00", "2"},
                    "From: a@example.net\nSubject: only \xa3 5 and \xe9\n\nx\n"));
  EXPECT_FALSE(hits("check_illegal_chars", {"Subject", "0.00", "2"},
                    "From: a@example.net\nSubject: caf\xc3\xa9 cr\xc3\xa8me\n\nx\n"));
  // From needs 20% of its bytes.
  EXPECT_FALSE(hits("check_illegal_chars", {"From", "0.20", "2"},
                    "From: Jos\xe9 Mar\xed" "a Garc\xed" "a Fern\xe1" "ndez <jose@example.net>\n\nx\n"));
  EXPECT_TRUE(hits("check_illegal_chars", {"From", "0.20", "2"}, "From: \xe9\xe9\xe9\xe9 <j@e.n>\n\nx\n"));
  // ALL: the whole header section.
  EXPECT_TRUE(hits("check_illegal_chars", {"ALL", "0.010", "2"}, "From: a@e.n\nX-A: \xe9\xe9\xe9\n\nx\n"));
  EXPECT_FALSE(hits("check_illegal_chars", {"ALL", "0.010", "2"}, "From: a@e.n\nX-A: plain\n\nx\n"));
}

TEST(EvalHeaderCountRange, DistinctCopies) {
  EXPECT_TRUE(hits("check_header_count_range", {"Subject", "2", "999"},
                   "From: a@e.n\nSubject: one\nSubject: two\n\nx\n"));
  EXPECT_FALSE(hits("check_header_count_range", {"Subject", "2", "999"},
                    "From: a@e.n\nSubject: one\nSubject: one\n\nx\n"));
  EXPECT_NE(eval_table().at("check_header_count_range").check_args({"Subject", "x", "1"}), "");
}

TEST(EvalHeaderRatware, NameIdAndTemplates) {
  const std::string id = "Message-ID: <ABCDEFGHIJKLMNOPQRSTUVWXYZAB.bob@example.net>\n";
  EXPECT_TRUE(hits("check_ratware_name_id", {}, id + "From: \"Bob\" <bob@example.net>\n\nx\n"));
  EXPECT_FALSE(hits("check_ratware_name_id", {}, id + "From: \"Bob\" <rob@example.net>\n\nx\n"));
  EXPECT_TRUE(hits("check_unresolved_template", {}, "From: a@e.n\nX-Mailer: %MAILER_NAME\n\nx\n"));
  EXPECT_FALSE(hits("check_unresolved_template", {}, "From: a@e.n\nSubject: 100%OFF\n\nx\n"));
  EXPECT_FALSE(hits("check_unresolved_template", {}, "From: a@e.n\nX-Mailer: 100%\n\nx\n"));
}

TEST(EvalHeaderGated, NoReceivedEzmlmMsnGroups) {
  EXPECT_TRUE(hits("gated_through_received_hdr_remover", {}, "From: a@e.n\n\nx\n"));
  EXPECT_FALSE(hits("gated_through_received_hdr_remover", {},
                    "Received: from a by b; Mon, 5 Jan 2004 10:00:00 +0000\nFrom: a@e.n\n\nx\n"));
  EXPECT_TRUE(hits("gated_through_received_hdr_remover", {},
                   "Mailing-List: contact list-help@example.org; run by ezmlm\n"
                   "Delivered-To: mailing list list@example.org\n"
                   "Received: (qmail 1234 invoked by uid 500); 5 Jan 2004 10:00:00 -0000\n"
                   "From: a@e.n\n\nx\n"));
  // In a transaction the MTA behind us adds a Received field SpamAssassin would see.
  Envelope env;
  env.mail_from = Mailbox{"a@e.n", {}};
  env.client.ip = "192.0.2.9";  // a live transaction: a connected client
  EXPECT_FALSE(hits("gated_through_received_hdr_remover", {}, "From: a@e.n\n\nx\n", env));
  EXPECT_TRUE(hits("check_messageid_not_usable", {}, "From: a@e.n\n\nx\n"));
  EXPECT_TRUE(hits("check_messageid_not_usable", {},
                   "Received: from a by b; Mon, 5 Jan 2004 10:00:00 +0000\n"
                   "List-Unsubscribe: <mailto:leave-list-123@lists.example.org>\nFrom: a@e.n\n\nx\n"));
  EXPECT_FALSE(hits("check_messageid_not_usable", {},
                    "Received: from a by b; Mon, 5 Jan 2004 10:00:00 +0000\n"
                    "List-Unsubscribe: <http://example.org/leave>\nFrom: a@e.n\n\nx\n"));
}

TEST(EvalHeaderSubjectCaps, CapitalsOnly) {
  EXPECT_TRUE(hits("subject_is_all_caps", {}, "From: a@e.n\nSubject: Re: FREE MONEY NOW\n\nx\n"));
  EXPECT_FALSE(hits("subject_is_all_caps", {}, "From: a@e.n\nSubject: FREE money NOW\n\nx\n"));
  EXPECT_FALSE(hits("subject_is_all_caps", {}, "From: a@e.n\nSubject: FREEMONEYNOW\n\nx\n"));  // one word
  EXPECT_FALSE(hits("subject_is_all_caps", {}, "From: a@e.n\nSubject: =?koi8-r?B?8NLJ18XU?= HELLO THERE\n\nx\n"));
}

TEST(EvalHeaderForged, HotmailGmailYahoo) {
  const std::string rcvd = "Received: from mx.example.net by mail.example.org; Mon, 5 Jan 2004 10:00:00 +0000\n";
  EXPECT_TRUE(hits("check_for_no_hotmail_received_headers", {}, rcvd + "From: a@hotmail.com\n\nx\n"));
  EXPECT_FALSE(hits("check_for_no_hotmail_received_headers", {},
                    "Received: from hotmail.com (f135.law8.hotmail.com [216.33.241.135]) by mail.example.org; "
                    "Mon, 5 Jan 2004 10:00:00 +0000\nX-Originating-IP: [192.0.2.7]\nFrom: a@hotmail.com\n\nx\n"));
  EXPECT_TRUE(hits("check_for_forged_hotmail_received_headers", {},
                   "Received: from hotmail.com (unknown [192.0.2.9]) by mail.example.org; Mon, 5 Jan 2004 "
                   "10:00:00 +0000\nFrom: a@example.net\n\nx\n"));
  EXPECT_FALSE(hits("check_for_forged_hotmail_received_headers", {}, rcvd + "From: a@hotmail.com\n\nx\n"));
  {
    // A client greeting as hotmail.com, seen in the receiving MTA's Received field.
    Envelope live;
    live.mail_from = Mailbox{"a@example.net", {}};
    live.client.helo = "hotmail.com";
    live.client.ip = "192.0.2.9";
    EXPECT_TRUE(hits("check_for_forged_hotmail_received_headers", {}, "From: a@example.net\n\nx\n", live));
    live.client.helo = "mail.example.net";
    EXPECT_FALSE(hits("check_for_forged_hotmail_received_headers", {}, "From: a@example.net\n\nx\n", live));
  }
  EXPECT_TRUE(hits("check_for_forged_gmail_received_headers", {}, rcvd + "From: a@gmail.com\n\nx\n"));
  EXPECT_FALSE(hits("check_for_forged_gmail_received_headers", {},
                    rcvd + "X-Received: by 10.1.2.3 with SMTP id abc;\nFrom: a@gmail.com\n\nx\n"));
  EXPECT_FALSE(hits("check_for_forged_gmail_received_headers", {}, rcvd + "From: a@example.net\n\nx\n"));
  EXPECT_TRUE(hits("check_for_forged_yahoo_received_headers", {},
                   "Received: from mx1.mail.yahoo.com (PROXY [192.0.2.7]) by mail.example.org; Mon, 5 Jan 2004 "
                   "10:00:00 +0000\nFrom: a@yahoo.com\n\nx\n"));
  EXPECT_FALSE(hits("check_for_forged_yahoo_received_headers", {},
                    "Received: from [192.0.2.7] by web1.mail.yahoo.com via HTTP; Mon, 5 Jan 2004 10:00:00 +0000\n"
                    "From: a@yahoo.com\n\nx\n"));
  // In a transaction, a client whose verified name is Yahoo's is exempt.
  Envelope env;
  env.mail_from = Mailbox{"a@yahoo.com", {}};
  env.client.ip = "192.0.2.9";  // a live transaction: a connected client
  env.client.name = "mta5.mail.yahoo.com";
  EXPECT_FALSE(hits("check_for_forged_yahoo_received_headers", {}, rcvd + "From: a@yahoo.com\n\nx\n", env));
  env.client.name = "unknown";
  EXPECT_TRUE(hits("check_for_forged_yahoo_received_headers", {}, rcvd + "From: a@yahoo.com\n\nx\n", env));
}

TEST(EvalHeaderFaraway, DefaultLocalesNeverHit) {
  EXPECT_FALSE(hits("check_for_faraway_charset_in_headers", {},
                    "From: a@e.n\nSubject: =?koi8-r?B?8NLJ18XU?=\n\nx\n"));
}

// Every call of these functions in SpamAssassin 4.0.1's stock rules loads as a
// supported eval rule with valid arguments.
TEST(EvalHeaderRules, StockCallsLoad) {
  const char* cf =
      "header   DATE_IN_FUTURE_Q_PLUS  eval:check_for_shifted_date('2920', 'undef')\n"
      "header   HEADER_FROM_DIFFERENT_DOMAINS eval:check_equal_from_domains()\n"
      "header   T_DATE_IN_FUTURE_96_Q    eval:check_for_shifted_date('96', '2920')\n"
      "header CHARSET_FARAWAY_HEADER eval:check_for_faraway_charset_in_headers()\n"
      "header DATE_IN_FUTURE_03_06 eval:check_for_shifted_date('3', '6')\n"
      "header DATE_IN_FUTURE_06_12 eval:check_for_shifted_date('6', '12')\n"
      "header DATE_IN_FUTURE_12_24 eval:check_for_shifted_date('12', '24')\n"
      "header DATE_IN_FUTURE_24_48 eval:check_for_shifted_date('24', '48')\n"
      "header DATE_IN_FUTURE_48_96 eval:check_for_shifted_date('48', '96')\n"
      "header DATE_IN_PAST_03_06 eval:check_for_shifted_date('-6', '-3')\n"
      "header DATE_IN_PAST_06_12 eval:check_for_shifted_date('-12', '-6')\n"
      "header DATE_IN_PAST_12_24 eval:check_for_shifted_date('-24', '-12')\n"
      "header DATE_IN_PAST_24_48 eval:check_for_shifted_date('-48', '-24')\n"
      "header DATE_IN_PAST_96_XX eval:check_for_shifted_date('undef', '-96')\n"
      "header FORGED_GMAIL_RCVD eval:check_for_forged_gmail_received_headers()\n"
      "header FORGED_HOTMAIL_RCVD2 eval:check_for_no_hotmail_received_headers()\n"
      "header FORGED_YAHOO_RCVD eval:check_for_forged_yahoo_received_headers()\n"
      "header FROM_ILLEGAL_CHARS eval:check_illegal_chars('From','0.20','2')\n"
      "header HEADER_COUNT_CTYPE eval:check_header_count_range('Content-Type','2','999')\n"
      "header HEADER_COUNT_SUBJECT     eval:check_header_count_range('Subject','2','999')\n"
      "header LOCALPART_IN_SUBJECT eval:check_for_to_in_subject('user')\n"
      "header MISSING_HEADERS  eval:check_for_missing_to_header()\n"
      "header MSGID_OUTLOOK_INVALID eval:check_outlook_message_id()\n"
      "header SORTED_RECIPS  eval:sorted_recipients()\n"
      "header SUBJ_ALL_CAPS  eval:subject_is_all_caps()\n"
      "header SUSPICIOUS_RECIPS eval:similar_recipients('0.65','undef')\n"
      "header UNRESOLVED_TEMPLATE eval:check_unresolved_template()\n"
      "header __ENV_AND_HDR_FROM_MATCH eval:check_for_matching_env_and_hdr_from()\n"
      "header __FORGED_AOL_RCVD         eval:check_for_fake_aol_relay_in_rcvd()\n"
      "header __FORGED_EUDORAMAIL_RCVD eval:check_for_forged_eudoramail_received_headers()\n"
      "header __FORGED_HOTMAIL_RCVD eval:check_for_forged_hotmail_received_headers()\n"
      "header __FORGED_JUNO_RCVD eval:check_for_forged_juno_received_headers()\n"
      "header __GATED_THROUGH_RCVD_REMOVER  eval:gated_through_received_hdr_remover()\n"
      "header __HEAD_ILLEGAL_CHARS eval:check_illegal_chars('ALL','0.010','2')\n"
      "header __RATWARE_NAME_ID eval:check_ratware_name_id()\n"
      "header __SUBJ_ILLEGAL_CHARS eval:check_illegal_chars('Subject','0.00','2')\n";
  auto parsed = rules::parse_rule_text(cf, "stock.cf", content_parse_options());
  ASSERT_TRUE(parsed.ok()) << format_errors(parsed.errors);
  EXPECT_TRUE(parsed.value->unsupported_rules.empty());
  EXPECT_TRUE(check_eval_args(*parsed.value).empty());
}

// Hostile input: nothing throws, nothing hangs.
TEST(EvalHeaderRobust, HostileHeaders) {
  std::string big = "From: \"" + std::string(100000, 'a') + "\" <" + std::string(5000, 'b') + "@e.n>\n";
  big += "To: " + std::string(50000, '%') + "\nSubject: " + std::string(100000, '(') + "\n";
  big += "Date: " + std::string(20000, '1') + " Jan 99999999999999999999 99:99:99 +9999\n";
  big += "Received: " + std::string(60000, ' ') + "x\nMessage-ID: <" + std::string(28, 'A') + "." +
         std::string(5000, '>') + "\n\nx\n";
  const std::vector<std::pair<std::string, std::vector<std::string>>> calls = {
      {"check_for_shifted_date", {"undef", "undef"}},   {"similar_recipients", {"undef", "undef"}},
      {"check_illegal_chars", {"Subject", "0", "1"}},    {"check_illegal_chars", {"ALL", "0", "1"}},
      {"check_header_count_range", {"To", "0", "9"}},   {"check_for_to_in_subject", {"user"}},
      {"check_for_to_in_subject", {"address"}},          {"check_outlook_message_id", {}},
      {"check_ratware_name_id", {}},                      {"check_unresolved_template", {}},
      {"subject_is_all_caps", {}},                        {"check_for_forged_juno_received_headers", {}},
      {"check_for_no_hotmail_received_headers", {}},    {"check_equal_from_domains", {}},
      {"sorted_recipients", {}},                          {"check_messageid_not_usable", {}}};
  for (const auto& [name, args] : calls) EXPECT_NO_THROW(run_eval(name, args, big)) << name;
}

// Agreement with SpamAssassin on a corpus, when its results are at hand:
// MXGATE_HEADER_EVAL_CORPUS=<file> with lines "<path>\t...\t<RULE,RULE,...>" as
// written by a SpamAssassin run with a test rule per function (see the report).
TEST(EvalHeaderCorpus, AgreesWithSpamAssassin) {
  const char* list = std::getenv("MXGATE_HEADER_EVAL_CORPUS");
  const char* dir = std::getenv("MXGATE_HEADER_EVAL_DIR");
  if (!list || !dir) GTEST_SKIP() << "set MXGATE_HEADER_EVAL_CORPUS and MXGATE_HEADER_EVAL_DIR";
  const std::vector<std::tuple<std::string, std::string, std::vector<std::string>>> rules = {
      {"DATE_IN_PAST_03_06", "check_for_shifted_date", {"-6", "-3"}},
      {"DATE_IN_PAST_06_12", "check_for_shifted_date", {"-12", "-6"}},
      {"DATE_IN_PAST_12_24", "check_for_shifted_date", {"-24", "-12"}},
      {"DATE_IN_PAST_24_48", "check_for_shifted_date", {"-48", "-24"}},
      {"DATE_IN_PAST_96_XX", "check_for_shifted_date", {"undef", "-96"}},
      {"DATE_IN_FUTURE_03_06", "check_for_shifted_date", {"3", "6"}},
      {"DATE_IN_FUTURE_06_12", "check_for_shifted_date", {"6", "12"}},
      {"DATE_IN_FUTURE_12_24", "check_for_shifted_date", {"12", "24"}},
      {"DATE_IN_FUTURE_24_48", "check_for_shifted_date", {"24", "48"}},
      {"DATE_IN_FUTURE_48_96", "check_for_shifted_date", {"48", "96"}},
      {"ZZ_GATED", "gated_through_received_hdr_remover", {}},
      {"ZZ_FORGED_HOTMAIL", "check_for_forged_hotmail_received_headers", {}},
      {"ZZ_NO_HOTMAIL", "check_for_no_hotmail_received_headers", {}},
      {"ZZ_MSGID_NOT_USABLE", "check_messageid_not_usable", {}},
      {"ZZ_SUBJ_ILLEGAL", "check_illegal_chars", {"Subject", "0.00", "2"}},
      {"ZZ_SUBJ_ILLEGAL1", "check_illegal_chars", {"Subject", "0.00", "1"}},
      {"ZZ_HEAD_ILLEGAL", "check_illegal_chars", {"ALL", "0.010", "2"}},
      {"ZZ_HEAD_ILLEGAL1", "check_illegal_chars", {"ALL", "0.000", "1"}},
      {"ZZ_FROM_ILLEGAL", "check_illegal_chars", {"From", "0.20", "2"}},
      {"ZZ_RATWARE_NAME_ID", "check_ratware_name_id", {}},
      {"ZZ_AOL", "check_for_fake_aol_relay_in_rcvd", {}},
      {"ZZ_EUDORA", "check_for_forged_eudoramail_received_headers", {}},
      {"ZZ_JUNO", "check_for_forged_juno_received_headers", {}},
      {"ZZ_GMAIL", "check_for_forged_gmail_received_headers", {}},
      {"ZZ_YAHOO", "check_for_forged_yahoo_received_headers", {}},
      {"ZZ_MSN", "check_for_msn_groups_headers", {}},
      {"ZZ_ENV_HDR_FROM", "check_for_matching_env_and_hdr_from", {}},
      {"ZZ_TO_IN_SUBJ_ADDR", "check_for_to_in_subject", {"address"}},
      {"ZZ_TO_IN_SUBJ_USER", "check_for_to_in_subject", {"user"}},
      {"ZZ_SIM_03", "similar_recipients", {"0.3", "undef"}},
      {"ZZ_SIM_65", "similar_recipients", {"0.65", "undef"}},
      {"ZZ_SORTED", "sorted_recipients", {}},
      {"ZZ_MISSING_TO", "check_for_missing_to_header", {}},
      {"ZZ_OUTLOOK", "check_outlook_message_id", {}},
      {"ZZ_CNT_RCVD", "check_header_count_range", {"Received", "3", "999"}},
      {"ZZ_CNT_CTYPE", "check_header_count_range", {"Content-Type", "2", "999"}},
      {"ZZ_UNRESOLVED", "check_unresolved_template", {}},
      {"ZZ_EQUAL_FROM", "check_equal_from_domains", {}},
      {"ZZ_CAPS", "subject_is_all_caps", {}},
      {"ZZ_FARAWAY", "check_for_faraway_charset_in_headers", {}},
  };
  std::ifstream in(list);
  std::string line;
  std::map<std::string, std::array<int, 4>> tally;  // both, neither, only SA, only us
  std::size_t messages = 0;
  while (std::getline(in, line)) {
    std::size_t tab = line.find('\t');
    std::string path = line.substr(0, tab);
    std::string hit_list = line.substr(line.rfind('\t') + 1);
    std::ifstream f(std::string(dir) + "/" + path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string text(without_mbox_separator(ss.str()));
    ++messages;
    for (const auto& [rule, fn, args] : rules) {
      const bool sa = ("," + hit_list + ",").find("," + rule + ",") != std::string::npos;
      const bool us = hits(fn, args, text);
      tally[rule][sa && us ? 0 : !sa && !us ? 1 : sa ? 2 : 3]++;
      if (sa != us) std::printf("MISMATCH %s %s sa=%d us=%d\n", rule.c_str(), path.c_str(), sa, us);
    }
    // The exact values behind the rules: SpamAssassin's date_diff (seconds) and
    // recipient similarity, when the line carries them ("dd=-375", "sim=0.5").
    auto field = [&](const std::string& key) -> std::optional<double> {
      std::size_t p = line.find("\t" + key + "=");
      if (p == std::string::npos) return std::nullopt;
      return eval_number(line.substr(p + key.size() + 2, line.find('\t', p + 1) - p - key.size() - 2));
    };
    auto exact = [&](const std::string& name, const std::string& fn, double v, double eps, double scale) {
      char lo[64], hi[64];
      std::snprintf(lo, sizeof lo, "%.9f", (v - eps) / scale);
      std::snprintf(hi, sizeof hi, "%.9f", (v + eps) / scale);
      const bool same = hits(fn, {lo, hi}, text);
      tally[name][same ? 0 : 2]++;
      if (!same) std::printf("MISMATCH %s %s sa=%.6f\n", name.c_str(), path.c_str(), v);
    };
    if (auto dd = field("dd")) exact("=date_diff", "check_for_shifted_date", *dd, 0.5, 3600.0);
    if (auto sim = field("sim")) exact("=similarity", "similar_recipients", *sim, 1e-6, 1.0);
  }
  for (const auto& [rule, t] : tally)
    std::printf("%-22s both=%d neither=%d only_sa=%d only_us=%d\n", rule.c_str(), t[0], t[1], t[2], t[3]);
  std::printf("%zu messages\n", messages);
}

// Util::parse_rfc822_date's answers for odd Date values, when at hand:
// MXGATE_HEADER_EVAL_DATES=<file> with lines "<epoch seconds or u>\t<date>" as
// printed by Perl. The Received time is the epoch, so the difference is the date.
TEST(EvalHeaderCorpus, DatesAgreeWithSpamAssassin) {
  const char* list = std::getenv("MXGATE_HEADER_EVAL_DATES");
  if (!list) GTEST_SKIP() << "set MXGATE_HEADER_EVAL_DATES";
  std::ifstream in(list);
  std::string line;
  std::size_t same = 0, total = 0;
  while (std::getline(in, line)) {
    std::size_t tab = line.find('\t');
    const std::string want = line.substr(0, tab), date = line.substr(tab + 1);
    const double v = want == "u" ? 0 : std::stod(want);
    char lo[64], hi[64];
    std::snprintf(lo, sizeof lo, "%.9f", (v - 0.5) / 3600.0);
    std::snprintf(hi, sizeof hi, "%.9f", (v + 0.5) / 3600.0);
    const std::string msg = "Received: from a by b; Thu, 1 Jan 1970 00:00:00 +0000\nDate: " + date +
                            "\nFrom: a@example.net\nTo: b@example.org\n\nx\n";
    ++total;
    if (hits("check_for_shifted_date", {lo, hi}, msg)) ++same;
    else std::printf("MISMATCH date [%s] perl=%s\n", date.c_str(), want.c_str());
  }
  std::printf("dates: %zu of %zu agree\n", same, total);
  EXPECT_EQ(same, total);
}

}  // namespace
}  // namespace mxgate
