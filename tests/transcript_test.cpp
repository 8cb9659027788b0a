// Session transcripts: each tests/transcripts/*.smtp file is a conversation with an
// in-process mxgate (bound to 127.0.0.1:0) in front of an in-process sink.
//   % yaml        config lines added to the base config (e.g. "% smtp: {max_recipients: 2}")
//   C: line       a client line (CRLF added); consecutive C: lines go out in one write,
//                 which is how PIPELINING clients send them
//   C~ line       the same with C escapes decoded (\r \n \t \\ \xHH), for raw bytes
//   S: line       the next reply line expected, exactly; a trailing * matches any rest
//   CLOSED        the server must close the connection now
//   # ...         comment
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <fstream>
#include <spdlog/spdlog.h>
#include <sstream>
#include <thread>

#include "proxy/config.hpp"
#include "proxy/server.hpp"
#include "tests/test_support.hpp"

namespace mxgate {
namespace {
namespace asio = boost::asio;
namespace fs = std::filesystem;
using asio::ip::tcp;

const fs::path kDir = fs::path(MXGATE_SOURCE_DIR) / "tests" / "transcripts";

struct Step {
  enum Kind { Send, Expect, Closed } kind;
  std::string text;
  int line;
};

struct Transcript {
  std::string yaml;
  std::vector<Step> steps;
};

std::string unescape(const std::string& in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\' || i + 1 == in.size()) {
      out += in[i];
      continue;
    }
    char c = in[++i];
    if (c == 'r') out += '\r';
    else if (c == 'n') out += '\n';
    else if (c == 't') out += '\t';
    else if (c == 'x' && i + 2 < in.size()) {
      out += static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else out += c;
  }
  return out;
}

Transcript parse(const fs::path& file) {
  Transcript t;
  std::ifstream in(file);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("% ", 0) == 0) t.yaml += line.substr(2) + "\n";
    else if (line.rfind("C: ", 0) == 0 || line == "C:") t.steps.push_back({Step::Send, line.size() > 3 ? line.substr(3) : "", n});
    else if (line.rfind("C~ ", 0) == 0) t.steps.push_back({Step::Send, unescape(line.substr(3)), n});
    else if (line.rfind("S: ", 0) == 0) t.steps.push_back({Step::Expect, line.substr(3), n});
    else if (line == "CLOSED") t.steps.push_back({Step::Closed, "", n});
    else throw std::runtime_error(file.string() + ":" + std::to_string(n) + ": cannot parse: " + line);
  }
  return t;
}

bool matches(const std::string& want, const std::string& got) {
  if (!want.empty() && want.back() == '*') return got.rfind(want.substr(0, want.size() - 1), 0) == 0;
  return want == got;
}

class TranscriptTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TranscriptTest, Conversation) {
  spdlog::set_level(spdlog::level::warn);
  fs::path file = kDir / GetParam();
  Transcript t = parse(file);
  SinkThread sink;
  std::string yaml = "listen: [127.0.0.1:0]\nhostname: mx.test\nworkers: 1\nlog: {transactions: \"off\", level: warn}\n"
                     "dns: {nameservers: [\"127.0.0.1:1\"], attempts: 1}\n"
                     "downstream: {address: \"127.0.0.1:" + std::to_string(sink.port()) +
                     "\", tls: \"off\"}\n" + t.yaml;
  auto r = load_config_text(yaml, file.string());
  ASSERT_TRUE(r.ok()) << format_errors(r.errors);
  Server server(*r.value, "");
  std::string err;
  ASSERT_TRUE(server.bind(&err)) << err;
  server.start();

  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.ports().at(0)));
  struct timeval tv{5, 0};
  setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  asio::streambuf buf;
  std::string pending;
  auto flush = [&] {
    if (pending.empty()) return;
    asio::write(sock, asio::buffer(pending));
    pending.clear();
  };
  for (const auto& step : t.steps) {
    std::string where = file.filename().string() + ":" + std::to_string(step.line);
    if (step.kind == Step::Send) {
      pending += step.text + "\r\n";
      continue;
    }
    flush();
    boost::system::error_code ec;
    if (step.kind == Step::Closed) {
      std::size_t n = asio::read_until(sock, buf, '\n', ec);
      EXPECT_TRUE(ec) << where << ": expected the connection to close, got more: "
                      << std::string(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + n);
      break;
    }
    asio::read_until(sock, buf, '\n', ec);
    ASSERT_FALSE(ec) << where << ": expected \"" << step.text << "\", got " << ec.message();
    std::istream is(&buf);
    std::string got;
    std::getline(is, got);
    if (!got.empty() && got.back() == '\r') got.pop_back();
    EXPECT_TRUE(matches(step.text, got)) << where << ":\n  want: " << step.text << "\n  got:  " << got;
  }
  sock.close();
  server.stop();
}

std::vector<std::string> transcripts() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kDir))
    if (e.path().extension() == ".smtp") out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

INSTANTIATE_TEST_SUITE_P(Transcripts, TranscriptTest, ::testing::ValuesIn(transcripts()),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string n = p.param.substr(0, p.param.size() - 5);
                           for (auto& c : n) if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

}  // namespace
}  // namespace mxgate
