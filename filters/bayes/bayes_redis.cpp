// The Bayes store in Redis, for a farm of gateways that learn and classify as one
// (hiredis; Debian's redis-server). Everything under one key prefix:
//   PREFIX t     hash: token (8 bytes) -> "SPAM HAM ATIME"
//   PREFIX seen  hash: learned-message id -> "s ATIME" / "h ATIME"
//   PREFIX vars  hash: nspam, nham, generation, tokenizer
// A learn batch is one Lua script, so it is atomic as SQLite's transaction is:
// another gateway never sees half a batch, and two gateways learning at once never
// lose a count. The server still classifies against its in-memory copy, re-read
// (HSCAN) when `generation` moves, so a lookup never waits on the network.
// Expiry scans the tokens and deletes the least recently learned; a token learned
// during that scan may lose its newest count (rare; it is learned again).
#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "filters/bayes/bayes_store.hpp"

namespace mxgate::bayes {
namespace {

// The learn batch: ARGV = now, tokenizer, forget, then per item: id, "s"/"h",
// token count, the tokens. Returns one status per item (see LearnStatus).
constexpr std::size_t kTokensPerScript = 50'000;

constexpr const char* kLearnScript = R"LUA(
local tk, seenk, varsk = KEYS[1], KEYS[2], KEYS[3]
local now, tokenizer, forget = tonumber(ARGV[1]), ARGV[2], ARGV[3] == '1'
local nspam = tonumber(redis.call('HGET', varsk, 'nspam') or '0')
local nham = tonumber(redis.call('HGET', varsk, 'nham') or '0')
local out, changed, i = {}, false, 4
local function apply(first, n, spam, sign)
  for j = first, first + n - 1 do
    local tok = ARGV[j]
    local v = redis.call('HGET', tk, tok)
    local s, h, a = 0, 0, 0
    if v then
      local vs, vh, va = string.match(v, '^(%d+) (%d+) (%d+)$')
      s, h, a = tonumber(vs) or 0, tonumber(vh) or 0, tonumber(va) or 0
    end
    if spam then s = math.max(s + sign, 0) else h = math.max(h + sign, 0) end
    if sign > 0 and now > a then a = now end
    if s == 0 and h == 0 then redis.call('HDEL', tk, tok)
    else redis.call('HSET', tk, tok, s .. ' ' .. h .. ' ' .. a) end
  end
  if spam then nspam = math.max(nspam + sign, 0) else nham = math.max(nham + sign, 0) end
end
while i <= #ARGV do
  local id, spam, n = ARGV[i], ARGV[i + 1] == 's', tonumber(ARGV[i + 2])
  local first = i + 3
  local prev = redis.call('HGET', seenk, id)
  local known = prev and true or false
  local was_spam = known and string.sub(prev, 1, 1) == 's'
  if forget then
    if not known then table.insert(out, 4)
    else
      apply(first, n, was_spam, -1)
      redis.call('HDEL', seenk, id)
      table.insert(out, 3)
      changed = true
    end
  elseif known and was_spam == spam then
    table.insert(out, 2)
  else
    if known then apply(first, n, was_spam, -1) end
    apply(first, n, spam, 1)
    redis.call('HSET', seenk, id, (spam and 's ' or 'h ') .. now)
    table.insert(out, known and 1 or 0)
    changed = true
  end
  i = first + n
end
if changed then
  redis.call('HSET', varsk, 'nspam', nspam, 'nham', nham)
  redis.call('HINCRBY', varsk, 'generation', 1)
  if not redis.call('HGET', varsk, 'tokenizer') then redis.call('HSET', varsk, 'tokenizer', tokenizer) end
end
return out
)LUA";

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

std::string key_bytes(std::uint64_t t) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &t, 8);  // host order: every gateway of a farm is x86-64
  return s;
}

std::uint64_t token_of(const char* p, std::size_t n) {
  std::uint64_t t = 0;
  if (n == 8) std::memcpy(&t, p, 8);
  return t;
}

