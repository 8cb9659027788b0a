#include "proxy/quarantine_cli.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <iostream>

#include "proxy/check.hpp"
#include "proxy/downstream.hpp"
#include "proxy/json.hpp"
#include "proxy/learn_cli.hpp"

namespace mxgate {

namespace asio = boost::asio;

bool parse_cli_time(const std::string& s, std::int64_t now, std::int64_t& out) {
  if (s.empty()) return false;
  // An age: digits and one unit.
  if (std::isdigit(static_cast<unsigned char>(s[0])) && s.find('-') == std::string::npos) {
    std::size_t i = 0;
    std::int64_t n = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && n < 100'000'000) n = n * 10 + (s[i++] - '0');
    if (i == 0 || i + 1 != s.size()) return false;
    std::int64_t unit = s[i] == 's' ? 1 : s[i] == 'm' ? 60 : s[i] == 'h' ? 3600 : s[i] == 'd' ? 86400 : 0;
    if (!unit) return false;
    out = now - n * unit;
    return true;
  }
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  char tail = 0;
  int got = std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &sec, &tail);
  // The exact forms only: digits where digits belong (sscanf alone takes "2026-01-5x").
  auto digits_at = [&](std::initializer_list<std::size_t> at) {
    for (std::size_t i : at)
      if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    return true;
  };
  bool date_only = got == 3 && s.size() == 10 && digits_at({0, 1, 2, 3, 5, 6, 8, 9});
  bool full = (s.size() == 19 || (s.size() == 20 && s.back() == 'Z')) && (got == 6 || got == 7) &&
              digits_at({0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18});
  (void)tail;
  if (!date_only && !full) return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  out = static_cast<std::int64_t>(timegm(&tm));
  // timegm normalises (2026-02-31 would become March 3rd): take only real dates.
  std::tm back{};
  std::time_t t = static_cast<std::time_t>(out);
  gmtime_r(&t, &back);
  return back.tm_year == y - 1900 && back.tm_mon == mo - 1 && back.tm_mday == d;
}

