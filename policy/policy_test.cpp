#include "policy/policy.hpp"

#include <gtest/gtest.h>

namespace mxgate {
namespace {

TEST(Policy, TableOfChainResults) {
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
    Decision d = decide(r, row.quarantine_available);
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
  eod.add_headers = {{"X-Spam-Score", " 0.5"}};
  Decision d = decide(eod, earlier, false);
  EXPECT_EQ(d.action, Action::Accept);
  EXPECT_DOUBLE_EQ(d.score, 0.5);
  ASSERT_EQ(d.add_headers.size(), 2u);
  EXPECT_EQ(d.add_headers[0].name, "Received-SPF");  // in the order the filters gave them
  EXPECT_EQ(d.add_headers[1].name, "X-Spam-Score");

  // Quarantine asked for at RCPT holds the message once it has arrived.
  Evidence q;
  ChainResult at_rcpt;
  at_rcpt.action = Action::Quarantine;
  q.add(at_rcpt);
  EXPECT_TRUE(q.quarantine_requested);
  EXPECT_EQ(decide(ChainResult{}, q, true).action, Action::Quarantine);
  EXPECT_EQ(decide(ChainResult{}, q, false).action, Action::Tempfail);
  // ...unless the end of data rejects it outright.
  ChainResult reject;
  reject.action = Action::Reject;
  reject.reply = SmtpReply(550, "5.7.1", "no");
  EXPECT_EQ(decide(reject, q, true).action, Action::Reject);
}

}  // namespace
}  // namespace mxgate
