// SpamAssassin's welcome/block lists (eval_wlbl.cpp): the settings as the rule files
// give them, and each list function on a message that hits and a close one that
// does not (behaviour checked against spamassassin 4.0.1 -L -t --cf=...).
#include <gtest/gtest.h>

#include "filters/content/eval_test_util.hpp"
#include "filters/filter_state.hpp"

namespace mxgate {
namespace {

using testing::hits;
using testing::run_eval;


std::vector<ConfigError> setting_errors(const std::string& cf) {
  auto parsed = rules::parse_rule_text(cf, "local.cf", content_parse_options());
  EXPECT_TRUE(parsed.ok()) << format_errors(parsed.errors);
  return eval_settings(parsed.value->settings).errors;
}

std::string msg(const std::string& headers, const std::string& body = "hello\n") {
  return headers + "\n" + body;
}

// One untrusted relay (a public address: SpamAssassin's inference stops trust there).
std::string relayed(const std::string& rdns, const std::string& ip, const std::string& headers) {
  return "Received: from " + rdns + " (" + rdns + " [" + ip +
         "]) by mx.our.net (Postfix) with ESMTP id 4Q2xAB for <me@our.net>; Mon, 7 Dec 2026 10:00:00 +0000\n" +
         headers;
}

TEST(EvalWlblSettings, ParseErrorsNameFileLineAndKey) {
  auto errs = setting_errors(
      "welcomelist_from *@example.com\n"
      "welcomelist_from_rcvd joe@example.com\n"
      "enlist_addrlist BANKS *@bank.example\n"
      "util_rb_2tld com\n"
      "welcomelist_from_dkim a@b.example c.example d.example\n"
      "dkim_minimum_key_bits lots\n"
      "enlist_uri_host example.com\n");
  ASSERT_EQ(errs.size(), 6u) << format_errors(errs);
  EXPECT_EQ(errs[0].file, "local.cf");
  EXPECT_EQ(errs[0].line, 2);
  EXPECT_EQ(errs[0].key, "welcomelist_from_rcvd");
  EXPECT_EQ(errs[1].line, 3);
  EXPECT_EQ(errs[1].key, "enlist_addrlist");
  EXPECT_EQ(errs[2].key, "util_rb_2tld");
  EXPECT_EQ(errs[3].key, "welcomelist_from_dkim");
  EXPECT_EQ(errs[4].key, "dkim_minimum_key_bits");
  EXPECT_EQ(errs[5].line, 7);
  EXPECT_EQ(errs[5].key, "enlist_uri_host");
}

TEST(EvalWlblSettings, StockRulesLoadWithoutErrors) {
  // Every list setting of the stock files (60_welcomelist*.cf, 20_aux_tlds.cf,
  // enlist_addrlist lines) parses.
  auto parsed = rules::parse_rule_text(
      "def_welcomelist_auth *@*.paypal.com\n"
      "def_welcomelist_from_dkim  *@*.ebay.com\t\tebay.com\n"
      "def_welcomelist_from_spf *@example.com\n"
      "enlist_addrlist (SUSP_NTLD) *@*.icu\n"
      "util_rb_2tld co.uk com.au\n"
      "util_rb_3tld demon.co.uk\n",
      "60.cf", content_parse_options());
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(eval_settings(parsed.value->settings).errors.empty());
}

TEST(EvalWlbl, WelcomelistFromGlobCaseInsensitive) {
  auto s = testing::settings_from("welcomelist_from *@Example.COM j?e@other.example\n");
  EXPECT_TRUE(hits("check_from_in_welcomelist", {}, msg("From: Joe <JOE@example.com>\n"), {}, s));
  EXPECT_TRUE(hits("check_from_in_welcomelist", {}, msg("From: joe@other.example\n"), {}, s));
  EXPECT_FALSE(hits("check_from_in_welcomelist", {}, msg("From: jooe@other.example\n"), {}, s));
  EXPECT_FALSE(hits("check_from_in_welcomelist", {}, msg("From: joe@example.com.evil.example\n"), {}, s));
  // The display name is not an address.
  EXPECT_FALSE(hits("check_from_in_welcomelist", {}, msg("From: \"x@example.com\" <joe@evil.example>\n"), {}, s));
  // Other From-like fields count (Envelope-Sender, X-Envelope-From, Return-Path as envelope sender).
  EXPECT_TRUE(hits("check_from_in_welcomelist", {}, msg("From: a@evil.example\nX-Envelope-From: b@example.com\n"), {}, s));
  // Resent-From, when present, replaces them all.
  EXPECT_FALSE(hits("check_from_in_welcomelist", {},
                    msg("Resent-From: a@evil.example\nFrom: b@example.com\n"), {}, s));
  // No settings: nothing is listed.
  EXPECT_FALSE(hits("check_from_in_welcomelist", {}, msg("From: joe@example.com\n")));
}

TEST(EvalWlbl, UnlistRemovesOnlyTheSameEntryListedBefore) {
  auto s = testing::settings_from(
      "whitelist_from *@example.com joe@example.net\n"
      "unwelcomelist_from JOE@example.net\n"
      "unwelcomelist_from sue@example.com\n");
  EXPECT_FALSE(hits("check_from_in_welcomelist", {}, msg("From: joe@example.net\n"), {}, s));
  // The wildcard entry stays: sue@ was never listed as such.
  EXPECT_TRUE(hits("check_from_in_welcomelist", {}, msg("From: sue@example.com\n"), {}, s));
}

TEST(EvalWlbl, BlocklistFromAndTo) {
  auto s = testing::settings_from(
      "blacklist_from *@spam.example\n"
      "blocklist_to boss@our.example\n"
      "unblocklist_from nobody@example\n");
  EXPECT_TRUE(hits("check_from_in_blocklist", {}, msg("From: x@spam.example\n"), {}, s));
  EXPECT_TRUE(hits("check_from_in_blacklist", {}, msg("From: x@spam.example\n"), {}, s));
  EXPECT_FALSE(hits("check_from_in_blocklist", {}, msg("From: x@sub.spam.example\n"), {}, s));
  EXPECT_TRUE(hits("check_to_in_blocklist", {}, msg("To: a@b.example\nCc: Boss <boss@our.example>\n"), {}, s));
  EXPECT_FALSE(hits("check_to_in_blocklist", {}, msg("To: bossy@our.example\n"), {}, s));
}

TEST(EvalWlbl, ToListsReadReceivedForAndToLikeFields) {
  auto s = testing::settings_from(
      "welcomelist_to me@our.net\n"
      "more_spam_to *@more.example\n"
      "all_spam_to abuse@*\n");
  // The newest Received fields' "for <rcpt>;" clause.
  EXPECT_TRUE(hits("check_to_in_welcomelist", {}, msg(relayed("a.example", "203.0.113.5", "To: x@y.example\n")), {}, s));
  EXPECT_FALSE(hits("check_to_in_welcomelist", {}, msg("To: x@y.example\n"), {}, s));
  EXPECT_TRUE(hits("check_to_in_more_spam", {}, msg("X-Original-To: q@more.example\n"), {}, s));
  EXPECT_FALSE(hits("check_to_in_more_spam", {}, msg("To: q@more.example.net\n"), {}, s));
  EXPECT_TRUE(hits("check_to_in_all_spam", {}, msg("Delivered-To: abuse@our.net\n"), {}, s));
  EXPECT_FALSE(hits("check_to_in_all_spam", {}, msg("Delivered-To: noabuse@our.net\n"), {}, s));
  // A live transaction: the RCPT TO addresses count too.
  Envelope env;
  env.client.ip = "203.0.113.9";
  env.rcpts.push_back(Mailbox{"me@our.net", {}});
  EXPECT_TRUE(hits("check_to_in_welcomelist", {}, msg("To: list@lists.example\n"), env, s));
}

TEST(EvalWlbl, NamedListsFromReplyToAndTo) {
  auto s = testing::settings_from(
      "enlist_addrlist (BANKS) *@hsbc.com *@*.hsbc.com\n"
      "enlist_addrlist (SUSP_NTLD) *@*.icu\n");
  EXPECT_TRUE(hits("check_from_in_list", {"BANKS"}, msg("From: Service <Service@HSBC.com>\n"), {}, s));
  EXPECT_TRUE(hits("check_from_in_list", {"BANKS"}, msg("From: service@mail.hsbc.com\n"), {}, s));
  EXPECT_FALSE(hits("check_from_in_list", {"BANKS"}, msg("From: service@hsbc.com.example\n"), {}, s));
  EXPECT_FALSE(hits("check_from_in_list", {"BANKS"}, msg("From: service@myhsbc.com\n"), {}, s));
  EXPECT_FALSE(hits("check_from_in_list", {"NOSUCH"}, msg("From: service@hsbc.com\n"), {}, s));
  // *@*.icu needs a label before .icu.
  EXPECT_TRUE(hits("check_replyto_in_list", {"SUSP_NTLD"}, msg("From: a@b.example\nReply-To: x@win.icu\n"), {}, s));
  EXPECT_FALSE(hits("check_replyto_in_list", {"SUSP_NTLD"}, msg("From: a@win.icu\nReply-To: x@b.example\n"), {}, s));
  EXPECT_FALSE(hits("check_replyto_in_list", {"SUSP_NTLD"}, msg("From: a@win.icu\n"), {}, s));
  EXPECT_TRUE(hits("check_to_in_list", {"BANKS"}, msg("To: a@hsbc.com\n"), {}, s));
  EXPECT_FALSE(hits("check_to_in_list", {"BANKS"}, msg("To: a@hsbc.co\n"), {}, s));
  // The standard lists are named lists too.
  auto w = testing::settings_from("welcomelist_from a@b.example\n");
  EXPECT_TRUE(hits("check_from_in_list", {"welcomelist_from"}, msg("From: a@b.example\n"), {}, w));
  // A missing list name is an argument error.
  EXPECT_NE(eval_table().at("check_from_in_list").check_args({}), "");
}

TEST(EvalWlbl, WelcomelistFromRcvdByNameAndAddress) {
  auto s = testing::settings_from(
      "welcomelist_from_rcvd *@example.com example.com\n"
      "welcomelist_from_rcvd joe@example.org [203.0.113.0/24]\n"
      "welcomelist_from_rcvd sue@example.org [198.51]\n"
      "welcomelist_from_rcvd bob@example.org [192.0.2.7]\n");
  auto m = [](const std::string& rdns, const std::string& ip, const std::string& from) {
    return msg(relayed(rdns, ip, "From: " + from + "\n"));
  };
  EXPECT_TRUE(hits("check_from_in_welcomelist", {}, m("mail.example.com", "192.0.2.1", "a@example.com"), {}, s));
  EXPECT_TRUE(hits("check_from_in_welcomelist", {}, m("Example.COM", "192.0.2.1", "a@example.com"), {}, s));
  // The name must end at a label boundary.
  EXPECT_FALSE(hits("check_from_in_welcomelist", {}, m("mail.badexample.com", "192.0.2.1", "a@example.com"), {}, s));
  EXPECT_TRUE(hits("check_forged_in_welcomelist", {}, m("mail.badexample.com", "192.0.2.1", "a@example.com"), {}, s));
  EXPECT_FALSE(hits("check_forged_in_welcomelist", {}, m("mail.example.com", "192.0.2.1", "a@example.com"), {}, s));
  EXPECT_TRUE(hits("check_from_in_welcomelist", {}, m("x.example.net", "203.0.113.77", "joe@example.org"), {}, s));
  EXPECT_FALSE(hits("check_from_in_welcomelist", {}, m("x.example.net", "203.0.114.77", "joe@example.org"), {}, s));
  EXPECT_TRUE(hits("check_from_in_welcomelist", {}, m("x.example.net", "198.51.100.1", "sue@example.org"), {}, s));
  EXPECT_FALSE(hits("check_from_in_welcomelist", {}, m("x.example.net", "198.5.100.1", "sue@example.org"), {}, s));
  EXPECT_TRUE(hits("check_from_in_welcomelist", {}, m("x.example.net", "192.0.2.7", "bob@example.org"), {}, s));
  EXPECT_FALSE(hits("check_from_in_welcomelist", {}, m("x.example.net", "192.0.2.70", "bob@example.org"), {}, s));
  // No relays at all: neither welcomed nor forged.
  EXPECT_FALSE(hits("check_from_in_welcomelist", {}, msg("From: a@example.com\n"), {}, s));
  EXPECT_FALSE(hits("check_forged_in_welcomelist", {}, msg("From: a@example.com\n"), {}, s));
  // welcomelist_allows_relays excuses the other relay.
  auto allow = testing::settings_from(
      "welcomelist_from_rcvd *@example.com example.com\n"
      "welcomelist_allows_relays *@example.com\n");
  EXPECT_FALSE(
      hits("check_forged_in_welcomelist", {}, m("mail.other.net", "192.0.2.1", "a@example.com"), {}, allow));
}

TEST(EvalWlbl, DefaultWelcomelistFromRcvd) {
  auto s = testing::settings_from(
      "def_welcomelist_from_rcvd *@example.com example.com\n"
      "def_welcomelist_from_rcvd *@gone.example gone.example\n"
      "unwelcomelist_from_rcvd *@gone.example\n");
  auto m = [](const std::string& rdns, const std::string& from) {
    return msg(relayed(rdns, "192.0.2.1", "From: " + from + "\n"));
  };
  EXPECT_TRUE(hits("check_from_in_default_welcomelist", {}, m("out.example.com", "a@example.com"), {}, s));
  EXPECT_FALSE(hits("check_from_in_welcomelist", {}, m("out.example.com", "a@example.com"), {}, s));
  EXPECT_FALSE(hits("check_from_in_default_welcomelist", {}, m("out.spoof.net", "a@example.com"), {}, s));
  EXPECT_TRUE(hits("check_forged_in_default_welcomelist", {}, m("out.spoof.net", "a@example.com"), {}, s));
  EXPECT_FALSE(hits("check_from_in_default_welcomelist", {}, m("mx.gone.example", "a@gone.example"), {}, s));
  // Listed by the user too: the default one is then not "forged".
  auto both = testing::settings_from(
      "def_welcomelist_from_rcvd *@example.com example.com\n"
      "welcomelist_from *@example.com\n");
  EXPECT_FALSE(hits("check_forged_in_default_welcomelist", {}, m("out.spoof.net", "a@example.com"), {}, both));
}

TEST(EvalWlbl, MailfromMatchesRcvdComparesRegistrableDomains) {
  auto s = testing::settings_from("util_rb_2tld co.uk\n");
  auto m = [](const std::string& rdns, const std::string& rp) {
    // Return-Path above every Received field: the envelope sender as delivered.
    return msg("Return-Path: <" + rp + ">\n" + relayed(rdns, "192.0.2.1", "From: x@y.example\n"));
  };
  EXPECT_TRUE(hits("check_mailfrom_matches_rcvd", {}, m("mail.example.com", "bounce@lists.example.com"), {}, s));
  EXPECT_FALSE(hits("check_mailfrom_matches_rcvd", {}, m("mail.example.net", "bounce@lists.example.com"), {}, s));
  EXPECT_TRUE(hits("check_mailfrom_matches_rcvd", {}, m("mx.foo.co.uk", "a@news.foo.co.uk"), {}, s));
  EXPECT_FALSE(hits("check_mailfrom_matches_rcvd", {}, m("mx.bar.co.uk", "a@news.foo.co.uk"), {}, s));
  // Without the 2tld list, co.uk is the "domain" of both.
  EXPECT_TRUE(hits("check_mailfrom_matches_rcvd", {}, m("mx.bar.co.uk", "a@news.foo.co.uk")));
  // No rdns, no sender, or a sender domain without a dot: no hit.
  EXPECT_FALSE(hits("check_mailfrom_matches_rcvd", {}, msg("Return-Path: <a@example.com>\n"), {}, s));
  EXPECT_FALSE(hits("check_mailfrom_matches_rcvd", {}, m("mail.example.com", "a@localhost"), {}, s));
  EXPECT_FALSE(hits("check_mailfrom_matches_rcvd", {},
                    msg("Return-Path: <a@example.com>\nReceived: from x (unknown [192.0.2.1]) by mx.our.net with "
                        "SMTP; Mon, 7 Dec 2026 10:00:00 +0000\n"),
                    {}, s));
}

Envelope with_auth() {
  Envelope env;
  env.state = std::make_shared<FilterState>();
  return env;
}

TEST(EvalWlbl, SpfWelcomelistNeedsPassForTheListedSender) {
  auto s = testing::settings_from(
      "welcomelist_auth *@example.com\n"
      "def_welcomelist_from_spf *@example.org\n");
  Envelope env = with_auth();
  SpfOutcome o;
  o.result = AuthResult::Pass;
  o.identity = "mailfrom";
  o.sender = "Bounce@Example.com";
  env.state->auth.spf = o;
  const std::string m = msg("From: a@b.example\n");
  EXPECT_TRUE(hits("check_for_spf_welcomelist_from", {}, m, env, s));
  EXPECT_FALSE(hits("check_for_def_spf_welcomelist_from", {}, m, env, s));
  env.state->auth.spf->sender = "bounce@example.org";
  EXPECT_FALSE(hits("check_for_spf_welcomelist_from", {}, m, env, s));
  EXPECT_TRUE(hits("check_for_def_spf_welcomelist_from", {}, m, env, s));
  env.state->auth.spf->result = AuthResult::SoftFail;
  EXPECT_FALSE(hits("check_for_def_spf_welcomelist_from", {}, m, env, s));
  // No SPF result (the spf filter did not run): no hit.
  EXPECT_FALSE(hits("check_for_spf_welcomelist_from", {}, m, {}, s));
}

TEST(EvalWlbl, DkimWelcomelistAuthorAndThirdPartySignatures) {
  auto s = testing::settings_from(
      "welcomelist_auth *@example.com\n"
      "welcomelist_from_dkim *@other.example signer.example\n"
      "def_welcomelist_from_dkim *@*.ebay.com ebay.com\n");
  Envelope env = with_auth();
  DkimOutcome d;
  d.result = AuthResult::Pass;
  d.domain = "example.com";
  d.selector = "s1";
  d.key_bits = 2048;
  env.state->auth.dkim.push_back(d);
  // welcomelist_auth: an author domain signature.
  EXPECT_TRUE(hits("check_for_dkim_welcomelist_from", {}, msg("From: A <a@EXAMPLE.com>\n"), env, s));
  EXPECT_FALSE(hits("check_for_dkim_welcomelist_from", {}, msg("From: a@sub.example.com\n"), env, s));
  EXPECT_FALSE(hits("check_for_def_dkim_welcomelist_from", {}, msg("From: a@example.com\n"), env, s));
  // A weak key or a failed signature never welcomes.
  env.state->auth.dkim[0].key_bits = 512;
  EXPECT_FALSE(hits("check_for_dkim_welcomelist_from", {}, msg("From: a@example.com\n"), env, s));
  env.state->auth.dkim[0].key_bits = 2048;
  env.state->auth.dkim[0].result = AuthResult::Fail;
  EXPECT_FALSE(hits("check_for_dkim_welcomelist_from", {}, msg("From: a@example.com\n"), env, s));
  // Third-party signer named in welcomelist_from_dkim.
  env.state->auth.dkim[0].result = AuthResult::Pass;
  env.state->auth.dkim[0].domain = "signer.example";
  EXPECT_TRUE(hits("check_for_dkim_welcomelist_from", {}, msg("From: x@other.example\n"), env, s));
  EXPECT_FALSE(hits("check_for_dkim_welcomelist_from", {}, msg("From: x@another.example\n"), env, s));
  // def_: *@*.ebay.com signed by ebay.com.
  env.state->auth.dkim[0].domain = "ebay.com";
  EXPECT_TRUE(hits("check_for_def_dkim_welcomelist_from", {}, msg("From: x@reply.ebay.com\n"), env, s));
  EXPECT_FALSE(hits("check_for_def_dkim_welcomelist_from", {}, msg("From: x@ebay.com.example\n"), env, s));
  EXPECT_FALSE(hits("check_for_dkim_welcomelist_from", {}, msg("From: x@reply.ebay.com\n"), env, s));
}

TEST(EvalWlbl, UriHostLists) {
  auto s = testing::settings_from(
      "welcomelist_uri_host example.com !bad.example.com\n"
      "blocklist_uri_host spam.example\n"
      "enlist_uri_host (MINE) Mine.Example\n"
      "delist_uri_host (MINE) gone.example\n");
  auto m = [](const std::string& url) {
    return "From: a@b.example\nContent-Type: text/plain\n\nsee " + url + " now\n";
  };
  EXPECT_TRUE(hits("check_uri_host_in_welcomelist", {}, m("http://www.example.com/x"), {}, s));
  EXPECT_FALSE(hits("check_uri_host_in_welcomelist", {}, m("http://www.bad.example.com/x"), {}, s));
  EXPECT_FALSE(hits("check_uri_host_in_welcomelist", {}, m("http://www.example.community/x"), {}, s));
  EXPECT_TRUE(hits("check_uri_host_in_blocklist", {}, m("https://user@spam.example:8080/x"), {}, s));
  EXPECT_FALSE(hits("check_uri_host_in_blocklist", {}, m("https://nospam.example/x"), {}, s));
  EXPECT_TRUE(hits("check_uri_host_listed", {"MINE"}, m("http://a.mine.example/"), {}, s));
  EXPECT_FALSE(hits("check_uri_host_listed", {"WELCOME"}, m("http://a.mine.example/"), {}, s));
  EXPECT_FALSE(hits("check_uri_host_in_blocklist", {}, m("mailto:x@spam.example"), {}, s));
}

TEST(EvalWlbl, SubjectLists) {
  auto s = testing::settings_from(
      "blocklist_subject Make Money Fast\n"
      "welcomelist_subject [Bug *]\n");
  EXPECT_TRUE(hits("check_subject_in_blocklist", {}, msg("Subject: Re: make  money fast? no, MAKE MONEY FAST now\n"),
                   {}, s));
  EXPECT_FALSE(hits("check_subject_in_blocklist", {}, msg("Subject: make money slowly\n"), {}, s));
  EXPECT_TRUE(hits("check_subject_in_welcomelist", {}, msg("Subject: Re: [Bug 1234] crash\n"), {}, s));
  EXPECT_FALSE(hits("check_subject_in_welcomelist", {}, msg("Subject: Bug 1234 crash\n"), {}, s));
  EXPECT_FALSE(hits("check_subject_in_welcomelist", {}, msg("From: a@b.example\n"), {}, s));
}

// check_ratware_envelope_from, checked against spamassassin -L -t: the first hits,
// the SRS form does not, and a second To address changes nothing (get('To:addr')
// gives the first).
TEST(EvalRatware, EnvelopeFromBuiltFromTheRecipient) {
  const std::string m = "Return-Path: <bounce-example.com-joe@bulk.example.net>\nFrom: a@bulk.example.net\n"
                        "To: joe@mail.example.com\nSubject: x\nMessage-ID: <r1@bulk.example.net>\n"
                        "Date: Mon, 7 Dec 2026 10:00:00 +0000\n\nhi\n";
  EvalSettings s = testing::settings_from("util_rb_tld com net\nutil_rb_2tld co.uk\n");
  EXPECT_TRUE(hits("check_ratware_envelope_from", {}, m, {}, s));
  std::string srs = m;
  srs.replace(srs.find("bounce-"), 7, "SRS0=ab=");
  EXPECT_FALSE(hits("check_ratware_envelope_from", {}, srs, {}, s));
  std::string two = m;
  two.replace(two.find("joe@mail.example.com"), 20, "joe@mail.example.com, ann@example.com");
  EXPECT_TRUE(hits("check_ratware_envelope_from", {}, two, {}, s));
  std::string other = m;
  other.replace(other.find("To: joe@"), 8, "To: bob@");
  EXPECT_FALSE(hits("check_ratware_envelope_from", {}, other, {}, s));
  EXPECT_FALSE(hits("check_ratware_envelope_from", {}, m));  // no TLDs known: is_domain_valid fails
}

// VBounce, checked against spamassassin -L -t with the same welcomelist_bounce_relays
// and rules: both messages hit both tests with the relay listed, neither without.
TEST(EvalVBounce, BouncesOfOurOwnMail) {
  const std::string quoted =
      "From: MAILER-DAEMON@mx.example.net\nTo: me@example.com\nSubject: Undelivered Mail Returned to Sender\n"
      "Message-ID: <b1@mx.example.net>\nDate: Mon, 7 Dec 2026 10:00:00 +0000\n\nThis is the mail system.\n\n"
      "> Received: from out.ourrelay.example (out.ourrelay.example [192.0.2.1])\n>\tby mx.example.net with ESMTP\n";
  const std::string folded =
      "From: MAILER-DAEMON@mx.example.net\nTo: me@example.com\nSubject: Undelivered\nMessage-ID: <b2@mx.example.net>\n"
      "Date: Mon, 7 Dec 2026 10:00:00 +0000\n\nThe original:\n\nReceived: from\n\tgw.ourrelay.example (gw [192.0.2.1])\n"
      "\tby mx.example.net\n";
  EvalSettings ours = testing::settings_from("welcomelist_bounce_relays *.ourrelay.example\n");
  EvalSettings others = testing::settings_from("whitelist_bounce_relays relay.elsewhere.example\n");
  for (const auto* m : {&quoted, &folded}) {
    EXPECT_TRUE(hits("have_any_bounce_relays", {}, *m, {}, ours));
    EXPECT_TRUE(hits("check_welcomelist_bounce_relays", {}, *m, {}, ours));
    EXPECT_TRUE(hits("check_whitelist_bounce_relays", {}, *m, {}, ours));
    EXPECT_TRUE(hits("have_any_bounce_relays", {}, *m, {}, others));
    EXPECT_FALSE(hits("check_welcomelist_bounce_relays", {}, *m, {}, others));
    EXPECT_FALSE(hits("have_any_bounce_relays", {}, *m));
    EXPECT_FALSE(hits("check_welcomelist_bounce_relays", {}, *m));
  }
}

}  // namespace
}  // namespace mxgate