namespace {

void record_json(JsonWriter& j, const QuarantineRecord& r) {
  j.field("id", r.id).field("time", iso_time(r.time)).field("txn", r.txn);
  j.field("client_ip", r.client_ip).field("helo", r.helo).field("mail_from", r.mail_from);
  j.key("rcpts").begin_array();
  for (const auto& a : r.rcpts) j.value(a);
  j.end_array();
  j.field("header_from", r.header_from).field("subject", r.subject).field("message_id", r.message_id);
  j.field("size", static_cast<unsigned long long>(r.size)).field("score", r.score);
  j.key("symbols").begin_array();
  for (const auto& s : r.symbols) {
    j.begin_object().field("name", s.name).field("score", s.score);
    if (!s.detail.empty()) j.field("detail", s.detail);
    j.end_object();
  }
  j.end_array();
  j.field("auth_results", r.auth_results).field("rule", r.rule).field("state", r.state);
  j.field("released_at", iso_time(r.released_at));
  j.key("released_to").begin_array();
  for (const auto& a : r.released_to) j.value(a);
  j.end_array();
  j.field("release_reply", r.release_reply);
}

// Printable on a terminal: control characters (a hostile Subject) shown as '?'.
std::string printable(const std::string& s, std::size_t max) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  return out;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

struct ReleaseResult {
  bool ok = false;
  std::string reply;  // the downstream's reply (or our 4xx) that decided
};

Task<void> release_message(const ConfigPtr& cfg, const QuarantineRecord& rec, const std::vector<std::string>& to,
                           const std::string& data, ReleaseResult& out) {
  auto ex = co_await asio::this_coro::executor;
  auto down = std::make_shared<Downstream>(ex, cfg, "release-" + rec.id);
  Envelope env;
  env.session_id = "release-" + rec.id;
  env.client.ip = rec.client_ip;
  env.client.helo = rec.helo;
  env.client.esmtp = true;
  if (auto fail = co_await down->open(env)) {
    out.reply = fail->str();
    if (!down->last_reply().empty()) out.reply += " (downstream: " + down->last_reply() + ")";
    co_return;
  }
  bool eight_bit = false, utf8_addr = false;
  for (unsigned char c : data) eight_bit |= c >= 0x80;
  for (unsigned char c : rec.mail_from) utf8_addr |= c >= 0x80;
  for (const auto& a : to)
    for (unsigned char c : a) utf8_addr |= c >= 0x80;
  std::string mail = "MAIL FROM:<" + rec.mail_from + ">";
  if (eight_bit && down->caps().eightbitmime) mail += " BODY=8BITMIME";
  if (utf8_addr && down->caps().smtputf8) mail += " SMTPUTF8";
  if (down->caps().size) mail += " SIZE=" + std::to_string(data.size());
  SmtpReply r = co_await down->command(mail);
  if (!r.positive()) {
    out.reply = r.str();
    Downstream::retire(down);
    co_return;
  }
  std::size_t accepted = 0;
  std::string refused;
  for (const auto& a : to) {
    std::string line = "RCPT TO:<" + a + ">";
    SmtpReply rr = co_await down->command(line);
    if (rr.positive()) ++accepted;
    else refused += (refused.empty() ? "" : "; ") + a + ": " + rr.str();
    if (down->broken()) break;
  }
  if (accepted != to.size()) {
    // All or nothing: a release that reached only some recipients could not be
    // repeated for the others without sending a duplicate to the first ones.
    out.reply = "recipient refused: " + refused;
    Downstream::retire(down);
    co_return;
  }
  const std::string no_prefix;
  SmtpReply fin = co_await down->send_data(no_prefix, data);
  out.reply = fin.str();
  out.ok = fin.is_2xx();
  Downstream::retire(down);
}

std::string trim_reply(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

std::string learn_reviewed(const ClassifierSource& classifier, const Config& cfg, const std::string& data, bool spam) {
  std::string why;
  bayes::ClassifierPtr c = classifier ? classifier(&why) : nullptr;
  if (!c) return why.empty() ? "no classifier" : why;
  auto msg = message_from_file(data);
  const auto mime = cfg.chain ? cfg.chain->mime_settings() : std::make_shared<const MimeSettings>();
  std::vector<bayes::LearnItem> items{c->learn_item(*msg, parse_mime(*msg, mime->limits), spam)};
  std::vector<bayes::LearnStatus> st;
  if (!c->learn(items, false, &st, &why)) return why;
  return {};
}

int run_quarantine_cli(const Config& cfg, const QuarantineCli& opt, const ClassifierSource& classifier) {
  if (!cfg.quarantine_store) {
    std::cerr << "mxgate quarantine: no quarantine configured (quarantine.dir) in " << cfg.file << "\n";
    return 2;
  }
  Quarantine& q = *cfg.quarantine_store;
  std::string err;
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));

