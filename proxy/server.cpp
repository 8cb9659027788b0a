#include "proxy/server.hpp"

#include <sys/resource.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "base/work_pool.hpp"
#include "proxy/downstream.hpp"
#include "proxy/listen.hpp"
#include "proxy/session.hpp"
#include "base/address.hpp"

namespace mxgate {
namespace asio = boost::asio;
using asio::ip::tcp;

std::shared_ptr<spdlog::logger> setup_logging(const Config& cfg) {
  auto main = spdlog::get("mxgate");
  if (!main) {
    main = spdlog::stderr_logger_mt("mxgate");
    main->set_pattern("%Y-%m-%dT%H:%M:%S.%e mxgate[%P] %l: %v");
    spdlog::set_default_logger(main);
  }
  spdlog::set_level(spdlog::level::from_str(cfg.log.level));
  const std::string& t = cfg.log.transactions;
  if (t == "off") return nullptr;
  std::string name = "txn:" + t;
  if (auto existing = spdlog::get(name)) return existing;
  std::shared_ptr<spdlog::logger> txn;
  try {
    if (t == "stderr") txn = spdlog::stderr_logger_mt(name);
    else if (t == "stdout") txn = spdlog::stdout_logger_mt(name);
    else if (cfg.log.max_size == 0) txn = spdlog::basic_logger_mt(name, t);
    // Rotated by size: transactions.jsonl -> transactions.1.jsonl ... .<max_files>.jsonl (oldest dropped).
    else txn = spdlog::rotating_logger_mt(name, t, cfg.log.max_size, cfg.log.max_files);
  } catch (const spdlog::spdlog_ex& e) {
    spdlog::error("cannot open transaction log {}: {}", t, e.what());
    return nullptr;
  }
  txn->set_pattern("%v");
  txn->set_level(spdlog::level::info);
  txn->flush_on(spdlog::level::info);
  return txn;
}

namespace {
// Raises the open-file limit to its hard limit (a shell's default soft limit, 1024,
// would stop mxgate near 500 sessions) and returns how many sessions it allows:
// each may hold two descriptors, and kReservedFds stay for everything else.
std::size_t sessions_the_fd_limit_allows() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return SIZE_MAX;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit up = rl;
    up.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;
  }
  if (rl.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  return rl.rlim_cur > kReservedFds ? (rl.rlim_cur - kReservedFds) / 2 : 1;
}
}  // namespace

Server::Server(ConfigPtr cfg, std::string config_path)
    : ctx_(std::make_shared<ServerContext>()), config_path_(std::move(config_path)),
      cfg_(std::move(cfg)), fd_sessions_(sessions_the_fd_limit_allows()) {
  ctx_->txn_log = setup_logging(*cfg_);
  if (cfg_->limits.max_connections > fd_sessions_)
    spdlog::warn("smtp.max_connections is {} but the open-file limit allows {} sessions: at most {} (raise LimitNOFILE / ulimit -n)",
                 cfg_->limits.max_connections, fd_sessions_, fd_sessions_);
}

Server::~Server() { stop(); }

ConfigPtr Server::config() const {
  std::lock_guard lock(mu_);
  return cfg_;
}

bool Server::bind(std::string* err) {
  for (const auto& ep : cfg_->listen) {
    auto acc = listen_on(ioc_, ep.host, ep.port, err);
    if (!acc) {
      *err = "listen " + *err;
      return false;
    }
    acceptors_.push_back(std::move(acc));
  }
  return true;
}

std::vector<std::uint16_t> Server::ports() const {
  std::vector<std::uint16_t> out;
  for (const auto& a : acceptors_) {
    boost::system::error_code ec;
    out.push_back(a->local_endpoint(ec).port());
  }
  return out;
}

