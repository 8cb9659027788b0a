// Received-header parsing, the trust path and RelayEval's functions. Expected
// values are SpamAssassin 4.0.1's (spamassassin -D received-header,metadata on the
// same lines).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "filters/content/eval_test_util.hpp"
#include "filters/content/relays.hpp"
#include "filters/content/scan_texts.hpp"

namespace mxgate {
namespace {

using testing::crlf_message;
using testing::hits;
using testing::run_eval;

std::string as_string(std::string_view received) {
  ReceivedParse p = parse_received(received);
  if (p.kind != ReceivedParse::Kind::Relay) return "<none>";
  return p.relay.as_string();
}

RelayPath analyse(const std::string& text, const RelaySettings* s = nullptr, const Envelope& env = {}) {
  Message msg = crlf_message(text);
  MimeView view = parse_mime(msg);
  return analyse_relays(s, view, msg, env);
}

std::shared_ptr<const RelaySettings> settings_from(const std::string& key, const std::string& value) {
  std::vector<rules::Setting> st = {{{"local.cf", 3}, key, value}};
  auto r = parse_relay_settings(st);
  EXPECT_TRUE(r.errors.empty());
  return *r.value;
}

TEST(Relays, ParsesTheCommonFormats) {
  // Postfix
  EXPECT_EQ(as_string("from mail.example.com (mail.example.com [192.0.2.7])\r\n\tby mx.our.net (Postfix) with ESMTP id "
                      "4A1B2C3D; Tue, 3 Sep 2002 10:00:00 +0100 (IST)"),
            "[ ip=192.0.2.7 rdns=mail.example.com helo=mail.example.com by=mx.our.net ident= envfrom= intl=0 "
            "id=4A1B2C3D auth= msa=0 ]");
  // Postfix, no reverse name
  EXPECT_EQ(as_string("from pc17 (unknown [198.51.100.9]) by mx.our.net (Postfix) with SMTP id 77; "
                      "Mon, 2 Sep 2002 01:02:03 -0700"),
            "[ ip=198.51.100.9 rdns= helo=pc17 by=mx.our.net ident= envfrom= intl=0 id= auth= msa=0 ]");  // ids: 3+
  // Sendmail, with IDENT
  EXPECT_EQ(as_string("from ran-out.mx.develooper.com (IDENT:qmailr@one.develooper.com [64.81.84.115]) by "
                      "dogma.slashnull.org (8.11.6/8.11.6) with SMTP id h381Vvf19860 for <jm-cpan@jmason.org>; "
                      "Tue, 8 Apr 2003 02:31:57 +0100"),
            "[ ip=64.81.84.115 rdns=one.develooper.com helo=ran-out.mx.develooper.com by=dogma.slashnull.org "
            "ident=qmailr envfrom= intl=0 id=h381Vvf19860 auth= msa=0 ]");
  // Exim
  EXPECT_EQ(as_string("from sc8-sf-list1-b.sourceforge.net ([10.3.1.13] helo=sc8-sf-list1.sourceforge.net) by "
                      "sc8-sf-list2.sourceforge.net with esmtp (Exim 3.31-VA-mm2 #1 (Debian)) id 18t301-0007Bh-00; "
                      "Wed, 12 Mar 2003 01:58:13 -0800"),
            "[ ip=10.3.1.13 rdns=sc8-sf-list1-b.sourceforge.net helo=sc8-sf-list1.sourceforge.net "
            "by=sc8-sf-list2.sourceforge.net ident= envfrom= intl=0 id=18t301-0007Bh-00 auth= msa=0 ]");
  // qmail
  EXPECT_EQ(as_string("from unknown (HELO feux01a-isp) (213.199.4.210) by totor.bouissou.net with SMTP; "
                      "1 Nov 2003 07:05:19 -0000"),
            "[ ip=213.199.4.210 rdns= helo=feux01a-isp by=totor.bouissou.net ident= envfrom= intl=0 id= auth= msa=0 ]");
  // Microsoft SMTPSVC
  EXPECT_EQ(as_string("from tthompson ([217.35.105.172] unverified) by mail.neosinteractive.com with Microsoft "
                      "SMTPSVC(5.0.2195.5329); Tue, 11 Mar 2003 13:23:01 +0000"),
            "[ ip=217.35.105.172 rdns= helo=tthompson by=mail.neosinteractive.com ident= envfrom= intl=0 id= auth= "
            "msa=0 ]");
  // Exchange 2013+: SpamAssassin's own Exchange pattern misses its example (the "id"
  // before the version), and a qmail-style pattern takes the line, helo read as rdns.
  EXPECT_EQ(as_string("from EXC-DAG-02.global.net (10.45.252.152) by EXC-DAG-02.global.net (10.45.252.152) with "
                      "Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) id "
                      "15.1.1261.35; Mon, 29 Oct 2018 11:17:19 +0100"),
            "[ ip=10.45.252.152 rdns=EXC-DAG-02.global.net helo=EXC-DAG-02.global.net by=EXC-DAG-02.global.net ident= "
            "envfrom= intl=0 id=15.1.1261.35 auth= msa=0 ]");
  // Authenticated submission
  EXPECT_EQ(as_string("from [192.0.2.1] (helo=laptop) by smtp.example.net with esmtpsa (Exim 4.96) id 1qA; "
                      "Tue, 3 Sep 2002 10:00:00 +0100"),
            "[ ip=192.0.2.1 rdns= helo=laptop by=smtp.example.net ident= envfrom= intl=0 id=1qA auth=esmtpsa msa=0 ]");
}

TEST(Relays, SkipsLocalHandoversAndCountsTheUnparseable) {
  EXPECT_EQ(parse_received("by mx.our.net (Postfix, from userid 1002) id DABBD1BED3; Thu, 13 Feb 2003 14:02:21 +0100")
                .kind,
            ReceivedParse::Kind::Skipped);
  EXPECT_EQ(parse_received("(qmail 27981 invoked by uid 225); 14 Mar 2003 07:24:34 -0000").kind,
            ReceivedParse::Kind::Skipped);
  EXPECT_EQ(parse_received("from localhost (localhost [127.0.0.1]) by x.org (8.12.6/8.9.3) with SMTP id h2R2; "
                           "Wed, 26 Mar 2003 20:44:44 -0600")
                .kind,
            ReceivedParse::Kind::Relay);  // a loopback SMTP hop is a relay (trusted as private)
  EXPECT_EQ(parse_received("from something weird without address").kind, ReceivedParse::Kind::Unparseable);
  // Hostile input: long, no crash, bounded.
  std::string big = "from " + std::string(100000, '(') + " by x";
  EXPECT_NO_THROW(parse_received(big));
}

const char* kTwoHops =
    "Received: from mx.isp.net (mx.isp.net [192.168.1.5]) by inbox.isp.net (Postfix) with ESMTP id A1;"
    " Tue, 3 Sep 2002 10:00:02 +0100\n"
    "Received: from spammer (dsl-203-0-113-9.example.com [203.0.113.9]) by mx.isp.net (Postfix) with SMTP id B2;"
    " Tue, 3 Sep 2002 10:00:01 +0100\n"
    "From: a@example.com\nSubject: x\n\nbody\n";

TEST(Relays, InfersTrustFromPrivateAddressesWhenNothingIsConfigured) {
  RelayPath p = analyse(kTwoHops);
  ASSERT_EQ(p.trusted.size(), 1u);
  ASSERT_EQ(p.untrusted.size(), 1u);
  EXPECT_EQ(p.trusted[0].ip, "192.168.1.5");
  EXPECT_EQ(p.untrusted[0].ip, "203.0.113.9");
  EXPECT_EQ(p.untrusted_str, "[ ip=203.0.113.9 rdns=dsl-203-0-113-9.example.com helo=spammer by=mx.isp.net ident= "
                             "envfrom= intl=0 id= auth= msa=0 ]");
  EXPECT_NE(p.trusted_str.find(" intl=1 "), std::string::npos);
  EXPECT_EQ(p.last_trusted_index, 0);
}

TEST(Relays, ConfiguredNetworksDecideTrust) {
  auto s = settings_from("trusted_networks", "203.0.113.0/24 192.168.");
  RelayPath p = analyse(kTwoHops, s.get());
  EXPECT_EQ(p.trusted.size(), 2u);
  EXPECT_TRUE(p.untrusted.empty());
  auto narrow = settings_from("trusted_networks", "!192.168.1.5 192.168.1/24");
  p = analyse(kTwoHops, narrow.get());
  EXPECT_TRUE(p.trusted.empty());
  EXPECT_EQ(p.untrusted.size(), 2u);
}

TEST(Relays, SettingErrorsNameFileLineAndKey) {
  std::vector<rules::Setting> st = {{{"local.cf", 7}, "trusted_networks", "10.0.0.0/8 300.1.2.3"}};
  auto r = parse_relay_settings(st);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, "local.cf");
  EXPECT_EQ(r.errors[0].line, 7);
  EXPECT_EQ(r.errors[0].key, "trusted_networks");
  EXPECT_NE(r.errors[0].what.find("300.1.2.3"), std::string::npos);
}

TEST(Relays, TheLiveClientIsTheFirstRelay) {
  Envelope env;
  env.client.ip = "198.51.100.20";
  env.client.helo = "friend.example";
  RelayPath p = analyse("From: a@example.com\nSubject: x\n\nbody\n", nullptr, env);
  ASSERT_EQ(p.untrusted.size(), 1u);
  EXPECT_EQ(p.untrusted_str.substr(0, 48), "[ ip=198.51.100.20 rdns= helo=friend.example by=");
  env.client.name = "mail.friend.example";
  p = analyse(kTwoHops, nullptr, env);
  EXPECT_EQ(p.untrusted.size(), 3u);  // the client, then the headers' relays
  EXPECT_EQ(p.untrusted[0].rdns, "mail.friend.example");
  env.client.ip = "10.1.2.3";  // an internal submitter: inferred trusted, then the headers
  p = analyse(kTwoHops, nullptr, env);
  EXPECT_EQ(p.trusted.size(), 2u);
  EXPECT_EQ(p.untrusted.size(), 1u);
}

TEST(Relays, PseudoHeaders) {
  Message msg = crlf_message(kTwoHops);
  MimeView view = parse_mime(msg);
  RelayPath p = analyse_relays(nullptr, view, msg, {});
  auto untrusted = header_text("x-spam-relays-untrusted", view, msg, {}, &p);
  ASSERT_TRUE(untrusted);
  EXPECT_EQ(*untrusted, p.untrusted_str);
  EXPECT_FALSE(header_text("x-spam-relays-untrusted", view, msg, {}, nullptr));
  auto trusted_hdrs = header_text("ALL-TRUSTED", view, msg, {}, &p);
  ASSERT_TRUE(trusted_hdrs);
  // Down to and with the Received header at the trust boundary (the second one).
  EXPECT_EQ(std::count(trusted_hdrs->begin(), trusted_hdrs->end(), '\n'), 2);
  auto untrusted_hdrs = header_text("ALL-UNTRUSTED", view, msg, {}, &p);
  ASSERT_TRUE(untrusted_hdrs);
  EXPECT_EQ(untrusted_hdrs->rfind("Received:", 0), 0u);
  EXPECT_NE(untrusted_hdrs->find("Subject: x"), std::string::npos);
}

// ---- RelayEval --------------------------------------------------------------

TEST(EvalRelay, AllTrustedAndNoRelays) {
  const std::string inside =
      "Received: from pc (pc.lan [192.168.1.20]) by mail.lan (Postfix) with ESMTP id A1; Tue, 3 Sep 2002 10:00:00 +0100\n"
      "From: a@example.com\n\nx\n";
  EXPECT_TRUE(hits("check_all_trusted", {}, inside));
  EXPECT_FALSE(hits("check_all_trusted", {}, kTwoHops));
  EXPECT_FALSE(hits("check_all_trusted", {}, "From: a@example.com\n\nx\n"));  // no relays at all
  EXPECT_TRUE(hits("check_no_relays", {}, "From: a@example.com\n\nx\n"));
  EXPECT_FALSE(hits("check_no_relays", {}, inside));
  // An unparseable header spoils ALL_TRUSTED.
  EXPECT_FALSE(hits("check_all_trusted", {}, std::string("Received: from nowhere special\n") + inside));
  EXPECT_TRUE(hits("check_relays_unparseable", {}, std::string("Received: from nowhere special\n") + inside));
  EXPECT_FALSE(hits("check_relays_unparseable", {}, inside));
  // Live: a public client is never "all trusted".
  Envelope env;
  env.client.ip = "203.0.113.50";
  EXPECT_FALSE(hits("check_all_trusted", {}, inside, env));
}

TEST(EvalRelay, HeloIpMismatch) {
  const std::string bad =
      "Received: from 198.51.100.1 (dsl.example.com [203.0.113.9]) by mx.isp.net (Postfix) with SMTP id B2;"
      " Tue, 3 Sep 2002 10:00:01 +0100\nFrom: a@example.com\n\nx\n";
  const std::string same24 =
      "Received: from 203.0.113.1 (dsl.example.com [203.0.113.9]) by mx.isp.net (Postfix) with SMTP id B2;"
      " Tue, 3 Sep 2002 10:00:01 +0100\nFrom: a@example.com\n\nx\n";
  EXPECT_TRUE(hits("helo_ip_mismatch", {}, bad));
  EXPECT_FALSE(hits("helo_ip_mismatch", {}, same24));
  EXPECT_TRUE(hits("check_for_numeric_helo", {}, bad));
  EXPECT_FALSE(hits("check_for_numeric_helo", {}, kTwoHops));
}

TEST(EvalRelay, NoRdnsDotcomHelo) {
  const std::string fake =
      "Received: from hotmail.com (unknown [203.0.113.9]) by mx.isp.net (Postfix) with SMTP id B2;"
      " Tue, 3 Sep 2002 10:00:01 +0100\nFrom: a@example.com\n\nx\n";
  const std::string named =
      "Received: from hotmail.com (mail.example.org [203.0.113.9]) by mx.isp.net (Postfix) with SMTP id B2;"
      " Tue, 3 Sep 2002 10:00:01 +0100\nFrom: a@example.com\n\nx\n";
  EXPECT_TRUE(hits("check_for_no_rdns_dotcom_helo", {}, fake));
  EXPECT_FALSE(hits("check_for_no_rdns_dotcom_helo", {}, named));
}

TEST(EvalRelay, SenderNoReverseAndForgedTrail) {
  EXPECT_TRUE(hits("check_for_sender_no_reverse", {}, kTwoHops));  // Perl: the oldest relay's rdns has a dot
  const std::string forged =
      "Received: from a.one.com (a.one.com [203.0.113.1]) by mx.isp.net (Postfix) with SMTP id 1; Tue, 3 Sep 2002 "
      "10:00:03 +0100\n"
      "Received: from b.two.com (b.two.com [203.0.113.2]) by relay.three.com (Postfix) with SMTP id 2; Tue, 3 Sep "
      "2002 10:00:02 +0100\n"
      "Received: from c.four.com (c.four.com [203.0.113.3]) by relay.five.com (Postfix) with SMTP id 3; Tue, 3 Sep "
      "2002 10:00:01 +0100\n"
      "From: a@example.com\n\nx\n";
  EXPECT_TRUE(hits("check_for_forged_received_trail", {}, forged));
  EXPECT_FALSE(hits("check_for_forged_received_trail", {}, kTwoHops));
}

// Not a test: prints every corpus message's relays and RelayEval results, for
// comparing with SpamAssassin (run with --gtest_also_run_disabled_tests and
// MXGATE_RELAY_CORPUS=/tmp/corp/s).
TEST(EvalRelay, DISABLED_CorpusDump) {
  const char* dir = std::getenv("MXGATE_RELAY_CORPUS");
  if (!dir) GTEST_SKIP();
  std::vector<std::filesystem::path> files;
  for (const char* sub : {"ham", "spam"})
    for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(dir) / sub)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  const char* fns[] = {"check_all_trusted", "check_no_relays", "check_relays_unparseable", "helo_ip_mismatch",
                       "check_for_no_rdns_dotcom_helo", "check_for_forged_received_trail",
                       "check_for_sender_no_reverse", "check_for_numeric_helo"};
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    RelayPath p = analyse(ss.str());
    std::cout << "FILE " << f.parent_path().filename().string() << "/" << f.filename().string() << "\n";
    std::cout << "T " << p.trusted_str << "\nU " << p.untrusted_str << "\nI " << p.internal_str << "\nE "
              << p.external_str << "\n";
    std::cout << "EVALS";
    for (const char* fn : fns)
      if (hits(fn, {}, ss.str())) std::cout << " " << fn;
    std::cout << "\n";
  }
}

}  // namespace
}  // namespace mxgate