  if (opt.command == "list") {
    QuarantineQuery query;
    for (auto [text, slot] : {std::pair{&opt.since, &query.since}, std::pair{&opt.until, &query.until}}) {
      if (text->empty()) continue;
      std::int64_t t = 0;
      if (!parse_cli_time(*text, now, t)) {
        std::cerr << "mxgate quarantine list: bad time \"" << *text
                  << "\" (use 2026-11-23, 2026-11-23T10:00:00 or an age such as 2h, 7d)\n";
        return 2;
      }
      *slot = t;
    }
    // A date alone as --until means the whole day.
    if (!opt.until.empty() && opt.until.size() == 10 && query.until) *query.until += 86399;
    query.from = opt.from;
    query.rcpt = opt.rcpt;
    query.rule = opt.rule;
    query.subject = opt.subject;
    query.limit = opt.limit;
    auto rows = q.list(query, &err);
    if (!err.empty()) {
      std::cerr << "mxgate quarantine list: " << err << "\n";
      return 1;
    }
    if (opt.json) {
      for (const auto& r : rows) {
        JsonWriter j;
        j.begin_object();
        record_json(j, r);
        j.end_object();
        std::cout << j.str() << "\n";
      }
      return 0;
    }
    std::printf("%-26s %-20s %7s %-8s %s\n", "ID", "TIME (UTC)", "SCORE", "STATE", "FROM -> RCPTS | SUBJECT | RULE");
    for (const auto& r : rows) {
      std::string t = iso_time(r.time);
      if (t.size() > 1) t = t.substr(0, 10) + " " + t.substr(11, 8);
      std::printf("%-26s %-20s %7.1f %-8s <%s> -> %s | %s | %s\n", r.id.c_str(), t.c_str(), r.score, r.state.c_str(),
                  printable(r.mail_from, 80).c_str(), printable(join(r.rcpts, ","), 120).c_str(),
                  printable(r.subject, 80).c_str(), printable(r.rule, 80).c_str());
    }
    std::printf("%zu message%s\n", rows.size(), rows.size() == 1 ? "" : "s");
    return 0;
  }

  if (opt.command == "purge") {
    if (!(opt.older_than_days >= 0 && opt.older_than_days <= 100000)) {  // also NaN, inf
      std::cerr << "mxgate quarantine purge: --older-than DAYS (0 to 100000) is required\n";
      return 2;
    }
    std::int64_t before = now - static_cast<std::int64_t>(opt.older_than_days * 86400.0);
    std::size_t n = q.purge(before, &err);
    if (!err.empty()) {
      std::cerr << "mxgate quarantine purge: " << err << "\n";
      return 1;
    }
    std::printf("purged %zu message%s older than %g day%s\n", n, n == 1 ? "" : "s", opt.older_than_days,
                opt.older_than_days == 1 ? "" : "s");
    return 0;
  }

  if (opt.id.empty()) {
    std::cerr << "mxgate quarantine " << opt.command << ": an ID is required\n";
    return 2;
  }
  if (opt.command == "delete") {
    if (cfg.quarantine.learn_on_delete) {
      // Learned before it goes: afterwards there is nothing left to learn from.
      std::string data;
      auto rec = q.get(opt.id, &err);
      if (!rec || !q.read_message(*rec, data, &err)) {
        std::cerr << "mxgate quarantine delete: " << err << "\n";
        return 1;
      }
      if (std::string why = learn_reviewed(classifier, cfg, data, true); !why.empty())
        std::cerr << "mxgate quarantine delete: " << opt.id << " not learned as spam: " << why << "\n";
      else
        std::printf("learned %s as spam\n", opt.id.c_str());
    }
    if (!q.remove(opt.id, &err)) {
      std::cerr << "mxgate quarantine delete: " << err << "\n";
      return 1;
    }
    std::printf("deleted %s\n", opt.id.c_str());
    return 0;
  }

  auto rec = q.get(opt.id, &err);
  if (!rec) {
    std::cerr << "mxgate quarantine " << opt.command << ": " << err << "\n";
    return 1;
  }
  std::string data;
  if (!q.read_message(*rec, data, &err)) {
    std::cerr << "mxgate quarantine " << opt.command << ": " << err << "\n";
    return 1;
  }