void Server::start() {
  for (auto& acc : acceptors_) {
    spdlog::info("listening on {}", acc->local_endpoint().address().to_string() + ":" +
                                        std::to_string(acc->local_endpoint().port()));
    asio::co_spawn(ioc_, accept_loop(*acc), asio::detached);
  }
  // Learn the downstream's SIZE before the first client asks (and say early if it is down).
  auto probe_cfg = cfg_;
  asio::co_spawn(
      ioc_,
      [this, probe_cfg]() -> Task<void> {
        auto d = std::make_shared<Downstream>(ioc_.get_executor(), probe_cfg, "startup");
        auto fail = co_await d->probe();
        if (fail) spdlog::warn("downstream {} not answering yet: mail will be tempfailed until it does",
                               probe_cfg->downstream.address.str());
        else spdlog::info("downstream {} ready (SIZE {})", probe_cfg->downstream.address.str(),
                          d->caps().size ? std::to_string(d->caps().max_size) : "not announced");
        Downstream::retire(d);
      },
      asio::detached);
  retention_timer_ = std::make_unique<asio::steady_timer>(ioc_);
  asio::co_spawn(ioc_, retention_loop(), asio::detached);
  std::size_t n = cfg_->workers ? cfg_->workers : std::max(1u, std::thread::hardware_concurrency());
  for (std::size_t i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<asio::io_context>(1));
    guards_.push_back(asio::make_work_guard(*workers_.back()));
  }
  dns_cache_ = std::make_shared<DnsCache>(cfg_->dns->cache_size);
  for (auto& w : workers_) {
    auto r = std::make_shared<Resolver>(w->get_executor(), cfg_->dns, dns_cache_);
    if (!r->init_error().empty()) spdlog::error("dns: {}: lookups will fail (temperror)", r->init_error());
    resolvers_[w.get()] = std::move(r);
  }
  // The listeners' thread serves no session, so a session busy with a slow filter
  // can never hold up accepting, signals or the shutdown drain.
  ioc_guard_.emplace(asio::make_work_guard(ioc_));
  threads_.emplace_back([this] { ioc_.run(); });
  for (auto& w : workers_) threads_.emplace_back([ctx = w.get()] { ctx->run(); });
}

asio::io_context& Server::next_context() {
  return *workers_[next_worker_++ % workers_.size()];
}

Task<void> Server::accept_loop(tcp::acceptor& acc) {
  asio::steady_timer backoff(ioc_);
  while (acc.is_open()) {
    boost::system::error_code ec;
    // Each context is run by exactly one thread, so the session needs no strand.
    Executor ex = next_context().get_executor();
    tcp::socket sock = co_await acc.async_accept(ex, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acc.is_open()) break;
      // EMFILE and friends: do not spin; try again shortly.
      spdlog::error("accept failed: {}", ec.message());
      backoff.expires_after(kAcceptBackoff);
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    admit(std::move(sock));
  }
}

namespace {
// A refused connection gets its 421 and is closed; a client that does not read gets
// kLastReplyTimeout. The socket is shared with the timer's handler so neither outlives it.
Task<void> refuse(tcp::socket sock_in, std::string wire) {
  auto sock = std::make_shared<tcp::socket>(std::move(sock_in));
  boost::system::error_code ec;
  asio::steady_timer t(sock->get_executor());
  t.expires_after(kLastReplyTimeout);
  t.async_wait([sock](const boost::system::error_code& e) {
    if (!e) {
      boost::system::error_code ignored;
      sock->close(ignored);
    }
  });
  co_await asio::async_write(*sock, asio::buffer(wire), asio::redirect_error(asio::use_awaitable, ec));
  t.cancel();
  sock->close(ec);
}
}  // namespace

namespace {
// A front MTA allowed to use XCLIENT speaks for many clients: like Postfix's
// smtpd_client_event_limit_exceptions, it is not held to the per-IP limit.
bool trusted_front(const Config& cfg, const std::string& ip) {
  for (const auto& net : cfg.xclient_trusted)
    if (net.contains(ip)) return true;
  return false;
}
}  // namespace