// "SPAM HAM ATIME"
bool parse_counts(const char* p, std::size_t n, std::uint64_t* s, std::uint64_t* h, std::int64_t* a) {
  std::string v(p, n);
  unsigned long long vs = 0, vh = 0;
  long long va = 0;
  if (std::sscanf(v.c_str(), "%llu %llu %lld", &vs, &vh, &va) != 3) return false;
  *s = vs;
  *h = vh;
  *a = va;
  return true;
}

class RedisStore final : public BayesStore {
 public:
  explicit RedisStore(RedisSettings s) : s_(std::move(s)) {}
  ~RedisStore() override {
    if (c_) redisFree(c_);
  }

  bool connect(std::string* error) {
    std::lock_guard lock(mu_);
    return ensure(error);
  }

  std::string describe() const override { return "redis " + s_.host + ":" + std::to_string(s_.port) + " " + s_.prefix; }

  bool learn(std::span<const LearnItem> items, bool forget, std::int64_t now, const std::string& tokenizer,
             std::vector<LearnStatus>* status, std::string* error) override {
    std::lock_guard lock(mu_);
    status->clear();
    // One script holds Redis for its whole run: batches go in pieces of about
    // kTokensPerScript tokens (each piece atomic; a message is never split).
    std::size_t first = 0;
    while (first < items.size()) {
      std::size_t last = first, tokens = 0;
      while (last < items.size() && (last == first || tokens + items[last].tokens.size() <= kTokensPerScript))
        tokens += items[last++].tokens.size();
      if (!learn_piece(items.subspan(first, last - first), forget, now, tokenizer, status, error)) return false;
      first = last;
    }
    return true;
  }

