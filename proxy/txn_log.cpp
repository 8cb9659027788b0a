#include "proxy/txn_log.hpp"

#include <random>

#include "policy/policy.hpp"
#include "proxy/json.hpp"
#include "proxy/server_context.hpp"

namespace mxgate {

std::string make_session_id() {
  // Like a Postfix queue ID: short, unique enough to grep for, no secrets in it.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* alphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZ";
  std::string id;
  auto v = rng();
  for (int i = 0; i < 10; ++i) {
    id += alphabet[v % 31];
    v /= 31;
  }
  return id;
}

std::string Counters::summary() const {
  std::string out;
#define MXGATE_PRINT(name) out += std::string(out.empty() ? "" : " ") + #name "=" + std::to_string(name.load());
  MXGATE_COUNTERS(MXGATE_PRINT)
#undef MXGATE_PRINT
  return out;
}

long long ms_since(TxnLog::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(TxnLog::Clock::now() - t).count();
}

std::string transaction_json(const Envelope& env, const TxnLog& t, const std::vector<Symbol>& session_symbols,
                             std::string_view verdict, std::string_view reply) {
  JsonWriter j;
  j.begin_object();
  j.field("session", env.session_id).field("txn", env.txn_id);
  j.field("client_ip", env.client.ip).field("client_port", static_cast<unsigned>(env.client.port));
  j.field("client_name", env.client.name).field("helo", env.client.helo);
  if (env.client.xclient) j.field("peer_ip", env.client.peer_ip);
  j.field("tls", env.client.tls);
  if (env.client.tls) j.field("tls_version", env.client.tls_version);
  j.field("mail_from", env.mail_from ? env.mail_from->address : std::string());
  j.key("rcpts").begin_array();
  for (const auto& r : env.rcpts) j.value(r.address);
  j.end_array();
  if (!t.refused_rcpts.empty()) {
    j.key("refused_rcpts").begin_array();
    for (const auto& [rcpt, why] : t.refused_rcpts) j.begin_object().field("rcpt", rcpt).field("reply", why).end_object();
    j.end_array();
  }
  j.field("size", static_cast<unsigned long long>(t.size));
  if (t.long_lines) j.field("long_lines", static_cast<unsigned long long>(t.long_lines));
  if (!t.header_from.empty()) j.field("header_from", t.header_from);
  if (!t.subject.empty()) j.field("subject", t.subject);
  if (!t.message_id.empty()) j.field("message_id", t.message_id);
  if (!t.auth_results.empty()) j.field("authentication_results", t.auth_results);
  j.key("symbols").begin_array();
  // A transaction refused before the end of data has no decision score: the sum of
  // what was said is the best answer.
  double sum = 0;
  std::vector<Symbol> all = session_symbols;
  all.insert(all.end(), t.symbols.begin(), t.symbols.end());
  count_each_name_once(all);  // as the decision counted them
  for (const auto& s : all) {
    j.begin_object().field("name", s.name).field("score", s.score);
    if (!s.detail.empty()) j.field("detail", s.detail);
    if (!s.where.empty()) j.field("where", s.where);
    j.end_object();
    sum += s.score;
  }
  j.end_array();
  j.field("score", t.score == 0 ? sum : t.score);
  if (t.required) j.field("required", *t.required);
  j.field("verdict", std::string(verdict));
  if (!t.decided_by.empty()) j.field("decided_by", t.decided_by);
  if (!t.quarantine_id.empty()) j.field("quarantine_id", t.quarantine_id);
  j.field("reply", std::string(reply));
  j.field("downstream_reply", t.downstream_reply);
  j.key("ms").begin_object();
  j.field("mail", t.mail_ms).field("rcpt", t.rcpt_ms).field("data", t.data_ms);
  j.field("filters", t.filter_ms).field("downstream", t.downstream_ms);
  j.field("total", ms_since(t.start));
  j.end_object();
  j.end_object();
  return j.str();
}

}  // namespace mxgate