std::size_t Server::max_sessions(const Config& cfg) const {
  return std::min(cfg.limits.max_connections, fd_sessions_);
}

// Under mu_. Stress starts at stress_threshold percent of the connection limit and
// ends below it; sessions read ctx_->stressed whenever they arm a wait.
void Server::update_stress(const Config& cfg) {
  const std::size_t max = max_sessions(cfg);
  const std::size_t at = std::max<std::size_t>(1, (max * cfg.limits.stress_threshold + 99) / 100);
  const bool now = active_ >= at;
  if (now == ctx_->stressed.load()) return;
  ctx_->stressed = now;
  if (now) {
    ctx_->counters.stress_periods++;
    spdlog::warn("stress: {} of {} connections open: waiting {} ms for a command, {} error(s) per session",
                 active_, max, std::min(cfg.limits.command_timeout, cfg.limits.stress_command_timeout).count(),
                 std::min(cfg.limits.max_errors, cfg.limits.stress_max_errors));
  } else {
    spdlog::info("stress over: {} of {} connections open", active_, max);
  }
}

// Under mu_, at the connection limit: asks the session that has waited longest for
// a command (outside a transaction, at least kMinIdleToEvict) to close. False if
// there is none.
bool Server::evict_oldest_idle() {
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  const auto min_idle = std::chrono::duration_cast<std::chrono::steady_clock::duration>(kMinIdleToEvict).count();
  std::shared_ptr<Session> oldest;
  std::int64_t since = 0;
  for (const auto& [raw, weak] : sessions_) {
    const std::int64_t t = raw->idle_since();
    if (t == 0 || now - t < min_idle || (oldest && t >= since)) continue;
    if (auto s = weak.lock()) {
      oldest = std::move(s);
      since = t;
    }
  }
  if (!oldest) return false;
  oldest->evict();
  return true;
}

void Server::admit(tcp::socket sock) {
  boost::system::error_code ec;
  auto remote = sock.remote_endpoint(ec);
  if (ec) return;  // already gone
  std::string ip = unmapped(remote.address()).to_string();
  ConfigPtr cfg;
  std::string refusal;
  {
    std::lock_guard lock(mu_);
    cfg = cfg_;
    const std::size_t max = max_sessions(*cfg);
    // While evicted sessions finish their 421, a few more may be open than the
    // limit; never more than this.
    const std::size_t slack = max / 100 + 10;
    if (stopping_) {
      refusal = "421 4.3.2 " + shutting_down_text(cfg->hostname) + "\r\n";
    } else if (per_ip_[ip] >= cfg->limits.max_connections_per_ip && !trusted_front(*cfg, ip)) {
      ctx_->counters.refused_max_connections_per_ip++;
      refusal = "421 4.7.0 " + cfg->hostname + " Error: too many connections from " + ip + "\r\n";
    } else if (active_ >= max && (active_ >= max + slack || !evict_oldest_idle())) {
      ctx_->counters.refused_max_connections++;
      refusal = "421 4.7.0 " + cfg->hostname + " Error: too many connections\r\n";
    } else {
      ++active_;
      ++per_ip_[ip];
      update_stress(*cfg);
    }
    if (!refusal.empty() && per_ip_[ip] == 0) per_ip_.erase(ip);
  }
  if (!refusal.empty()) {
    spdlog::info("refused connection from {}: {}", ip, refusal.substr(10, refusal.size() - 12));
    auto ex = sock.get_executor();
    asio::co_spawn(ex, refuse(std::move(sock), std::move(refusal)), asio::detached);
    return;
  }
  auto ex = sock.get_executor();
  auto found = resolvers_.find(&asio::query(ex, asio::execution::context));
  std::shared_ptr<DnsLookup> dns;
  if (found != resolvers_.end()) dns = found->second;
  auto session = std::make_shared<Session>(std::move(sock), remote, cfg, ctx_, std::move(dns));
  {
    std::lock_guard lock(mu_);
    sessions_[session.get()] = session;
  }
  asio::co_spawn(ex, session->run(), [this, session, ip, cfg](std::exception_ptr) {
    std::lock_guard lock(mu_);
    sessions_.erase(session.get());
    --active_;
    if (--per_ip_[ip] == 0) per_ip_.erase(ip);
    update_stress(*cfg);
  });
}