  bool learn_piece(std::span<const LearnItem> items, bool forget, std::int64_t now, const std::string& tokenizer,
                   std::vector<LearnStatus>* status, std::string* error) {
    std::vector<std::string> args = {"EVAL", kLearnScript, "3", key("t"), key("seen"), key("vars"),
                                     std::to_string(now), tokenizer, forget ? "1" : "0"};
    for (const auto& it : items) {
      args.push_back(it.msgid);
      args.push_back(it.spam ? "s" : "h");
      args.push_back(std::to_string(it.tokens.size()));
      for (std::uint64_t t : it.tokens) args.push_back(key_bytes(t));
    }
    Reply r = command(args, error);
    if (!r) return false;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != items.size()) return fail_reply(r.get(), error);
    for (std::size_t i = 0; i < r->elements; ++i) {
      static constexpr LearnStatus kStatus[] = {LearnStatus::Learned, LearnStatus::Relearned, LearnStatus::AlreadyLearned,
                                            LearnStatus::Forgotten, LearnStatus::NotLearned};
      long long v = r->element[i]->integer;
      status->push_back(v >= 0 && v <= 4 ? kStatus[v] : LearnStatus::NotLearned);
    }
    return true;
  }

  bool stats(StoreStats* out, std::string* error) override {
    std::lock_guard lock(mu_);
    *out = {};
    if (!read_vars(&out->totals, &out->generation, &out->tokenizer, error)) return false;
    Reply n = command({"HLEN", key("seen")}, error);
    if (!n) return false;
    out->messages_seen = static_cast<std::uint64_t>(n->integer);
    out->oldest_atime = 0;
    return scan_tokens(error, [&](std::uint64_t, std::uint64_t, std::uint64_t, std::int64_t a) {
      ++out->tokens;
      if (out->oldest_atime == 0 || a < out->oldest_atime) out->oldest_atime = a;
      out->newest_atime = std::max(out->newest_atime, a);
    });
  }

  bool generation(std::uint64_t* out, std::string* error) override {
    std::lock_guard lock(mu_);
    Reply r = command({"HGET", key("vars"), "generation"}, error);
    if (!r) return false;
    *out = r->type == REDIS_REPLY_STRING ? std::strtoull(r->str, nullptr, 10) : 0;
    return true;
  }

  bool tokenizer(std::string* out, std::string* error) override {
    std::lock_guard lock(mu_);
    Reply r = command({"HGET", key("vars"), "tokenizer"}, error);
    if (!r) return false;
    *out = r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : std::string();
    return true;
  }

  TokenTablePtr load(std::string* error) override {
    std::lock_guard lock(mu_);
    Totals totals;
    std::uint64_t gen = 0;
    std::string tokenizer;
    if (!read_vars(&totals, &gen, &tokenizer, error)) return nullptr;
    std::vector<TokenTable::Entry> entries;
    bool ok = scan_tokens(error, [&](std::uint64_t t, std::uint64_t s, std::uint64_t h, std::int64_t) {
      TokenTable::Entry e;
      e.token = t;
      e.counts.spam = static_cast<std::uint32_t>(std::min<std::uint64_t>(s, UINT32_MAX));
      e.counts.ham = static_cast<std::uint32_t>(std::min<std::uint64_t>(h, UINT32_MAX));
      entries.push_back(e);
    });
    if (!ok) return nullptr;
    return std::make_shared<TokenTable>(std::move(entries), totals, gen, std::move(tokenizer));
  }

  bool expire(std::uint64_t max_tokens, ExpireResult* out, std::string* error) override {
    std::lock_guard lock(mu_);
    *out = {};
    Reply n = command({"HLEN", key("t")}, error);
    if (!n) return false;
    const auto count = static_cast<std::uint64_t>(n->integer);
    if (count > max_tokens) {
      struct Old {
        std::int64_t atime;
        std::uint64_t seen;
        std::uint64_t token;
      };
      std::vector<Old> all;
      if (!scan_tokens(error, [&](std::uint64_t t, std::uint64_t s, std::uint64_t h, std::int64_t a) {
            all.push_back({a, s + h, t});
          }))
        return false;
      const std::uint64_t keep = max_tokens - max_tokens / 4;
      const std::size_t drop = all.size() > keep ? all.size() - keep : 0;
      std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(drop), all.end(), [](const Old& a, const Old& b) {
        return a.atime != b.atime ? a.atime < b.atime : a.seen < b.seen;
      });
      for (std::size_t i = 0; i < drop; i += 1000) {
        std::vector<std::string> args = {"HDEL", key("t")};
        for (std::size_t k = i; k < std::min(drop, i + 1000); ++k) args.push_back(key_bytes(all[k].token));
        Reply d = command(args, error);
        if (!d) return false;
        out->tokens_deleted += static_cast<std::uint64_t>(d->integer);
      }
    }
    // The learned-message ids, capped apart (as the SQLite store).
    const std::uint64_t max_seen = std::max<std::uint64_t>(max_tokens, 100'000);
    Reply sn = command({"HLEN", key("seen")}, error);
    if (!sn) return false;
    if (static_cast<std::uint64_t>(sn->integer) > max_seen) {
      std::vector<std::pair<std::int64_t, std::string>> ids;
      if (!scan_hash(key("seen"), error, [&](const char* f, std::size_t fn, const char* v, std::size_t vn) {
            std::string val(v, vn);
            ids.emplace_back(vn > 2 ? std::atoll(val.c_str() + 2) : 0, std::string(f, fn));
          }))
        return false;
      std::sort(ids.begin(), ids.end());
      // Entries may have gone during the scan (another gateway's expiry, a forget).
      const std::size_t drop = ids.size() > max_seen ? ids.size() - max_seen : 0;
      for (std::size_t i = 0; i < drop; i += 1000) {
        std::vector<std::string> args = {"HDEL", key("seen")};
        for (std::size_t k = i; k < std::min(drop, i + 1000); ++k) args.push_back(ids[k].second);
        Reply d = command(args, error);
        if (!d) return false;
        out->seen_deleted += static_cast<std::uint64_t>(d->integer);
      }
    }
    if (out->tokens_deleted || out->seen_deleted) return command({"HINCRBY", key("vars"), "generation", "1"}, error) != nullptr;
    return true;
  }

 private:
  std::string key(const char* part) const { return s_.prefix + part; }

  bool fail_reply(const redisReply* r, std::string* error) {
    *error = describe() + ": " + (r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len) : "unexpected reply");
    return false;
  }

  // Connected (and authenticated, on the right database), reconnecting if the
  // last command broke the connection.
  bool ensure(std::string* error) {
    if (c_ && !c_->err) return true;
    if (c_) redisFree(c_);
    timeval tv{static_cast<time_t>(s_.timeout.count() / 1000), static_cast<suseconds_t>((s_.timeout.count() % 1000) * 1000)};
    c_ = redisConnectWithTimeout(s_.host.c_str(), s_.port, tv);
    if (!c_ || c_->err) {
      *error = describe() + ": cannot connect: " + (c_ ? c_->errstr : "out of memory");
      if (c_) redisFree(c_);
      c_ = nullptr;
      return false;
    }
    redisSetTimeout(c_, tv);
    // A connection that did not authenticate or select its database is not kept:
    // the next call must not use it as if it had.
    if (!s_.password.empty() && !raw({"AUTH", s_.password}, error)) return drop();
    if (s_.db && !raw({"SELECT", std::to_string(s_.db)}, error)) return drop();
    return true;
  }

  bool drop() {
    redisFree(c_);
    c_ = nullptr;
    return false;
  }

  Reply raw(const std::vector<std::string>& args, std::string* error) {
    std::vector<const char*> argv;
    std::vector<std::size_t> len;
    for (const auto& a : args) {
      argv.push_back(a.data());
      len.push_back(a.size());
    }
    Reply r(static_cast<redisReply*>(redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), len.data())));
    if (!r) {
      *error = describe() + ": " + (c_->err ? c_->errstr : "no reply");
      return nullptr;
    }
    if (r->type == REDIS_REPLY_ERROR) {
      fail_reply(r.get(), error);
      return nullptr;
    }
    return r;
  }

  // One command; a broken connection is reopened once before giving up.
  Reply command(const std::vector<std::string>& args, std::string* error) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!ensure(error)) return nullptr;
      Reply r = raw(args, error);
      if (r || !c_->err) return r;
    }
    return nullptr;
  }

  bool read_vars(Totals* t, std::uint64_t* gen, std::string* tokenizer, std::string* error) {
    Reply r = command({"HGETALL", key("vars")}, error);
    if (!r) return false;
    for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
      std::string n(r->element[i]->str, r->element[i]->len), v(r->element[i + 1]->str, r->element[i + 1]->len);
      if (n == "nspam") t->nspam = std::strtoull(v.c_str(), nullptr, 10);
      else if (n == "nham") t->nham = std::strtoull(v.c_str(), nullptr, 10);
      else if (n == "generation") *gen = std::strtoull(v.c_str(), nullptr, 10);
      else if (n == "tokenizer") *tokenizer = v;
    }
    return true;
  }

  template <typename Fn>
  bool scan_hash(const std::string& hash, std::string* error, Fn&& fn) {
    std::string cursor = "0";
    do {
      Reply r = command({"HSCAN", hash, cursor, "COUNT", "10000"}, error);
      if (!r) return false;
      if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) return fail_reply(r.get(), error);
      cursor.assign(r->element[0]->str, r->element[0]->len);
      const redisReply* kv = r->element[1];
      for (std::size_t i = 0; i + 1 < kv->elements; i += 2)
        fn(kv->element[i]->str, kv->element[i]->len, kv->element[i + 1]->str, kv->element[i + 1]->len);
    } while (cursor != "0");
    return true;
  }

  // HSCAN may return a field twice; a token seen twice is counted once by the
  // table (the last wins, with equal values) and twice here only in stats.
  template <typename Fn>
  bool scan_tokens(std::string* error, Fn&& fn) {
    return scan_hash(key("t"), error, [&](const char* f, std::size_t fn_len, const char* v, std::size_t vn) {
      std::uint64_t s = 0, h = 0;
      std::int64_t a = 0;
      std::uint64_t t = token_of(f, fn_len);
      if (t && parse_counts(v, vn, &s, &h, &a)) fn(t, s, h, a);
    });
  }

  RedisSettings s_;
  std::mutex mu_;
  redisContext* c_ = nullptr;
};

}  // namespace

std::unique_ptr<BayesStore> open_redis_store(const RedisSettings& settings, std::string* error) {
  auto s = std::make_unique<RedisStore>(settings);
  // Not connecting is no error here: the server runs, and says so, until Redis is
  // back (each call reconnects); only the first answer is awaited.
  std::string why;
  if (!s->connect(&why)) *error = why;
  return s;
}

}  // namespace mxgate::bayes
