// The filter seam inside a live session: scripted filters (test-only) in the chain of
// an in-process server in front of the sink. Each hook's verdict must become the
// right SMTP reply at the right stage, and headers added at any stage must reach the
// downstream in order, while a refused recipient never reaches it.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "proxy/config.hpp"
#include "proxy/server.hpp"
#include "tests/test_support.hpp"

namespace mxgate {
namespace {
namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

// What the scripted filter does at each stage; empty means continue.
struct Script {
  std::optional<Verdict> connect{}, helo{}, mail{}, eod{};
  std::string reject_rcpt{};  // this recipient gets 550 5.1.1
};

class ScriptedFilter final : public Filter {
 public:
  explicit ScriptedFilter(Script s) : s_(std::move(s)) {}
  const char* name() const override { return "scripted"; }
  Task<Verdict> on_connect(const Envelope&) override { co_return s_.connect.value_or(Verdict::next()); }
  Task<Verdict> on_helo(const Envelope&) override { co_return s_.helo.value_or(Verdict::next()); }
  Task<Verdict> on_mail_from(const Envelope&) override { co_return s_.mail.value_or(Verdict::next()); }
  Task<Verdict> on_rcpt_to(const Envelope&, const Mailbox& m) override {
    if (m.address == s_.reject_rcpt) {
      const SmtpReply no{550, "5.1.1", "Recipient refused by filter"};
      co_return Verdict::reject(no);
    }
    co_return Verdict::next();
  }
  Task<Verdict> on_end_of_data(const Envelope&, const Message&) override {
    co_return s_.eod.value_or(Verdict::next());
  }

