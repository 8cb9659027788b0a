#include "proxy/sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <spdlog/spdlog.h>

#include "filters/message.hpp"
#include "proxy/data_reader.hpp"
#include "proxy/listen.hpp"
#include "proxy/smtp_command.hpp"
#include "proxy/stream.hpp"

namespace mxgate {
namespace asio = boost::asio;
using asio::ip::tcp;

Sink::Sink(asio::io_context& ioc, std::string dir) : ioc_(ioc), dir_(std::move(dir)) {}

bool Sink::bind(const std::string& host, std::uint16_t port, std::string* err) {
  std::error_code fec;
  std::filesystem::create_directories(dir_, fec);
  if (fec) {
    *err = "cannot create " + dir_ + ": " + fec.message();
    return false;
  }
  acc_ = listen_on(ioc_, host, port, err);
  if (!acc_) {
    *err = "sink listen " + *err;
    return false;
  }
  return true;
}

std::uint16_t Sink::port() const { return acc_->local_endpoint().port(); }

void Sink::start() { asio::co_spawn(ioc_, accept_loop(), asio::detached); }

Task<void> Sink::accept_loop() {
  while (acc_->is_open()) {
    boost::system::error_code ec;
    Executor strand = asio::make_strand(ioc_);
    tcp::socket sock = co_await acc_->async_accept(strand, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    asio::co_spawn(strand, serve(std::move(sock)), asio::detached);
  }
}

namespace {
bool write_file(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0640);
  if (fd < 0) return false;
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  bool ok = ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  return ok && ::rename(tmp.c_str(), path.c_str()) == 0;
}
}  // namespace

Task<void> Sink::serve(tcp::socket sock) {
  Stream s(std::move(sock));
  std::string in, out = "220 mxgate-sink ESMTP demo sink\r\n";
  std::string from, client;
  std::vector<std::string> rcpts;
  bool in_data = false;
  boost::system::error_code ec;
  char buf[16384];
  auto flush = [&]() -> Task<bool> {
    if (out.empty()) co_return true;
    std::string o;
    o.swap(out);
    co_await s.write(o, ec);
    co_return !ec;
  };
  std::unique_ptr<DataReader> data;
  while (true) {
    if (in_data) {
      std::size_t used = data->feed(in);
      in.erase(0, used);
      if (data->done()) {
        in_data = false;
        std::string id = std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) +
                         "." + std::to_string(++seq_);
        std::string head = "Return-Path: <" + from + ">\r\n";
        for (const auto& r : rcpts) head += "X-Sink-Rcpt: <" + r + ">\r\n";
        if (!client.empty()) head += "X-Sink-Xforward: " + client + "\r\n";
        bool ok = data->problem() == DataReader::Problem::None &&
                  write_file(dir_ + "/" + id + ".eml", head + data->take());
        out += ok ? "250 2.0.0 Ok: queued as " + id + "\r\n" : "451 4.3.0 Error: cannot store message\r\n";
        if (ok) spdlog::info("sink: stored {}/{}.eml from=<{}> rcpts={}", dir_, id, from, rcpts.size());
        from.clear();
        rcpts.clear();
        data.reset();
        continue;
      }
    } else if (auto nl = in.find('\n'); nl != std::string::npos) {
      std::string line = in.substr(0, nl);
      in.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      Command c = parse_command(line);
      switch (c.verb) {
        case Verb::Ehlo:
          out += "250-mxgate-sink\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
                 "250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250 XFORWARD NAME ADDR PORT PROTO HELO SOURCE\r\n";
          break;
        case Verb::Helo: out += "250 mxgate-sink\r\n"; break;
        case Verb::Mail: {
          PathError err;
          auto m = parse_mail(c.arg, err);
          if (m) {
            from = m->mailbox.address;
            out += "250 2.1.0 Ok\r\n";
          } else {
            out += err.reply().wire();
          }
          break;
        }
        case Verb::Rcpt: {
          PathError err;
          auto r = parse_rcpt(c.arg, true, err);
          if (r) {
            rcpts.push_back(r->address);
            out += "250 2.1.5 Ok\r\n";
          } else {
            out += err.reply().wire();
          }
          break;
        }
        case Verb::Data:
          if (rcpts.empty()) {
            out += "554 5.5.1 Error: no valid recipients\r\n";
            break;
          }
          out += "354 End data with <CR><LF>.<CR><LF>\r\n";
          data = std::make_unique<DataReader>(DataLimits{64 * 1024 * 1024, 64 * 1024 * 1024, 1024 * 1024, true});
          in_data = true;
          break;
        case Verb::Rset: from.clear(); rcpts.clear(); out += "250 2.0.0 Ok\r\n"; break;
        case Verb::Noop: out += "250 2.0.0 Ok\r\n"; break;
        case Verb::Quit:
          out += "221 2.0.0 Bye\r\n";
          co_await flush();
          co_return;
        default:
          if (iequals(c.verb_text, "XFORWARD")) {
            client = c.arg;
            out += "250 2.0.0 Ok\r\n";
          } else {
            out += "502 5.5.1 Error: command not implemented\r\n";
          }
      }
      continue;
    }
    if (!co_await flush()) co_return;
    std::size_t n = co_await s.read_some(buf, sizeof buf, ec);
    if (ec) co_return;
    in.append(buf, n);
  }
}

}  // namespace mxgate
