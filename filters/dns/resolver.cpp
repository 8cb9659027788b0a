#include "filters/dns/resolver.hpp"

#include <ares.h>
#include <arpa/nameser.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <map>
#include <unordered_map>
#include <mutex>
#include <optional>

#include "filters/config_node.hpp"

namespace mxgate {
namespace asio = boost::asio;
using namespace std::chrono_literals;

const char* dns_status_name(DnsStatus s) {
  switch (s) {
    case DnsStatus::Answer: return "answer";
    case DnsStatus::NxDomain: return "nxdomain";
    case DnsStatus::NoData: return "nodata";
    case DnsStatus::ServFail: return "servfail";
    case DnsStatus::Timeout: return "timeout";
    case DnsStatus::Error: return "error";
  }
  return "?";
}

void read_dns_config(ConfigMap& m, DnsConfig& out) {
  m.get("nameservers", out.nameservers);
  for (const auto& ns : out.nameservers) {
    std::string host;
    std::uint16_t port;
    if (!parse_host_port(ns, host, port)) m.error("nameservers", "expected host:port, e.g. 127.0.0.1:53 (got \"" + ns + "\")");
  }
  m.get_duration("timeout", out.timeout, 50ms, 60'000ms);
  std::uint64_t attempts = out.attempts;
  m.get_uint("attempts", attempts, 1, 10);
  out.attempts = static_cast<unsigned>(attempts);
  m.get_size("cache_size", out.cache_size, 0, 10'000'000);
}

// ---------------------------------------------------------------- cache

bool DnsCache::get(const std::string& key, DnsResult& out) {
  std::lock_guard lock(mu_);
  auto it = map_.find(key);
  if (it == map_.end()) return false;
  if (Clock::now() >= it->second.expires) {
    order_.erase(it->second.order);
    map_.erase(it);
    return false;
  }
  out = it->second.result;
  out.from_cache = true;
  out.ttl = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(it->second.expires - Clock::now()).count());
  return true;
}

void DnsCache::put(const std::string& key, const DnsResult& r, std::chrono::seconds ttl) {
  if (max_ == 0 || ttl.count() <= 0) return;
  std::lock_guard lock(mu_);
  if (auto it = map_.find(key); it != map_.end()) {
    order_.erase(it->second.order);
    map_.erase(it);
  }
  while (map_.size() >= max_ && !order_.empty()) {
    map_.erase(order_.front());
    order_.pop_front();
  }
  order_.push_back(key);
  map_[key] = Entry{r, Clock::now() + ttl, std::prev(order_.end())};
}

std::size_t DnsCache::size() const {
  std::lock_guard lock(mu_);
  return map_.size();
}

// ---------------------------------------------------------------- resolver

namespace {
std::once_flag g_ares_init;

struct Pending {
  explicit Pending(const Executor& ex) : wake(ex) {}
  asio::steady_timer wake;
  std::optional<DnsResult> result;
  RrType type;
};
}  // namespace

struct Resolver::Impl : std::enable_shared_from_this<Resolver::Impl> {
  Impl(Executor e, std::shared_ptr<const DnsConfig> c, std::shared_ptr<DnsCache> k)
      : ex(std::move(e)), cfg(std::move(c)), cache(std::move(k)), timer(ex) {}

  Executor ex;
  std::shared_ptr<const DnsConfig> cfg;
  std::shared_ptr<DnsCache> cache;
  ares_channel channel = nullptr;
  asio::steady_timer timer;
  std::string init_error;
  bool closed = false;

