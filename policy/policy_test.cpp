#include "policy/policy.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "filters/config_node.hpp"
#include "filters/filter_state.hpp"
#include "policy/outcome.hpp"
#include "policy/tagging.hpp"

namespace mxgate {
namespace {

struct Loaded {
  PolicyConfigPtr policy;
  std::vector<ConfigError> errors;
  std::string error_text() const {
    std::string s;
    for (const auto& e : errors) s += e.str() + "\n";
    return s;
  }
};

Loaded load(const std::string& yaml, bool quarantine_available = false) {
  Loaded out;
  YAML::Node root = YAML::Load(yaml);
  {
    ConfigMap top(root, "t.yaml", "", &out.errors);
    auto m = top.child("policy");
    out.policy = read_policy_config(*m, quarantine_available);
  }
  return out;
}

ClientInfo client(std::string ip, std::string helo = "mail.example.net", std::string name = "unknown") {
  ClientInfo c;
  c.ip = std::move(ip);
  c.helo = std::move(helo);
  c.name = std::move(name);
  return c;
}

Mailbox mbox(std::string a) { return Mailbox{std::move(a), {}}; }

// One message through decide() with a policy.
struct Msg {
  ClientInfo client = mxgate::client("198.51.100.7");
  Mailbox sender = mbox("someone@example.net");
  std::vector<Mailbox> rcpts{mbox("user@example.org")};
  AuthResults auth;
  std::string from_domain = "example.net";
  std::vector<std::string> all_from_domains;
  std::vector<Symbol> symbols;
  Action chain_action = Action::Continue;
  Decision run(const PolicyConfig* p, bool quarantine_available = false) const {
    ChainResult eod;
    eod.action = chain_action;
    eod.symbols = symbols;
    eod.decided_by = chain_action == Action::Continue ? "" : "somefilter";
    MessageFacts f;
    f.client = &client;
    f.sender = &sender;
    f.rcpts = &rcpts;
    f.auth = &auth;
    f.from_domain = from_domain;
    f.all_from_domains = all_from_domains;
    return decide(eod, Evidence{}, p, f, quarantine_available);
  }
};

TEST(Policy, FilterVerdictsWithoutPolicy) {
  SmtpReply no(550, "5.7.1", "no");
  SmtpReply later(451, "4.7.1", "later");
  struct Row {
    const char* what;
    Action in;
    std::optional<SmtpReply> reply;
    bool quarantine_available;
    Action out;
    std::string out_reply;
  } rows[] = {
      {"continue forwards", Action::Continue, std::nullopt, false, Action::Accept, ""},
      {"accept forwards", Action::Accept, std::nullopt, false, Action::Accept, ""},
      {"reject keeps reply", Action::Reject, no, false, Action::Reject, "550 5.7.1 no\r\n"},
      {"tempfail keeps reply", Action::Tempfail, later, false, Action::Tempfail, "451 4.7.1 later\r\n"},
      {"quarantine without store tempfails", Action::Quarantine, std::nullopt, false, Action::Tempfail,
       kQuarantineUnavailable.wire()},
      {"quarantine with store", Action::Quarantine, std::nullopt, true, Action::Quarantine, ""},
  };
  for (const auto& row : rows) {
    ChainResult r;
    r.action = row.in;
    r.reply = row.reply;
    r.symbols = {{"A", 1.5, ""}, {"B", -0.5, ""}};
    r.add_headers = {{"X-Test", "1"}};
    r.decided_by = "f";
    Decision d = decide(r, Evidence{}, nullptr, MessageFacts{}, row.quarantine_available);
    EXPECT_EQ(d.action, row.out) << row.what;
    EXPECT_EQ(d.reply ? d.reply->wire() : "", row.out_reply) << row.what;
    EXPECT_DOUBLE_EQ(d.score, 1.0) << row.what;
    EXPECT_EQ(d.add_headers.size(), 1u) << row.what;
  }
}

TEST(Policy, EarlierStagesCountForTheMessage) {
  Evidence earlier;
  ChainResult at_mail;
  at_mail.symbols = {{"SPF_PASS", -0.5, ""}};
  at_mail.add_headers = {{"Received-SPF", " pass"}};
  earlier.add(at_mail);
  ChainResult eod;
  eod.symbols = {{"MISSING_DATE", 1.0, ""}};
  eod.add_headers = {{"X-Other", " 0.5"}};
  auto p = load("{}").policy;
  Decision d = decide(eod, earlier, p.get(), MessageFacts{}, false);
  EXPECT_EQ(d.action, Action::Accept);
  EXPECT_DOUBLE_EQ(d.score, 0.5);
  ASSERT_EQ(d.add_headers.size(), 2u);
  EXPECT_EQ(d.add_headers[0].name, "Received-SPF");  // in the order the filters gave them
  EXPECT_EQ(d.add_headers[1].name, "X-Other");
  ASSERT_EQ(d.symbols.size(), 2u);

  // A name reported twice (the spf filter at MAIL, SpamAssassin's SPF_PASS rule at
  // the end of data, read from the filter's result) counts once: the first report.
  ChainResult again = eod;
  again.symbols.push_back({"SPF_PASS", -0.001, "SPF: sender matches SPF record", "eval check_for_spf_pass"});
  Decision once = decide(again, earlier, p.get(), MessageFacts{}, false);
  EXPECT_DOUBLE_EQ(once.score, 0.5);
  ASSERT_EQ(once.symbols.size(), 2u);
  EXPECT_EQ(once.symbols[0].name, "SPF_PASS");
  EXPECT_DOUBLE_EQ(once.symbols[0].score, -0.5);
  EXPECT_EQ(once.symbols[0].where, "also reported (eval check_for_spf_pass) with score -0.001, counted once");

  // Quarantine asked for at RCPT holds the message once it has arrived.
  Evidence q;
  ChainResult at_rcpt;
  at_rcpt.action = Action::Quarantine;
  at_rcpt.decided_by = "virus";
  q.add(at_rcpt);
  EXPECT_TRUE(q.quarantine_requested);
  Decision held = decide(ChainResult{}, q, p.get(), MessageFacts{}, true);
  EXPECT_EQ(held.action, Action::Quarantine);
  EXPECT_EQ(held.reason, "filter virus");
  EXPECT_EQ(decide(ChainResult{}, q, p.get(), MessageFacts{}, false).action, Action::Tempfail);
  // ...unless the end of data rejects it outright.
  ChainResult reject;
  reject.action = Action::Reject;
  reject.reply = SmtpReply(550, "5.7.1", "no");
  EXPECT_EQ(decide(reject, q, p.get(), MessageFacts{}, true).action, Action::Reject);
}

TEST(Policy, ScoreThresholds) {
  auto p = load("policy: {thresholds: {tag: 5, reject: 15}}").policy;
  struct Row {
    double score;
    const char* verdict;
    const char* rule;
  } rows[] = {
      {-3, "accept", "policy.thresholds"},     {4.9, "accept", "policy.thresholds"},  {5, "tag", "policy.thresholds.tag"},
      {14.9, "tag", "policy.thresholds.tag"},     {15, "reject", "policy.thresholds.reject"},
      {1000, "reject", "policy.thresholds.reject"},
  };
  for (const auto& row : rows) {
    Msg m;
    m.symbols = {{"RULE", row.score, ""}};
    Decision d = m.run(p.get());
    EXPECT_STREQ(d.verdict(), row.verdict) << row.score;
    EXPECT_EQ(d.reason, row.rule) << row.score;
    if (std::string(row.verdict) == "reject") {
      ASSERT_TRUE(d.reply);
      EXPECT_EQ(d.reply->wire(), "550 5.7.1 Message rejected as spam\r\n");
    }
    ASSERT_TRUE(d.required);
    EXPECT_DOUBLE_EQ(*d.required, 5.0);
  }
  // Off thresholds never fire.
  auto off = load("policy: {thresholds: {tag: off, reject: off}}").policy;
  Msg m;
  m.symbols = {{"GTUBE", 1000, ""}};
  EXPECT_STREQ(m.run(off.get()).verdict(), "accept");
  // Quarantine with a store.
  auto q = load("policy: {thresholds: {quarantine: 10}}", true).policy;
  m.symbols = {{"R", 11, ""}};
  Decision d = m.run(q.get(), true);
  EXPECT_EQ(d.action, Action::Quarantine);
  EXPECT_EQ(d.reason, "policy.thresholds.quarantine");
}

TEST(Policy, StrictestRecipientDomainWins) {
  auto p = load(R"(
policy:
  thresholds: {tag: 5, reject: 15}
  domains:
    example.org: {thresholds: {reject: 8}}
    .sub.example.com: {thresholds: {tag: 2}}
)").policy;
  ASSERT_EQ(p->domains.size(), 2u);
  EXPECT_EQ(&p->for_domain("EXAMPLE.ORG"), &p->domains[0]);
  EXPECT_EQ(&p->for_domain("a.b.sub.example.com"), &p->domains[1]);
  EXPECT_EQ(&p->for_domain("sub.example.com"), &p->global);  // ".x" is below x only
  EXPECT_EQ(&p->for_domain("example.net"), &p->global);
  Msg m;
  m.symbols = {{"R", 9, ""}};
  m.rcpts = {mbox("a@example.net")};
  EXPECT_STREQ(m.run(p.get()).verdict(), "tag");
  m.rcpts = {mbox("a@example.net"), mbox("b@example.org")};
  Decision d = m.run(p.get());
  EXPECT_STREQ(d.verdict(), "reject");
  EXPECT_EQ(d.reason, "policy.domains.example.org.thresholds.reject");
  m.symbols = {{"R", 3, ""}};
  m.rcpts = {mbox("a@x.sub.example.com"), mbox("a@example.net")};
  d = m.run(p.get());
  EXPECT_STREQ(d.verdict(), "tag");
  EXPECT_EQ(d.reason, "policy.domains..sub.example.com.thresholds.tag");
  EXPECT_DOUBLE_EQ(*d.required, 2.0);
}

TEST(Policy, DenyListsAtTheirStage) {
  auto p = load(R"(
policy:
  deny:
    client_ip: [192.0.2.0/24, "2001:db8::/32"]
    helo: [.bad.example]
    sender: [spammer@example.net, "<>"]
    rcpt: [closed@example.org]
  domains:
    example.org:
      deny: {sender: [.example.com]}
)").policy;
  EXPECT_TRUE(p->delay_reject);
  auto r = check_client(*p, client("192.0.2.9"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rule, "policy.deny.client_ip 192.0.2.0/24");
  EXPECT_EQ(r->reply.wire(), "550 5.7.1 Client host rejected: Access denied\r\n");
  EXPECT_TRUE(check_client(*p, client("::ffff:192.0.2.1")));
  EXPECT_TRUE(check_client(*p, client("2001:db8::5")));
  EXPECT_FALSE(check_client(*p, client("192.0.3.1")));
  EXPECT_TRUE(check_helo(*p, client("1.2.3.4", "x.bad.example")));
  EXPECT_FALSE(check_helo(*p, client("1.2.3.4", "bad.example")));
  EXPECT_TRUE(check_sender(*p, mbox("Spammer@Example.NET")));
  EXPECT_TRUE(check_sender(*p, mbox("")));
  EXPECT_FALSE(check_sender(*p, mbox("friend@example.net")));
  // With delay_reject every RCPT carries the client/HELO/sender denial.
  r = check_rcpt(*p, client("192.0.2.9"), mbox("a@b.c"), mbox("user@example.org"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rule, "policy.deny.client_ip 192.0.2.0/24");
  r = check_rcpt(*p, client("198.51.100.1"), mbox("a@b.c"), mbox("closed@example.org"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reply.wire(), "550 5.7.1 Recipient address rejected: Access denied\r\n");
  EXPECT_FALSE(check_rcpt(*p, client("198.51.100.1"), mbox("a@b.c"), mbox("open@example.org")));
  // A domain's own list applies to its recipients only.
  r = check_rcpt(*p, client("198.51.100.1"), mbox("x@mail.example.com"), mbox("u@example.org"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rule, "policy.domains.example.org.deny.sender .example.com");
  EXPECT_FALSE(check_rcpt(*p, client("198.51.100.1"), mbox("x@mail.example.com"), mbox("u@example.net")));
  // Without delay_reject the RCPT stage does not repeat the earlier checks.
  auto now = load("policy: {delay_reject: false, deny: {client_ip: [192.0.2.0/24]}}").policy;
  EXPECT_FALSE(check_rcpt(*now, client("192.0.2.9"), mbox("a@b.c"), mbox("u@example.org")));
  EXPECT_TRUE(check_client(*now, client("192.0.2.9")));
}

TEST(Policy, AllowListsNeedProofWhereTheyCanBeForged) {
  auto p = load(R"(
policy:
  allow:
    client_ip: [203.0.113.0/24]
    helo: [mx.partner.example]
    sender: [partner.example]
    from_domain: [partner.example]
    rcpt: [postmaster@example.org]
)").policy;
  auto gtube = [](Msg m) {
    m.symbols = {{"GTUBE", 1000, ""}};
    return m;
  };
  Msg m = gtube(Msg{});
  EXPECT_STREQ(m.run(p.get()).verdict(), "reject");
  m.client = client("203.0.113.5");
  Decision d = m.run(p.get());
  EXPECT_STREQ(d.verdict(), "accept");
  EXPECT_EQ(d.reason, "policy.allow.client_ip 203.0.113.0/24");

  // Sender: only with SPF pass.
  m = gtube(Msg{});
  m.sender = mbox("news@partner.example");
  EXPECT_STREQ(m.run(p.get()).verdict(), "reject");
  m.auth.spf = SpfOutcome{};
  m.auth.spf->result = AuthResult::Pass;
  d = m.run(p.get());
  EXPECT_STREQ(d.verdict(), "accept");
  EXPECT_EQ(d.reason, "policy.allow.sender partner.example");

  // From domain: only with DMARC pass for that domain.
  m = gtube(Msg{});
  m.from_domain = "partner.example";
  EXPECT_STREQ(m.run(p.get()).verdict(), "reject");
  m.auth.dmarc = DmarcOutcome{};
  m.auth.dmarc->result = AuthResult::Pass;
  m.auth.dmarc->from_domain = "partner.example";
  EXPECT_EQ(m.run(p.get()).reason, "policy.allow.from_domain partner.example");

  // HELO: only when it is the client's forward-confirmed name.
  m = gtube(Msg{});
  m.client = client("198.51.100.1", "mx.partner.example");
  EXPECT_STREQ(m.run(p.get()).verdict(), "reject");
  m.client.name = "mx.partner.example";
  EXPECT_STREQ(m.run(p.get()).verdict(), "accept");

  // Recipient: per recipient, and the strictest over recipients still applies.
  m = gtube(Msg{});
  m.rcpts = {mbox("postmaster@example.org")};
  EXPECT_STREQ(m.run(p.get()).verdict(), "accept");
  m.rcpts = {mbox("postmaster@example.org"), mbox("bob@example.org")};
  EXPECT_STREQ(m.run(p.get()).verdict(), "reject");
}

TEST(Policy, DmarcAndSpfRules) {
  auto p = load("policy: {spf_fail: tag, dmarc: {reject: reject, quarantine: tag}}").policy;
  Msg m;
  m.auth.dmarc = DmarcOutcome{};
  m.auth.dmarc->result = AuthResult::Fail;
  m.auth.dmarc->from_domain = "bank.example";
  m.auth.dmarc->disposition = "reject";
  Decision d = m.run(p.get());
  EXPECT_STREQ(d.verdict(), "reject");
  EXPECT_EQ(d.reason, "policy.dmarc.reject bank.example");
  EXPECT_EQ(d.reply->wire(),
            "550 5.7.1 Unauthenticated email from bank.example is not accepted due to domain's DMARC policy\r\n");
  // pct took it out of the sample: disposition none, nothing happens.
  m.auth.dmarc->disposition = "none";
  EXPECT_STREQ(m.run(p.get()).verdict(), "accept");
  m.auth.dmarc->disposition = "quarantine";
  d = m.run(p.get());
  EXPECT_STREQ(d.verdict(), "tag");
  EXPECT_EQ(d.reason, "policy.dmarc.quarantine bank.example");
  // A stricter score still wins over a milder explicit rule.
  m.symbols = {{"R", 20, ""}};
  EXPECT_EQ(m.run(p.get()).reason, "policy.thresholds.reject");
  // dmarc reject set to tag only.
  auto tag_only = load("policy: {dmarc: {reject: tag}}").policy;
  m.symbols.clear();
  m.auth.dmarc->disposition = "reject";
  EXPECT_STREQ(m.run(tag_only.get()).verdict(), "tag");
  // SPF fail.
  Msg s;
  s.auth.spf = SpfOutcome{};
  s.auth.spf->result = AuthResult::Fail;
  s.auth.spf->domain = "example.net";
  d = s.run(p.get());
  EXPECT_STREQ(d.verdict(), "tag");
  EXPECT_EQ(d.reason, "policy.spf_fail example.net");
  auto spf_reject = load("policy: {spf_fail: reject}").policy;
  d = s.run(spf_reject.get());
  EXPECT_EQ(d.reply->wire(), "550 5.7.23 SPF validation failed for example.net\r\n");
  // Deny by From domain at end of data; it wins over allow.
  auto deny = load("policy: {deny: {from_domain: [evil.example]}, allow: {client_ip: [0.0.0.0/0]}}").policy;
  Msg e;
  e.from_domain = "evil.example";
  d = e.run(deny.get());
  EXPECT_STREQ(d.verdict(), "reject");
  EXPECT_EQ(d.reason, "policy.deny.from_domain evil.example");
}

// RFC 7489 6.6.1: a From that is not a clean list of mailboxes with domains is
// refused by default (dmarc.bad_from); several authors are only evaluated (the
// strictest DMARC result counts) unless dmarc.multiple_from says otherwise.
TEST(Policy, DmarcBadFromAndMultipleAuthors) {
  auto defaults = load("policy: {}").policy;
  Msg bad;
  bad.from_domain.clear();
  bad.auth.dmarc = DmarcOutcome{};
  bad.auth.dmarc->result = AuthResult::PermError;
  bad.auth.dmarc->bad_from = "no From field";
  Decision d = bad.run(defaults.get());
  EXPECT_STREQ(d.verdict(), "reject");
  EXPECT_EQ(d.reason, "policy.dmarc.bad_from");
  EXPECT_EQ(d.reply->wire(), "550 5.7.1 Message rejected: the From header is not a valid list of author addresses\r\n");
  // A DMARC reject found among the salvaged domains is named first: it says more.
  bad.auth.dmarc->result = AuthResult::Fail;
  bad.auth.dmarc->disposition = "reject";
  bad.auth.dmarc->from_domain = "bank.example";
  EXPECT_EQ(bad.run(defaults.get()).reason, "policy.dmarc.reject bank.example");
  // Configurable down to nothing, per recipient domain too.
  bad.auth.dmarc->result = AuthResult::PermError;
  bad.auth.dmarc->disposition.clear();
  bad.auth.dmarc->from_domain.clear();
  auto lenient = load("policy: {dmarc: {bad_from: none}, domains: {example.org: {dmarc: {bad_from: tag}}}}").policy;
  d = bad.run(lenient.get());
  EXPECT_STREQ(d.verdict(), "tag");
  EXPECT_EQ(d.reason, "policy.domains.example.org.dmarc.bad_from");
  bad.rcpts = {mbox("user@other.example")};
  EXPECT_STREQ(bad.run(lenient.get()).verdict(), "accept");
  // Without a DMARC outcome (no dmarc filter) there is nothing to refuse on.
  bad.auth.dmarc.reset();
  EXPECT_STREQ(bad.run(defaults.get()).verdict(), "accept");

  Msg two;
  two.from_domain.clear();
  two.auth.dmarc = DmarcOutcome{};
  two.auth.dmarc->result = AuthResult::Pass;
  two.auth.dmarc->from_domain = "a.example";
  two.auth.dmarc->mailboxes = 2;
  two.auth.dmarc->from_fields = 1;
  EXPECT_STREQ(two.run(defaults.get()).verdict(), "accept");
  auto refuse = load("policy: {dmarc: {multiple_from: reject}}").policy;
  d = two.run(refuse.get());
  EXPECT_STREQ(d.verdict(), "reject");
  EXPECT_EQ(d.reason, "policy.dmarc.multiple_from");
  EXPECT_EQ(d.reply->wire(), "550 5.7.1 Message rejected: mail with more than one author in From is not accepted\r\n");
  two.auth.dmarc->mailboxes = 1;
  two.auth.dmarc->from_fields = 2;  // one mailbox in each of two fields
  EXPECT_STREQ(two.run(refuse.get()).verdict(), "reject");
  two.auth.dmarc->from_fields = 1;
  EXPECT_STREQ(two.run(refuse.get()).verdict(), "accept");
  EXPECT_NE(load("policy: {dmarc: {multiple_from: bounce}}").error_text().find("policy.dmarc.multiple_from"),
            std::string::npos);
}

TEST(Policy, TemporaryErrorsCanTempfail) {
  Msg m;
  m.auth.dmarc = DmarcOutcome{};
  m.auth.dmarc->result = AuthResult::TempError;
  m.auth.dmarc->from_domain = "bank.example";
  // By default a DNS failure changes nothing: the score decides.
  auto dflt = load("{}").policy;
  EXPECT_STREQ(m.run(dflt.get()).verdict(), "accept");
  auto p = load("policy: {dmarc: {temperror: tempfail}, spf_temperror: tempfail, tempfail_reply: \"451 4.7.1 Later please\"}").policy;
  Decision d = m.run(p.get());
  EXPECT_EQ(d.action, Action::Tempfail);
  EXPECT_STREQ(d.verdict(), "tempfail");
  EXPECT_EQ(d.reason, "policy.dmarc.temperror bank.example");
  EXPECT_EQ(d.reply->wire(), "451 4.7.1 DMARC policy of bank.example could not be checked; try again later\r\n");
  // Reject is stricter than tempfail; tempfail stricter than tag.
  m.symbols = {{"R", 20, ""}};
  EXPECT_STREQ(m.run(p.get()).verdict(), "reject");
  m.symbols = {{"R", 6, ""}};
  EXPECT_STREQ(m.run(p.get()).verdict(), "tempfail");
  Msg s;
  s.auth.spf = SpfOutcome{};
  s.auth.spf->result = AuthResult::TempError;
  s.auth.spf->domain = "example.net";
  d = s.run(p.get());
  EXPECT_EQ(d.reason, "policy.spf_temperror example.net");
  EXPECT_EQ(d.reply->code(), 451);
  // A 5xx rule turned into tempfail gets the policy's tempfail reply.
  auto dm = load("policy: {dmarc: {reject: tempfail}, tempfail_reply: \"451 4.7.1 Later please\"}").policy;
  Msg r;
  r.auth.dmarc = DmarcOutcome{};
  r.auth.dmarc->result = AuthResult::Fail;
  r.auth.dmarc->disposition = "reject";
  r.auth.dmarc->from_domain = "bank.example";
  EXPECT_EQ(r.run(dm.get()).reply->wire(), "451 4.7.1 Later please\r\n");
  EXPECT_NE(load("policy: {tempfail_reply: \"550 5.7.1 no\"}").error_text().find("policy.tempfail_reply: must be a 4xx"),
            std::string::npos);
}

TEST(Policy, DenyFromDomainSeesEveryMailbox) {
  // Two mailboxes (or two From fields) leave from_domain empty; the deny list still
  // sees each domain.
  Message m("From: a@good.example, b@Lookalike-Bank.example\r\nFrom: c@x.example\r\nSubject: s\r\n\r\nbody\r\n");
  auto domains = domains_in_from(m.fields("From"));
  EXPECT_EQ(domains, (std::vector<std::string>{"good.example", "lookalike-bank.example", "x.example"}));
  auto p = load("policy: {deny: {from_domain: [lookalike-bank.example]}}").policy;
  Msg msg;
  msg.from_domain.clear();
  msg.all_from_domains = domains;
  Decision d = msg.run(p.get());
  EXPECT_STREQ(d.verdict(), "reject");
  EXPECT_EQ(d.reason, "policy.deny.from_domain lookalike-bank.example");
}

// The From is parsed once per transaction: policy reads the authors the dmarc
// filter parsed (kept in the session's FilterState), not a second parse of its own.
TEST(Outcome, MessageFactsShareTheParsedAuthors) {
  Message msg("From: Joe <joe@Example.NET>\r\nSubject: s\r\n\r\nbody\r\n");
  Envelope env;
  env.txn_id = "T.1";
  env.mail_from = mbox("joe@example.net");
  env.state = std::make_shared<FilterState>();
  auto first = authors_of(env, msg);
  EXPECT_EQ(authors_of(env, msg), first);  // kept for the transaction
  EXPECT_EQ(message_facts(env, nullptr, msg).from_domain, "example.net");
  // Whatever is kept is what policy uses (here a stand-in, to show it is not parsed again).
  auto stand_in = std::make_shared<FromAuthors>();
  stand_in->fields = 1;
  stand_in->mailboxes.push_back(FromDomain{true, "kept.example", "joe", ""});
  env.state->authors = stand_in;
  EXPECT_EQ(message_facts(env, nullptr, msg).from_domain, "kept.example");
  // A new transaction parses anew.
  env.txn_id = "T.2";
  EXPECT_EQ(message_facts(env, nullptr, msg).from_domain, "example.net");
  // Two authors: no single From domain; every domain still reaches the deny lists.
  Message two("From: a@one.example, b@two.example\r\n\r\n");
  env.txn_id = "T.3";
  MessageFacts f = message_facts(env, nullptr, two);
  EXPECT_EQ(f.from_domain, "");
  EXPECT_EQ(f.all_from_domains, (std::vector<std::string>{"one.example", "two.example"}));
}

TEST(Policy, ConfigErrorsNameTheKeyAndLine) {
  struct Row {
    const char* yaml;
    const char* error;
  } rows[] = {
      {"policy:\n  deny:\n    client_ip: [10.0.0.0/33]\n",
       "t.yaml:3: policy.deny.client_ip: \"10.0.0.0/33\" is not an IP address or network"},
      {"policy:\n  thresholds: {tag: lots}\n", "t.yaml:2: policy.thresholds.tag: expected a score"},
      {"policy:\n  thresholds:\n    quarantine: 10\n", "t.yaml:3: policy.thresholds.quarantine: quarantine needs a quarantine store"},
      {"policy:\n  spf_fail: drop\n", "t.yaml:2: policy.spf_fail:"},
      {"policy:\n  allow:\n    sender: [\"a@\"]\n", "t.yaml:3: policy.allow.sender: \"a@\" is not"},
      {"policy:\n  domains:\n    example.org:\n      thresholds: {rejekt: 3}\n",
       "t.yaml:4: policy.domains.example.org.thresholds.rejekt:"},
      {"policy:\n  tagging: {flag_header: \"X Bad\"}\n", "t.yaml:2: policy.tagging.flag_header:"},
      {"policy:\n  thresholds: {tag: 20, reject: 10}\n", "t.yaml:2: policy.thresholds.tag: is above"},
      {"policy:\n  allow:\n    sender: [\"<>\"]\n", "t.yaml:3: policy.allow.sender: <> cannot be allowed"},
      {"policy:\n  tagging:\n    subject_prefix: \"[SP\u00c4M] \"\n", "t.yaml:3: policy.tagging.subject_prefix: must be printable ASCII"},
      {"policy:\n  tagging:\n    status_header: Subject\n", "t.yaml:3: policy.tagging.status_header: \"Subject\" must be an X- field name"},
  };
  for (const auto& row : rows) {
    Loaded l = load(row.yaml);
    EXPECT_NE(l.error_text().find(row.error), std::string::npos) << row.yaml << "\ngot: " << l.error_text();
  }
  EXPECT_TRUE(load("policy: {thresholds: {quarantine: 10}}", true).errors.empty());
  EXPECT_TRUE(load("policy: {deny: {sender: [\"<>\"]}}").errors.empty());  // denying <> is fine
}

TEST(Tagging, SpamAssassinHeaders) {
  TaggingConfig t;
  std::vector<Symbol> syms = {{"RULE_B", 4.0, ""}, {"RULE_A", 3.3, ""}, {"INFO", 0.0, ""}, {"RULE_A", 0.0, ""}};
  auto h = spam_headers(t, true, 7.3, 5.0, syms);
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0].wire(), "X-Spam-Flag: YES\r\n");
  EXPECT_EQ(h[1].wire(), "X-Spam-Status: Yes, score=7.3 required=5.0 tests=RULE_A,RULE_B\r\n");
  EXPECT_EQ(h[2].wire(), "X-Spam-Level: *******\r\n");
  EXPECT_EQ(h[3].wire(), "X-Spam-Score: 7.3\r\n");
  for (const auto& f : h) EXPECT_TRUE(f.valid_to_add()) << f.name;
  h = spam_headers(t, false, -0.04, 5.0, {});
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0].wire(), "X-Spam-Status: No, score=0.0 required=5.0 tests=none\r\n");
  EXPECT_EQ(h[1].name, "X-Spam-Level");
  EXPECT_TRUE(h[1].valid_to_add());
  // Long test lists fold between names; every line stays within 78 characters.
  std::vector<Symbol> many;
  for (int i = 0; i < 30; ++i) many.push_back({"SOME_LONGISH_RULE_NAME_" + std::to_string(i), 1.0, ""});
  h = spam_headers(t, true, 30, 5.0, many);
  std::string w = h[1].wire();
  EXPECT_TRUE(h[1].valid_to_add());
  std::size_t pos = 0, lines = 0;
  while (pos < w.size()) {
    auto nl = w.find("\r\n", pos);
    EXPECT_LE(nl - pos, 78u) << w;
    pos = nl + 2;
    ++lines;
  }
  EXPECT_GT(lines, 3u);
  EXPECT_EQ(spam_headers(t, true, 60, 5.0, {})[2].value.size(), 51u);  // 50 stars at most
  t.headers = TaggingConfig::Headers::Spam;
  EXPECT_TRUE(spam_headers(t, false, 1, 5.0, {}).empty());
  EXPECT_EQ(spam_headers(t, true, 6, 5.0, {}).size(), 4u);
  t.headers = TaggingConfig::Headers::Off;
  EXPECT_TRUE(spam_headers(t, true, 6, 5.0, {}).empty());
}

TEST(Tagging, EditHeadersRemovesForgeriesAndPrefixesSubject) {
  Message m(
      "Received: from x\r\n"
      "X-Spam-Flag: NO\r\n"
      "Subject: hello\r\n"
      " world\r\n"
      "x-spam-status : No, score=-100\r\n"
      "\tfolded=1\r\n"
      "Authentication-Results: mx.test; dkim=pass\r\n"
      "Authentication-Results: other.example; spf=pass\r\n"
      "DKIM-Signature: v=1; h=subject\r\n"
      "\r\n"
      "X-Spam-Flag: in the body stays\r\n");
  HeaderEdit e;
  e.remove = {"X-Spam-Flag", "X-Spam-Status"};
  e.remove_ar_of = "mx.test";
  e.subject_prefix = "***SPAM***";
  auto out = edit_headers(m, e);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out,
            "Received: from x\r\n"
            "Subject: ***SPAM*** hello\r\n"
            " world\r\n"
            "Authentication-Results: other.example; spf=pass\r\n"
            "DKIM-Signature: v=1; h=subject\r\n"
            "\r\n"
            "X-Spam-Flag: in the body stays\r\n");
  EXPECT_EQ(e.removed, 3u);
  EXPECT_EQ(e.removed_ar, 1u);
  // Not doubled on a resend; nothing to change gives nullopt.
  Message again(*out);
  HeaderEdit e2;
  e2.subject_prefix = "***SPAM*** ";
  EXPECT_FALSE(edit_headers(again, e2));
  // No Subject: one is added, before the empty line.
  Message nosubj("From: a@b.c\r\n\r\nbody\r\n");
  HeaderEdit e3;
  e3.subject_prefix = "[SPAM] ";
  EXPECT_EQ(*edit_headers(nosubj, e3), "From: a@b.c\r\nSubject: [SPAM]\r\n\r\nbody\r\n");
  // A header section broken by a line that is neither a field nor a continuation:
  // the empty line goes where our parse ended it, so a leading " ..." line cannot
  // fold into the headers we prepend, and what we took for body stays body.
  Message broken("\t; dmarc=pass header.from=bank.example\r\nFrom: ceo@bank.example\r\n\r\nbody\r\n");
  ASSERT_FALSE(broken.headers_well_formed());
  HeaderEdit e5;
  EXPECT_EQ(*edit_headers(broken, e5),
            "\r\n\t; dmarc=pass header.from=bank.example\r\nFrom: ceo@bank.example\r\n\r\nbody\r\n");
  Message mid("Subject: s\r\nBad Name: x\r\nX-Spam-Flag: NO\r\n\r\nbody\r\n");
  ASSERT_FALSE(mid.headers_well_formed());
  HeaderEdit e6;
  e6.remove = {"X-Spam-Flag"};
  EXPECT_EQ(*edit_headers(mid, e6), "Subject: s\r\n\r\nBad Name: x\r\nX-Spam-Flag: NO\r\n\r\nbody\r\n");
  // Headers only, no body.
  Message headonly("Subject: x\r\nX-Spam-Flag: YES\r\n");
  HeaderEdit e4;
  e4.remove = {"x-spam-flag"};
  EXPECT_EQ(*edit_headers(headonly, e4), "Subject: x\r\n");
}

// RFC 8617: a DMARC failure that a trusted forwarder's ARC seal vouches for (the
// chain passes, the newest seal is the trusted sealer's, its AAR says dmarc=pass).
TEST(Policy, TrustedArcSealerExcusesADmarcFailure) {
  auto trusting = load("policy: {dmarc: {reject: reject, trusted_arc_sealers: [lists.example.org]}}").policy;
  auto plain = load("policy: {dmarc: {reject: reject}}").policy;
  Msg m;
  m.auth.dmarc = DmarcOutcome{};
  m.auth.dmarc->result = AuthResult::Fail;
  m.auth.dmarc->from_domain = "bank.example";
  m.auth.dmarc->disposition = "reject";
  m.auth.arc = ArcOutcome{};
  m.auth.arc->result = AuthResult::Pass;
  m.auth.arc->instances = 2;
  m.auth.arc->sealers = {"relay.example", "lists.example.org"};
  m.auth.arc->aar = {"relay.example; dmarc=fail", "lists.example.org; spf=pass smtp.mfrom=x@bank.example; dmarc=pass"};
  Decision d = m.run(trusting.get());
  EXPECT_STREQ(d.verdict(), "accept");
  bool noted = false;
  for (const auto& sym : d.symbols)
    if (sym.name == "DMARC_ARC_OVERRIDE") {
      noted = true;
      EXPECT_NE(sym.detail.find("lists.example.org (trusted ARC sealer, i=2) saw dmarc=pass"), std::string::npos)
          << sym.detail;
      EXPECT_NE(sym.detail.find("policy.dmarc.reject not applied"), std::string::npos) << sym.detail;
    }
  EXPECT_TRUE(noted);
  // Not configured: the failure stands.
  EXPECT_STREQ(m.run(plain.get()).verdict(), "reject");
  // The trusted sealer saw DMARC fail too: no excuse.
  m.auth.arc->aar.back() = "lists.example.org; dmarc=fail; x-note=\"dmarc=pass elsewhere\"";
  EXPECT_STREQ(m.run(trusting.get()).verdict(), "reject");
  m.auth.arc->aar.back() = "lists.example.org; dmarc=pass";
  // The newest seal is someone else's: no excuse, whoever sealed before.
  m.auth.arc->sealers = {"lists.example.org", "relay.example"};
  EXPECT_STREQ(m.run(trusting.get()).verdict(), "reject");
  // A chain that failed vouches for nothing.
  m.auth.arc->sealers = {"relay.example", "lists.example.org"};
  m.auth.arc->result = AuthResult::Fail;
  EXPECT_STREQ(m.run(trusting.get()).verdict(), "reject");
}

}  // namespace
}  // namespace mxgate
