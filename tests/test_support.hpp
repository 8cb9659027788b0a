// Helpers shared by the in-process session tests: a demo sink on 127.0.0.1:0 in its
// own thread, storing messages in a temporary folder.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "proxy/sink.hpp"

namespace mxgate {

class SinkThread {
  static int& counter() {
    static int n = 0;
    return n;
  }

 public:
  SinkThread() : dir_(std::filesystem::temp_directory_path() / ("mxgate-test-sink-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++))) {
    sink_ = std::make_unique<Sink>(ioc_, dir_.string());
    std::string err;
    if (!sink_->bind("127.0.0.1", 0, &err)) throw std::runtime_error(err);
    sink_->start();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~SinkThread() {
    ioc_.stop();
    thread_.join();
    std::filesystem::remove_all(dir_);
  }
  std::uint16_t port() const { return sink_->port(); }
  // The stored messages, oldest first.
  std::vector<std::string> messages() const {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir_))
      if (e.path().extension() == ".eml") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::vector<std::string> out;
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::ostringstream ss;
      ss << in.rdbuf();
      out.push_back(ss.str());
    }
    return out;
  }
  std::size_t stored() const {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) n += e.path().extension() == ".eml";
    return n;
  }

 private:
  boost::asio::io_context ioc_;
  std::filesystem::path dir_;
  std::unique_ptr<Sink> sink_;
  std::thread thread_;
};

}  // namespace mxgate