  // One per socket c-ares has open; `alive` goes false when c-ares closes it.
  struct Socket {
    explicit Socket(const Executor& e, int fd) : desc(e, fd) {}
    asio::posix::stream_descriptor desc;
    bool want_read = false, want_write = false;
    bool reading = false, writing = false;
    bool alive = true;
  };
  std::map<int, std::shared_ptr<Socket>> sockets;
  // Queries on the wire, by cache key: a second asker for the same name and type
  // (two sessions, or a prefetch and the filter that needs the answer) waits for
  // the first one's answer instead of sending its own.
  std::unordered_map<std::string, std::weak_ptr<Pending>> inflight;

  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    auto* self = static_cast<Impl*>(data);
    if (!readable && !writable) {
      if (auto it = self->sockets.find(fd); it != self->sockets.end()) {
        it->second->alive = false;
        it->second->desc.release();  // c-ares closes the fd itself
        self->sockets.erase(it);
      }
      return;
    }
    auto& s = self->sockets[fd];
    if (!s) s = std::make_shared<Socket>(self->ex, fd);
    s->want_read = readable;
    s->want_write = writable;
    self->watch(s, fd);
  }

  void watch(const std::shared_ptr<Socket>& s, int fd) {
    auto self = shared_from_this();
    if (s->want_read && !s->reading) {
      s->reading = true;
      s->desc.async_wait(asio::posix::stream_descriptor::wait_read,
                         [self, s, fd](const boost::system::error_code& ec) {
                           s->reading = false;
                           if (ec || !s->alive || self->closed) return;
                           ares_process_fd(self->channel, fd, ARES_SOCKET_BAD);
                           if (s->alive) self->watch(s, fd);
                           self->schedule();
                         });
    }
    if (s->want_write && !s->writing) {
      s->writing = true;
      s->desc.async_wait(asio::posix::stream_descriptor::wait_write,
                         [self, s, fd](const boost::system::error_code& ec) {
                           s->writing = false;
                           if (ec || !s->alive || self->closed) return;
                           ares_process_fd(self->channel, ARES_SOCKET_BAD, fd);
                           if (s->alive) self->watch(s, fd);
                           self->schedule();
                         });
    }
  }

  // Wakes c-ares when its next retry or timeout is due.
  void schedule() {
    if (closed) return;
    timeval tv{}, *tvp = ares_timeout(channel, nullptr, &tv);
    if (!tvp) {  // nothing pending: no wake-up left armed (it would keep the loop busy)
      timer.cancel();
      return;
    }
    timer.expires_after(std::chrono::seconds(tvp->tv_sec) + std::chrono::microseconds(tvp->tv_usec));
    auto self = shared_from_this();
    timer.async_wait([self](const boost::system::error_code& ec) {
      if (ec || self->closed) return;
      ares_process_fd(self->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      self->schedule();
    });
  }

  static void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    std::unique_ptr<std::shared_ptr<Pending>> holder(static_cast<std::shared_ptr<Pending>*>(arg));
    Pending& p = **holder;
    DnsResult r;
    ParsedAnswer a;
    if (abuf && alen > 0) a = parse_dns_answer(abuf, static_cast<std::size_t>(alen), p.type);
    switch (status) {
      case ARES_SUCCESS:
        if (!a.ok) {
          r.status = DnsStatus::Error;
          r.error = a.error;
        } else if (a.records.empty()) {
          r.status = DnsStatus::NoData;
          r.ttl = a.negative_ttl;
        } else {
          r.status = DnsStatus::Answer;
          r.records = std::move(a.records);
          r.ttl = a.ttl;
        }
        break;
      case ARES_ENODATA:
        r.status = DnsStatus::NoData;
        r.ttl = a.ok ? a.negative_ttl : 0;
        break;
      case ARES_ENOTFOUND:
        r.status = DnsStatus::NxDomain;
        r.ttl = a.ok ? a.negative_ttl : 0;
        break;
      case ARES_ESERVFAIL:
      case ARES_EREFUSED:
        r.status = DnsStatus::ServFail;
        r.error = ares_strerror(status);
        break;
      case ARES_ETIMEOUT:
      case ARES_ECONNREFUSED:
        r.status = DnsStatus::Timeout;
        r.error = ares_strerror(status);
        break;
      default:
        r.status = DnsStatus::Error;
        r.error = ares_strerror(status);
    }
    p.result = std::move(r);
    p.wake.cancel();
  }
};