bool Server::reload() {
  if (config_path_.empty()) {
    spdlog::warn("SIGHUP: running on the embedded config, nothing to reload");
    return false;
  }
  auto r = load_config_file(config_path_);
  if (!r.ok()) {
    for (const auto& e : r.errors) spdlog::error("reload: {}", e.str());
    spdlog::error("reload of {} failed: keeping the running configuration", config_path_);
    return false;
  }
  install(*r.value);
  spdlog::info("reloaded {}: new sessions use it, sessions in flight keep theirs", config_path_);
  return true;
}

void Server::install(ConfigPtr next) {
  {
    std::lock_guard lock(mu_);
    auto same_listen = next->listen.size() == cfg_->listen.size();
    for (std::size_t i = 0; same_listen && i < next->listen.size(); ++i)
      same_listen = next->listen[i].str() == cfg_->listen[i].str();
    if (!same_listen) spdlog::warn("reload: listen addresses change only on restart");
    if (next->workers != cfg_->workers) spdlog::warn("reload: workers changes only on restart");
    if (next->dns->nameservers != cfg_->dns->nameservers || next->dns->timeout != cfg_->dns->timeout ||
        next->dns->attempts != cfg_->dns->attempts || next->dns->cache_size != cfg_->dns->cache_size)
      spdlog::warn("reload: dns.* changes only on restart");
    if (next->log.transactions != cfg_->log.transactions)
      spdlog::warn("reload: log.transactions changes only on restart");
    cfg_ = next;
  }
  spdlog::set_level(spdlog::level::from_str(next->log.level));
}

void Server::load_in_background(std::function<Result<ConfigPtr>()> load) {
  std::lock_guard lock(reload_mu_);
  if (reload_thread_.joinable()) reload_thread_.join();
  reload_running_ = true;
  startup_loading_ = true;
  reload_thread_ = std::thread([this, load = std::move(load)] {
    auto r = load();
    startup_loading_ = false;
    if (r.ok()) {
      install(*r.value);
      spdlog::info("content rules compiled: new sessions use the full rule set");
    } else {
      for (const auto& e : r.errors) spdlog::error("startup: {}", e.str());
      spdlog::error("the configured rules did not load: serving with the builtin rules until a reload succeeds");
    }
    reloads_pending();
  });
}

// On the reload thread: the SIGHUPs that arrived while it was busy, as one more reload.
void Server::reloads_pending() {
  std::unique_lock l(reload_mu_);
  while (reload_pending_) {
    reload_pending_ = false;
    l.unlock();
    reload();
    l.lock();
  }
  reload_running_ = false;
}

void Server::request_reload() {
  std::lock_guard lock(reload_mu_);
  if (reload_running_) {
    reload_pending_ = true;
    spdlog::info("SIGHUP: a reload is running; another follows it");
    return;
  }
  if (reload_thread_.joinable()) reload_thread_.join();  // the previous one has finished
  reload_running_ = true;
  reload_thread_ = std::thread([this] {
    reload();
    reloads_pending();
  });
}

void Server::join_reload() {
  std::thread t;
  {
    std::lock_guard lock(reload_mu_);
    t = std::move(reload_thread_);
    reload_pending_ = false;
  }
  if (t.joinable()) t.join();
}

