// Server: the listeners, the worker threads, connection limits, and the signals
// (SIGTERM/SIGINT: stop accepting, let transactions finish up to shutdown_timeout;
// SIGHUP: reload the config file, keeping the running config if the new one is bad).
#pragma once
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <map>
#include <memory>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/task.hpp"
#include "proxy/config.hpp"
#include "proxy/server_context.hpp"

namespace mxgate {

class Session;

class Server {
 public:
  // `config_path` is re-read on SIGHUP; empty for the embedded config (no reload).
  Server(ConfigPtr cfg, std::string config_path);
  ~Server();

  // Binds every `listen` address; false (and *err) if one cannot be bound.
  bool bind(std::string* err);
  // The ports actually bound (useful with port 0 in tests), in `listen` order.
  std::vector<std::uint16_t> ports() const;
  // Starts accepting on `workers` threads and returns.
  void start();
  // Installs SIGTERM/SIGINT/SIGHUP handling; call before bind() so no signal can
  // arrive with its default action once we are listening.
  void install_signals();
  // Blocks until SIGTERM/SIGINT has drained the server.
  void wait();
  // Stops accepting, drains, joins the threads. Safe to call more than once.
  void stop();
  // Loads the config file again, synchronously: true if the new config was loaded.
  bool reload();
  // Makes `next` the config of new sessions (sessions in flight keep theirs).
  void install(ConfigPtr next);
  // Start-up could not wait for the rules to compile (proxy/main.cpp): runs `load`
  // on the reload thread and installs its config when it is ready; a failure is
  // logged and the running (builtin) rules stay. SIGHUPs meanwhile follow it.
  void load_in_background(std::function<Result<ConfigPtr>()> load);
  // True while that start-up load is still compiling.
  bool startup_loading() const { return startup_loading_; }
  // SIGHUP: reload() on a thread of its own, so compiling a large rule set never
  // holds the listeners or a session worker; SIGHUPs during a reload coalesce into
  // one more reload after it.
  void request_reload();
  ConfigPtr config() const;
  ServerContext& context() { return *ctx_; }
  boost::asio::io_context& io() { return ioc_; }
  std::size_t workers() const { return workers_.size(); }

 private:
  Task<void> accept_loop(boost::asio::ip::tcp::acceptor& acc);
  void admit(boost::asio::ip::tcp::socket sock);
  // The connection limit in force: smtp.max_connections, or fewer if the open-file
  // limit allows fewer.
  std::size_t max_sessions(const Config& cfg) const;
  void update_stress(const Config& cfg);  // under mu_
  bool evict_oldest_idle();               // under mu_
  void begin_shutdown();
  Task<void> drain();
  Task<void> retention_loop();
  void on_signal(const boost::system::error_code& ec, int sig);

  // One io_context per worker thread: a session lives on one of them for its whole
  // life, so its handlers never wake another thread (measured: a shared io_context
  // run by two threads spent most of its time in futex and wake-up calls).
  // ioc_ runs the listeners, signals and the drain, on a thread of its own. Declared after workers_ on
  // purpose: members die in reverse order, and an accept pending on ioc_ holds a
  // socket of a worker's context, so the workers must outlive ioc_ (ASan caught it).
  std::vector<std::unique_ptr<boost::asio::io_context>> workers_;  // the others
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards_;
  // One resolver per worker (c-ares channels are single-threaded), all sharing one
  // cache; a session gets the one of the worker it runs on.
  std::shared_ptr<DnsCache> dns_cache_;
  std::unordered_map<const boost::asio::execution_context*, std::shared_ptr<Resolver>> resolvers_;
  boost::asio::io_context ioc_{1};
  // Keeps ioc_ running until the drain has finished, even once the listeners are
  // closed and nothing else is queued on it.
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> ioc_guard_;
  // quarantine.retention's hourly purge; on ioc_, so declared after it (dies first).
  std::unique_ptr<boost::asio::steady_timer> retention_timer_;
  std::size_t next_worker_ = 0;
  boost::asio::io_context& next_context();
  std::unique_ptr<boost::asio::signal_set> signals_;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::vector<std::thread> threads_;
  std::shared_ptr<ServerContext> ctx_;
  std::string config_path_;
  mutable std::mutex mu_;  // guards everything below
  ConfigPtr cfg_;
  const std::size_t fd_sessions_;  // sessions the open-file limit allows
  std::size_t active_ = 0;
  std::unordered_map<std::string, std::size_t> per_ip_;
  std::map<Session*, std::weak_ptr<Session>> sessions_;
  bool stopping_ = false;
  bool joined_ = false;
  // The reload thread (request_reload).
  void reloads_pending();
  std::atomic<bool> startup_loading_{false};
  std::mutex reload_mu_;
  std::thread reload_thread_;
  bool reload_running_ = false;
  bool reload_pending_ = false;
  void join_reload();
};

// Sets up spdlog from cfg.log and returns the transaction logger (null if off).
std::shared_ptr<spdlog::logger> setup_logging(const Config& cfg);

}  // namespace mxgate