Resolver::Resolver(Executor ex, std::shared_ptr<const DnsConfig> cfg, std::shared_ptr<DnsCache> cache)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(cfg), std::move(cache))) {
  std::call_once(g_ares_init, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  ares_options opts{};
  opts.sock_state_cb = &Impl::on_sock_state;
  opts.sock_state_cb_data = impl_.get();
  opts.timeout = static_cast<int>(impl_->cfg->timeout.count());
  opts.tries = static_cast<int>(impl_->cfg->attempts);
  // NOCHECKRESP: hand SERVFAIL/REFUSED back to us as such; without it c-ares turns
  // them into a connection error, which a caller cannot tell from a timeout.
  opts.flags = ARES_FLAG_NOCHECKRESP;
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS;
  if (int rc = ares_init_options(&impl_->channel, &opts, mask); rc != ARES_SUCCESS) {
    impl_->init_error = std::string("c-ares init: ") + ares_strerror(rc);
    impl_->channel = nullptr;
    return;
  }
  if (!impl_->cfg->nameservers.empty()) {
    std::string csv;
    for (const auto& ns : impl_->cfg->nameservers) csv += (csv.empty() ? "" : ",") + ns;
    if (int rc = ares_set_servers_ports_csv(impl_->channel, csv.c_str()); rc != ARES_SUCCESS)
      impl_->init_error = "dns.nameservers: " + std::string(ares_strerror(rc));
  }
}

Resolver::~Resolver() {
  impl_->closed = true;
  impl_->timer.cancel();
  if (impl_->channel) ares_destroy(impl_->channel);  // answers pending queries with ARES_EDESTRUCTION
  for (auto& [fd, s] : impl_->sockets) {
    s->alive = false;
    s->desc.release();
  }
  impl_->sockets.clear();
}

const std::string& Resolver::init_error() const { return impl_->init_error; }

Task<DnsResult> Resolver::query(const std::string& name, RrType type) {
  auto impl = impl_;
  std::string key = name;
  for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!key.empty() && key.back() == '.') key.pop_back();
  key += "/";
  key += rr_type_name(type);
  DnsResult cached;
  if (impl->cache && impl->cache->get(key, cached)) co_return cached;
  if (!impl->channel || !impl->init_error.empty()) {
    DnsResult r;
    r.status = DnsStatus::Error;
    r.error = impl->init_error.empty() ? "resolver not initialised" : impl->init_error;
    co_return r;
  }
  if (auto it = impl->inflight.find(key); it != impl->inflight.end()) {
    if (auto first = it->second.lock(); first && !first->result) {
      boost::system::error_code ec;
      co_await first->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      DnsResult shared = first->result ? *first->result : DnsResult{};
      co_return shared;
    }
  }
  auto pending = std::make_shared<Pending>(impl->ex);
  pending->type = type;
  pending->wake.expires_at(asio::steady_timer::time_point::max());
  impl->inflight[key] = pending;
  ares_query(impl->channel, name.c_str(), ns_c_in, static_cast<int>(type), &Impl::on_answer,
             new std::shared_ptr<Pending>(pending));
  impl->schedule();
  if (!pending->result) {
    boost::system::error_code ec;
    co_await pending->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (auto it = impl->inflight.find(key); it != impl->inflight.end() && it->second.lock() == pending)
    impl->inflight.erase(it);
  DnsResult r = pending->result ? *pending->result : DnsResult{};
  if (impl->cache) {
    auto ttl = std::chrono::seconds(std::min<std::uint32_t>(r.ttl, static_cast<std::uint32_t>(impl->cfg->max_ttl.count())));
    if (r.status == DnsStatus::Answer || r.status == DnsStatus::NxDomain || r.status == DnsStatus::NoData)
      impl->cache->put(key, r, ttl);
  }
  co_return r;
}

}  // namespace mxgate