// quarantine.retention: at start and every hour, messages older than the retention
// are purged, on the work pool (it deletes files and rows) — the
// config read each time, so a reload that changes the retention applies.
Task<void> Server::retention_loop() {
  while (true) {
    ConfigPtr cfg = config();
    if (cfg->quarantine_store && cfg->quarantine.retention.count() > 0) {
      auto store = cfg->quarantine_store;
      const auto keep = cfg->quarantine.retention;
      auto purge = [store, keep] {
        std::string err;
        const auto before = static_cast<std::int64_t>(std::time(nullptr)) - static_cast<std::int64_t>(keep.count());
        std::size_t n = store->purge(before, &err);
        if (!err.empty()) spdlog::error("quarantine retention: {}", err);
        else if (n) spdlog::info("quarantine retention: purged {} message{} older than {}s", n, n == 1 ? "" : "s",
                                 keep.count());
      };
      // Deleting files and rows is slow disk work: never on a session worker.
      if (!cfg->work_pool || !cfg->work_pool->try_submit(purge))
        spdlog::warn("quarantine retention: work pool queue full; trying again in an hour");
    }
    boost::system::error_code ec;
    retention_timer_->expires_after(kRetentionInterval);
    co_await retention_timer_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec || ctx_->draining) co_return;
  }
}

void Server::begin_shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  ctx_->draining = true;
  asio::post(ioc_, [this] {
    for (auto& acc : acceptors_) {
      boost::system::error_code ec;
      acc->close(ec);
    }
    if (retention_timer_) retention_timer_->cancel();
  });
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu_);
    for (auto& [p, w] : sessions_)
      if (auto s = w.lock()) live.push_back(s);
  }
  spdlog::info("shutting down: {} sessions open, waiting up to {}ms for transactions to finish",
               live.size(), config()->shutdown_timeout.count());
  for (auto& s : live) s->shutdown();
  asio::co_spawn(ioc_, drain(), asio::detached);
}

Task<void> Server::drain() {
  auto deadline = std::chrono::steady_clock::now() + config()->shutdown_timeout;
  asio::steady_timer t(ioc_);
  bool aborted = false;
  while (true) {
    std::size_t n;
    {
      std::lock_guard lock(mu_);
      n = active_;
    }
    if (n == 0) break;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline && !aborted) {
      spdlog::warn("shutdown deadline passed: closing {} sessions", n);
      std::lock_guard lock(mu_);
      for (auto& [p, w] : sessions_)
        if (auto s = w.lock()) s->abort();
      aborted = true;
      deadline = now + kAbortGrace;
    } else if (now >= deadline) {
      break;
    }
    t.expires_after(kShutdownPoll);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  // Scans and quarantine stores still on the work pool hand their results back to
  // the workers: let them finish before the workers stop.
  quiesce_work_pool();
  spdlog::info("stopped: {}", ctx_->counters.summary());
  for (auto& g : guards_) g.reset();
  for (auto& w : workers_) w->stop();
  if (ioc_guard_) ioc_guard_->reset();
  ioc_.stop();
}

void Server::install_signals() {
  signals_ = std::make_unique<asio::signal_set>(ioc_, SIGTERM, SIGINT, SIGHUP);
  signals_->async_wait([this](const boost::system::error_code& ec, int sig) { on_signal(ec, sig); });
}

void Server::on_signal(const boost::system::error_code& ec, int sig) {
  if (ec) return;
  if (sig == SIGHUP) {
    request_reload();
  } else {
    spdlog::info("received {}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    begin_shutdown();
  }
  // Keep listening: a second SIGTERM during the drain must not kill us with the default action.
  signals_->async_wait([this](const boost::system::error_code& e, int s) { on_signal(e, s); });
}

void Server::wait() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  // A reload still compiling rules finishes first (it uses *this) -- except the
  // start-up compile, which the caller abandons by exiting (proxy/main.cpp).
  if (!startup_loading_) join_reload();
  joined_ = true;
}

void Server::stop() {
  if (joined_) return;
  begin_shutdown();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  join_reload();
  joined_ = true;
}

}  // namespace mxgate