  if (opt.command == "show") {
    if (opt.json) {
      JsonWriter j;
      j.begin_object();
      record_json(j, *rec);
      if (opt.body) j.field("message", data);
      j.end_object();
      std::cout << j.str() << "\n";
      return 0;
    }
    std::printf("id:        %s\n", rec->id.c_str());
    std::printf("time:      %s\n", iso_time(rec->time).c_str());
    std::printf("client:    %s helo %s\n", rec->client_ip.c_str(), printable(rec->helo, 255).c_str());
    std::printf("envelope:  <%s> -> %s\n", printable(rec->mail_from, 255).c_str(),
                printable(join(rec->rcpts, ", "), 2000).c_str());
    std::printf("from:      %s\n", printable(rec->header_from, 255).c_str());
    std::printf("subject:   %s\n", printable(rec->subject, 255).c_str());
    std::printf("size:      %llu\n", static_cast<unsigned long long>(rec->size));
    std::printf("verdict:   quarantine (score %.2f), decided by %s\n", rec->score, printable(rec->rule, 500).c_str());
    std::printf("state:     %s", rec->state.c_str());
    if (rec->state == "released")
      std::printf(" at %s to %s: %s", iso_time(rec->released_at).c_str(),
                  printable(join(rec->released_to, ", "), 2000).c_str(), printable(rec->release_reply, 500).c_str());
    std::printf("\n");
    if (!rec->auth_results.empty()) std::printf("auth:      %s\n", printable(rec->auth_results, 2000).c_str());
    std::printf("symbols:\n");
    for (const auto& s : rec->symbols)
      std::printf("  %-32s %8.2f  %s\n", s.name.c_str(), s.score, printable(s.detail, 200).c_str());
    std::printf("\n");
    auto end = data.find("\r\n\r\n");
    std::string shown = data.substr(0, opt.body || end == std::string::npos ? data.size() : end + 2);
    // The headers are the sender's text: escape sequences in a Subject must not reach
    // the admin's terminal. Only a --body piped elsewhere goes out byte for byte.
    if (!opt.body || isatty(STDOUT_FILENO))
      for (char& c : shown) {
        unsigned char u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\r' && c != '\n' && c != '\t') || u == 0x7f) c = '?';
      }
    std::fwrite(shown.data(), 1, shown.size(), stdout);
    return 0;
  }

  if (opt.command == "release") {
    if (rec->state == "released" && !opt.force) {
      std::cerr << "mxgate quarantine release: " << rec->id << " already released at " << iso_time(rec->released_at)
                << " to " << join(rec->released_to, ", ") << " (--force sends it again)\n";
      return 1;
    }
    for (const auto& a : opt.to) {
      bool ok = !a.empty() && a.size() <= 320 && a.find('@') != std::string::npos;
      for (unsigned char c : a) ok &= c > 0x20 && c != 0x7f && c != '<' && c != '>';
      if (!ok) {
        std::cerr << "mxgate quarantine release: --to \"" << printable(a, 80) << "\" is not a mail address\n";
        return 2;
      }
    }
    const std::vector<std::string>& to = opt.to.empty() ? rec->rcpts : opt.to;
    if (to.empty()) {
      std::cerr << "mxgate quarantine release: " << rec->id << " has no recipients; use --to\n";
      return 2;
    }
    const ConfigPtr shared = std::make_shared<Config>(cfg);
    ReleaseResult result;
    asio::io_context ioc;
    asio::co_spawn(ioc, release_message(shared, *rec, to, data, result), asio::detached);
    ioc.run();
    std::string reply = trim_reply(result.reply);
    if (!result.ok) {
      std::cerr << "mxgate quarantine release: " << rec->id << " not released, kept: " << reply << "\n";
      return 1;
    }
    if (!q.mark_released(rec->id, to, reply, &err)) {
      // Delivered, but the record could not say so: tell the admin loudly, since a
      // second release would send it again.
      std::cerr << "mxgate quarantine release: " << rec->id << " was delivered (" << reply
                << ") but recording the release failed: " << err << "\n";
      return 1;
    }
    std::printf("released %s to %s: %s\n", rec->id.c_str(), join(to, ", ").c_str(), reply.c_str());
    if (cfg.quarantine.learn_on_release) {
      // The release stands whatever happens here: it is said, not undone.
      if (std::string why = learn_reviewed(classifier, cfg, data, false); !why.empty())
        std::cerr << "mxgate quarantine release: " << rec->id << " not learned as ham: " << why << "\n";
      else
        std::printf("learned %s as ham\n", rec->id.c_str());
    }
    return 0;
  }
  std::cerr << "mxgate quarantine: unknown command " << opt.command << "\n";
  return 2;
}

}  // namespace mxgate