 private:
  Script s_;
};

Verdict with_header(Verdict v, const char* name, const char* value) {
  v.add_headers.push_back({name, value});
  return v;
}

class Live {
 public:
  explicit Live(Script script) {
    spdlog::set_level(spdlog::level::warn);
    std::string yaml = "listen: [127.0.0.1:0]\nhostname: mx.test\nworkers: 1\nlog: {transactions: \"off\", level: warn}\n"
                       "dns: {nameservers: [\"127.0.0.1:1\"], attempts: 1}\n"
                       "downstream: {address: \"127.0.0.1:" + std::to_string(sink_.port()) + "\", tls: \"off\"}\n";
    auto r = load_config_text(yaml, "seam.yaml");
    EXPECT_TRUE(r.ok()) << format_errors(r.errors);
    auto cfg = std::make_shared<Config>(**r.value);
    std::vector<FilterPtr> filters{std::make_shared<ScriptedFilter>(std::move(script))};
    cfg->chain = std::make_shared<FilterChain>(std::move(filters), 5s);
    server_ = std::make_unique<Server>(cfg, "");
    std::string err;
    EXPECT_TRUE(server_->bind(&err)) << err;
    server_->start();
    sock_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->ports().at(0)));
    timeval tv{5, 0};
    setsockopt(sock_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Live() {
    boost::system::error_code ec;
    sock_.close(ec);
    server_->stop();
  }
  // The last line of the next reply ("250 2.1.0 Ok"), or "" if the server closed.
  std::string reply() {
    std::string line;
    do {
      boost::system::error_code ec;
      asio::read_until(sock_, buf_, '\n', ec);
      if (ec) return "";
      std::istream is(&buf_);
      std::getline(is, line);
      if (!line.empty() && line.back() == '\r') line.pop_back();
    } while (line.size() > 3 && line[3] == '-');
    return line;
  }
  std::string cmd(const std::string& c) {
    asio::write(sock_, asio::buffer(c + "\r\n"));
    return reply();
  }
  // Greeting, `ehlos` EHLOs, one transaction to b@example.org, and `content`; the
  // final reply to the message.
  std::string send(const std::string& content, int ehlos = 1) {
    reply();
    for (int i = 0; i < ehlos; ++i) cmd("EHLO client.example");
    cmd("MAIL FROM:<a@example.net>");
    cmd("RCPT TO:<b@example.org>");
    cmd("DATA");
    return cmd(content + "\r\n.");
  }
  SinkThread& sink() { return sink_; }

 private:
  SinkThread sink_;
  std::unique_ptr<Server> server_;
  asio::io_context ioc_;
  tcp::socket sock_{ioc_};
  asio::streambuf buf_;
};

const SmtpReply kNo{550, "5.7.1", "Go away"};
const SmtpReply kLater{451, "4.7.1", "Later"};

TEST(FilterSeam, ConnectRejectIsA554GreetingAndTempfailA421) {
  {
    Live s(Script{.connect = Verdict::reject(kNo)});
    EXPECT_EQ(s.reply(), "554 5.7.1 Go away");
    EXPECT_EQ(s.reply(), "");  // closed
  }
  {
    Live s(Script{.connect = Verdict::tempfail(kLater)});
    EXPECT_EQ(s.reply(), "421 4.7.1 Later");
  }
}

TEST(FilterSeam, HeloAndMailVerdictsAnswerTheirCommand) {
  Live s(Script{.helo = Verdict::reject(kNo), .mail = Verdict::tempfail(kLater)});
  EXPECT_EQ(s.reply().substr(0, 3), "220");
  EXPECT_EQ(s.cmd("EHLO client.example"), "550 5.7.1 Go away");
  EXPECT_EQ(s.cmd("MAIL FROM:<a@example.net>"), "503 5.5.1 Error: send HELO/EHLO first");
  Live t(Script{.mail = Verdict::tempfail(kLater)});
  t.reply();
  EXPECT_EQ(t.cmd("EHLO client.example").substr(0, 3), "250");
  EXPECT_EQ(t.cmd("MAIL FROM:<a@example.net>"), "451 4.7.1 Later");
  EXPECT_EQ(t.cmd("RCPT TO:<b@example.org>"), "503 5.5.1 Error: need MAIL command");
}

TEST(FilterSeam, RecipientRefusedByAFilterNeverReachesTheMx) {
  Live s(Script{.reject_rcpt = "bad@example.org"});
  s.reply();
  s.cmd("EHLO client.example");
  EXPECT_EQ(s.cmd("MAIL FROM:<a@example.net>"), "250 2.1.0 Ok");
  EXPECT_EQ(s.cmd("RCPT TO:<bad@example.org>"), "550 5.1.1 Recipient refused by filter");
  EXPECT_EQ(s.cmd("RCPT TO:<good@example.org>"), "250 2.1.5 Ok");
  EXPECT_EQ(s.cmd("DATA").substr(0, 3), "354");
  EXPECT_EQ(s.cmd("Subject: x\r\n\r\nbody\r\n.").substr(0, 24), "250 2.0.0 Ok: queued as ");
  auto msgs = s.sink().messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_NE(msgs[0].find("X-Sink-Rcpt: <good@example.org>"), std::string::npos);
  EXPECT_EQ(msgs[0].find("bad@example.org"), std::string::npos);
}

TEST(FilterSeam, HeadersFromMailAndEndOfDataReachTheMxInOrder) {
  Live s(Script{.mail = with_header(Verdict::next(), "Received-SPF", "pass (test)"),
                .eod = with_header(Verdict::next(), "X-Mxgate-Test", "end of data")});
  EXPECT_EQ(s.send("Subject: x\r\n\r\nbody\r\n").substr(0, 3), "250");
  auto msgs = s.sink().messages();
  ASSERT_EQ(msgs.size(), 1u);
  auto spf = msgs[0].find("Received-SPF: pass (test)\r\n");
  auto eod = msgs[0].find("X-Mxgate-Test: end of data\r\n");
  auto subject = msgs[0].find("Subject: x\r\n");
  ASSERT_NE(spf, std::string::npos) << msgs[0];
  ASSERT_NE(eod, std::string::npos) << msgs[0];
  EXPECT_LT(spf, eod);
  EXPECT_LT(eod, subject);  // prepended, before the message's own header
}

TEST(FilterSeam, HeloEvidenceCountsOncePerGreeting) {
  // A HELO-stage symbol scores for the message once, however often the client greets
  // (RFC 5321 allows EHLO again; after STARTTLS it must). Twice 3 would be tagged at 5.
  Verdict helo = Verdict::next();
  helo.with(Symbol("HELO_TEST", 3.0, "scored at HELO"));
  Live s(Script{.helo = helo});
  EXPECT_EQ(s.send("Subject: x\r\n\r\nbody\r\n", /*ehlos=*/3).substr(0, 3), "250");
  auto msgs = s.sink().messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_NE(msgs[0].find("X-Spam-Status: No, score=3.0 required=5.0 tests=HELO_TEST\r\n"), std::string::npos)
      << msgs[0];
  EXPECT_EQ(msgs[0].find("X-Spam-Flag"), std::string::npos) << msgs[0];
}

TEST(FilterSeam, EndOfDataRejectAndTempfailAreTheFinalReply) {
  for (auto [verdict, want] : {std::pair{Verdict::reject(kNo), "550 5.7.1 Go away"},
                               std::pair{Verdict::tempfail(kLater), "451 4.7.1 Later"},
                               std::pair{Verdict::quarantine("held"),
                                         "451 4.3.0 Message held for review but no quarantine is configured; try again later"}}) {
    Live s(Script{.eod = verdict});
    EXPECT_EQ(s.send("Subject: x\r\n\r\nbody\r\n"), want);
    EXPECT_EQ(s.sink().stored(), 0u) << want;
    EXPECT_EQ(s.cmd("NOOP"), "250 2.0.0 Ok");  // the session goes on
  }
}

}  // namespace
}  // namespace mxgate
