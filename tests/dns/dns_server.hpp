// TestDnsServer: starts a Python DNS server (dnslib) on 127.0.0.1 for one test and
// stops it with the test, so no test ever asks the system resolver.
#pragma once
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace mxgate::testing {

inline int free_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t l = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &l);
  close(s);
  return ntohs(a.sin_port);
}

inline bool tcp_up(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(s);
  return ok;
}

class TestDnsServer {
 public:
  // Runs /usr/bin/python3 SCRIPT ARGS... PORT-substituted: "{port}" in args is replaced.
  // The server must listen on TCP too (readiness is a TCP connect).
  bool start(const std::string& script, std::vector<std::string> args) {
    port_ = free_port();
    std::vector<std::string> all{"/usr/bin/python3", script};
    for (auto& a : args) all.push_back(a == "{port}" ? std::to_string(port_) : a);
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return false;
    for (int i = 0; i < 200 && !tcp_up(port_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return tcp_up(port_);
  }
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  ~TestDnsServer() { stop(); }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace mxgate::testing
