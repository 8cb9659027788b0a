#include "proxy/check.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "filters/auth/auth_results.hpp"
#include "filters/filter_state.hpp"
#include "policy/outcome.hpp"
#include "proxy/data_reader.hpp"
#include "proxy/json.hpp"
#include "proxy/smtp_command.hpp"

namespace mxgate {
namespace asio = boost::asio;

namespace {
// Files on disk usually end lines in LF; on the wire every line ends in CRLF.
std::string to_crlf_copy(const std::string& in) {
  std::string out;
  out.reserve(in.size() + in.size() / 32);
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  if (!out.empty() && out.back() != '\n') out += "\r\n";
  return out;
}

}  // namespace

std::shared_ptr<const Message> message_from_file(std::string_view raw) {
  // A leading mbox "From " line is not part of the message (SpamAssassin skips it).
  return std::make_shared<const Message>(to_crlf_copy(std::string(without_mbox_separator(raw))));
}

namespace {
// The addr-spec inside a From header value, roughly: what is in <>, else the value.
std::string header_address(const std::string& v) {
  auto lt = v.rfind('<');
  auto gt = v.rfind('>');
  if (lt != std::string::npos && gt != std::string::npos && gt > lt) return v.substr(lt + 1, gt - lt - 1);
  std::string s = v;
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s.find('@') != std::string::npos && s.find(' ') == std::string::npos ? s : "";
}

Task<void> run_stages(const ConfigPtr& cfg, std::shared_ptr<Envelope> env,
                      std::shared_ptr<const Message> msg, ChainRun& out) {
  const FilterChain& chain = *cfg->chain;
  auto stage = [&](Stage s, std::shared_ptr<const Mailbox> rcpt,
                   std::shared_ptr<const Message> m) -> Task<bool> {
    ChainResult r = co_await chain.run(s, std::make_shared<const Envelope>(*env), rcpt, m);
    for (const auto& sym : r.symbols) out.symbols.push_back(sym);
    if (s != Stage::EndOfData) out.earlier.add(r);
    out.stage = s;
    out.chain = r;
    co_return r.action == Action::Reject || r.action == Action::Tempfail;
  };
  if (co_await stage(Stage::Connect, {}, {})) { out.refused_early = true; co_return; }
  if (co_await stage(Stage::Helo, {}, {})) { out.refused_early = true; co_return; }
  if (co_await stage(Stage::MailFrom, {}, {})) { out.refused_early = true; co_return; }
  std::vector<Mailbox> accepted;
  for (const auto& r : env->rcpts) {
    if (!co_await stage(Stage::RcptTo, std::make_shared<const Mailbox>(r), {})) accepted.push_back(r);
  }
  if (accepted.empty()) { out.refused_early = true; co_return; }
  env->rcpts = accepted;
  co_await stage(Stage::EndOfData, {}, msg);
}
}  // namespace

CheckRun check_run(const ConfigPtr& cfg, const std::string& raw, const CheckOptions& opt) {
  CheckRun result;
  auto msg = message_from_file(raw);
  auto env = std::make_shared<Envelope>();
  result.env = env;
  env->session_id = "check";
  env->txn_id = "check.1";
  env->client.ip = opt.ip;
  env->client.peer_ip = opt.ip;
  env->client.helo = opt.helo;
  env->client.esmtp = true;
  Mailbox from;
  from.address = opt.from;
  // Offline (no client: mxgate corpus), the envelope sender is what the last MTA
  // recorded (Return-Path), as SpamAssassin reads a stored message; a check that
  // emulates a session takes the From address unless told.
  const char* sender_field = opt.ip.empty() ? "Return-Path" : "From";
  if (from.address.empty())
    if (const HeaderField* f = msg->first(sender_field)) from.address = header_address(f->unfolded());
  env->mail_from = from;
  for (const auto& r : opt.rcpts) env->rcpts.push_back(Mailbox{r, {}});
  if (env->rcpts.empty())
    if (const HeaderField* f = msg->first("To")) env->rcpts.push_back(Mailbox{header_address(f->unfolded()), {}});
  if (env->rcpts.empty()) env->rcpts.push_back(Mailbox{"postmaster", {}});

  // The policy's deny lists, as the server applies them before the data: a denied
  // client, HELO or sender refuses the whole transaction; a denied recipient only
  // itself, and the message goes on for the others.
  const PolicyConfig& pol = *cfg->policy;
  std::optional<Refusal> denied = check_client(pol, env->client);
  if (!denied) denied = check_helo(pol, env->client);
  if (!denied) denied = check_sender(pol, *env->mail_from);
  std::vector<std::pair<std::string, Refusal>>& refused_rcpts = result.refused_rcpts;
  if (!denied) {
    std::vector<Mailbox> kept;
    for (const auto& r : env->rcpts) {
      if (auto d = check_rcpt(pol, env->client, *env->mail_from, r)) refused_rcpts.emplace_back(r.address, *d);
      else kept.push_back(r);
    }
    if (kept.empty()) denied = refused_rcpts.front().second;
    else env->rcpts = std::move(kept);
  }

  auto dns_cfg = std::make_shared<DnsConfig>(*cfg->dns);
  if (!opt.dns.empty()) dns_cfg->nameservers = opt.dns;
  ChainRun& run = result.run;
  asio::io_context ioc;
  auto resolver = std::make_shared<Resolver>(ioc.get_executor(), dns_cfg, std::make_shared<DnsCache>(dns_cfg->cache_size));
  if (!opt.no_dns && !resolver->init_error().empty()) std::cerr << "mxgate check: dns: " << resolver->init_error() << "\n";
  env->state = std::make_shared<FilterState>();
  if (!opt.no_dns) env->state->dns = resolver;
  env->state->hostname = cfg->hostname;
  env->state->mime_settings = cfg->chain->mime_settings();
  env->state->explain = true;
  asio::co_spawn(ioc, run_stages(cfg, env, msg, run), asio::detached);
  ioc.run();
  // The resolver's timers and sockets belong to ioc: the resolver must go before it,
  // so the envelope (which outlives ioc) may not keep it.
  env->state->dns.reset();
  resolver.reset();
  const AuthResults& auth = env->state->auth;
  // What the DATA reader would have counted, before the end-of-data filters.
  const std::size_t long_lines = denied || run.refused_early ? 0 : count_long_lines(msg->data(), cfg->limits.max_line_length);
  if (auto s = long_lines_symbol(long_lines, cfg->limits.max_line_length)) run.earlier.symbols.push_back(*s);
  // The server's own end-of-data outcome (policy/outcome.hpp), or a refusal before it.
  Outcome& out = result.out;
  std::vector<Symbol>& symbols = result.symbols;
  symbols = run.symbols;
  if (denied) {
    out.decision.action = Action::Reject;
    out.decision.reply = denied->reply;
    out.decision.reason = denied->rule;
  } else if (run.refused_early) {
    out.decision.action = run.chain.action;
    out.decision.reply = run.chain.reply;
    out.decision.reason = run.chain.decided_by;
  } else {
    const OutcomeSettings settings{cfg->policy.get(), cfg->authserv_id, cfg->quarantine_store != nullptr,
                                   !cfg->chain->empty()};
    out = finish(settings, run.chain, run.earlier, message_facts(*env, &auth, *msg), *msg);
    symbols = out.decision.symbols;
  }
  if (denied || run.refused_early) out.decision.score = total_score(symbols);
  return result;
}

int run_check(const ConfigPtr& cfg, const CheckOptions& opt) {
  std::string raw;
  if (opt.file == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    raw = ss.str();
  } else {
    std::ifstream in(opt.file, std::ios::binary);
    if (!in) {
      std::cerr << "mxgate check: cannot read " << opt.file << "\n";
      return 1;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    raw = ss.str();
  }
  CheckRun result = check_run(cfg, raw, opt);
  const std::shared_ptr<Envelope>& env = result.env;
  const ChainRun& run = result.run;
  const Outcome& out = result.out;
  const std::vector<Symbol>& symbols = result.symbols;
  const auto& refused_rcpts = result.refused_rcpts;
  const AuthResults& auth = env->state->auth;
  // The classifier's answer (or why it gave none), when the bayes filter ran.
  const BayesAnswer& bayes = env->state->bayes;
  const bool bayes_ran = !bayes.detail.empty();
  const std::string ar = auth.empty() ? std::string() : authentication_results_value(cfg->authserv_id, auth);
  const Decision& d = out.decision;
  const char* verdict = d.verdict();
  std::string reply = d.reply ? d.reply->wire() : std::string();
  while (!reply.empty() && (reply.back() == '\n' || reply.back() == '\r')) reply.pop_back();

  if (opt.json) {
    JsonWriter j;
    j.begin_object();
    j.field("file", opt.file).field("verdict", verdict).field("score", d.score);
    if (d.required) j.field("required", *d.required);
    j.field("stage", stage_name(run.stage));
    if (!d.reason.empty()) j.field("decided_by", d.reason);
    if (!reply.empty()) j.field("reply", reply);
    j.key("envelope").begin_object();
    j.field("client_ip", env->client.ip).field("helo", env->client.helo);
    j.field("mail_from", env->mail_from->address);
    j.key("rcpts").begin_array();
    for (const auto& r : env->rcpts) j.value(r.address);
    j.end_array().end_object();
    j.key("symbols").begin_array();
    for (const auto& s : symbols) {
      j.begin_object().field("name", s.name).field("score", s.score);
      if (!s.detail.empty()) j.field("detail", s.detail);
      if (!s.where.empty()) j.field("where", s.where);
      j.end_object();
    }
    j.end_array();
    // The fields the message would get on top, and the edit, as the server makes them.
    j.key("headers").begin_array();
    for (const auto& h : out.prepend) j.value(h.wire());
    j.end_array();
    if (!out.edit.subject_prefix.empty()) j.field("subject_prefix", out.edit.subject_prefix);
    if (out.edit.removed) j.field("removed_fields", static_cast<unsigned long long>(out.edit.removed));
    if (!refused_rcpts.empty()) {
      j.key("refused_rcpts").begin_array();
      for (const auto& [rcpt, why] : refused_rcpts) {
        std::string r = why.reply.wire();
        while (!r.empty() && (r.back() == '\n' || r.back() == '\r')) r.pop_back();
        j.begin_object().field("rcpt", rcpt).field("reply", r).field("decided_by", why.rule).end_object();
      }
      j.end_array();
    }
    j.key("filters").begin_array();
    for (const auto& f : cfg->chain->filters()) j.value(f->name());
    j.end_array();
    if (!auth.empty()) {
      j.key("auth").begin_object();
      if (auth.spf) {
        const SpfOutcome& o = *auth.spf;
        j.key("spf").begin_object().field("result", auth_result_name(o.result)).field("identity", o.identity);
        j.field("domain", o.domain).field("mechanism", o.mechanism).field("reason", o.reason);
        if (!o.explanation.empty()) j.field("explanation", o.explanation);
        j.end_object();
      }
      if (auth.dkim_checked) {
        j.key("dkim").begin_array();
        for (const auto& o : auth.dkim) {
          j.begin_object().field("result", auth_result_name(o.result)).field("domain", o.domain);
          j.field("selector", o.selector).field("algorithm", o.algorithm).field("reason", o.reason).end_object();
        }
        j.end_array();
      }
      if (auth.arc) {
        const ArcOutcome& o = *auth.arc;
        j.key("arc").begin_object().field("result", auth_result_name(o.result));
        j.field("instances", static_cast<unsigned long long>(o.instances));
        j.field("oldest_pass", static_cast<unsigned long long>(o.oldest_pass)).field("reason", o.reason);
        j.key("sealers").begin_array();
        for (const auto& s : o.sealers) j.value(s);
        j.end_array().end_object();
      }
      if (auth.dmarc) {
        const DmarcOutcome& o = *auth.dmarc;
        j.key("dmarc").begin_object().field("result", auth_result_name(o.result));
        j.field("from_domain", o.from_domain).field("policy_domain", o.policy_domain);
        j.field("policy", o.policy).field("disposition", o.disposition).field("reason", o.reason);
        if (!o.bad_from.empty()) j.field("bad_from", o.bad_from);
        if (!o.authors.empty()) {
          j.key("authors").begin_array();
          for (const auto& a : o.authors) {
            j.begin_object().field("domain", a.domain).field("result", auth_result_name(a.result));
            if (!a.disposition.empty()) j.field("disposition", a.disposition);
            j.end_object();
          }
          j.end_array();
        }
        j.end_object();
      }
      j.end_object();
      j.field("authentication_results", ar);
    }
    if (bayes_ran) {
      j.key("bayes").begin_object().field("available", bayes.available);
      if (bayes.probability) j.field("probability", *bayes.probability);
      j.field("detail", bayes.detail);
      j.key("tokens").begin_array();
      for (const auto& [tok, p] : bayes.evidence) j.begin_object().field("token", tok).field("probability", p).end_object();
      j.end_array().end_object();
    }
    j.end_object();
    std::cout << j.str() << "\n";
    return 0;
  }
  std::printf("file:      %s\n", opt.file.c_str());
  std::printf("envelope:  client %s helo %s from <%s> to", env->client.ip.c_str(),
              env->client.helo.c_str(), env->mail_from->address.c_str());
  for (const auto& r : env->rcpts) std::printf(" <%s>", r.address.c_str());
  std::printf("\nfilters:  ");
  if (cfg->chain->empty()) std::printf(" (none)");
  for (const auto& f : cfg->chain->filters()) std::printf(" %s", f->name());
  std::printf("\nverdict:   %s (score %.2f", verdict, d.score);
  if (d.required) std::printf(", required %.2f", *d.required);
  std::printf(") at %s", stage_name(run.stage));
  if (!d.reason.empty()) std::printf(", decided by %s", d.reason.c_str());
  std::printf("\n");
  if (!reply.empty()) std::printf("reply:     %s\n", reply.c_str());
  for (const auto& [rcpt, why] : refused_rcpts) {
    std::string r = why.reply.wire();
    while (!r.empty() && (r.back() == '\n' || r.back() == '\r')) r.pop_back();
    std::printf("refused:   <%s> %s, decided by %s\n", rcpt.c_str(), r.c_str(), why.rule.c_str());
  }
  if (auth.spf) {
    const SpfOutcome& o = *auth.spf;
    std::printf("spf:       %s for %s %s (%s)\n", auth_result_name(o.result), o.identity.c_str(),
                o.sender.c_str(), o.mechanism.empty() ? o.reason.c_str() : ("matched " + o.mechanism).c_str());
  }
  if (auth.dkim_checked && auth.dkim.empty()) std::printf("dkim:      none (no signature)\n");
  for (const auto& o : auth.dkim)
    std::printf("dkim:      %s d=%s s=%s a=%s%s%s\n", auth_result_name(o.result), o.domain.c_str(), o.selector.c_str(),
                o.algorithm.c_str(), o.reason.empty() ? "" : " - ", o.reason.c_str());
  if (auth.dmarc) {
    const DmarcOutcome& o = *auth.dmarc;
    std::printf("dmarc:     %s header.from=%s policy=%s disposition=%s%s%s\n", auth_result_name(o.result),
                o.from_domain.c_str(), o.policy.empty() ? "-" : o.policy.c_str(),
                o.disposition.empty() ? "-" : o.disposition.c_str(), o.reason.empty() ? "" : " - ", o.reason.c_str());
    for (const auto& a : o.authors)
      std::printf("           author %s: %s%s%s\n", a.domain.c_str(), auth_result_name(a.result),
                  a.disposition.empty() ? "" : " disposition=", a.disposition.c_str());
    if (!o.bad_from.empty()) std::printf("           bad From: %s\n", o.bad_from.c_str());
  }
  if (bayes_ran) {
    std::printf("bayes:     %s\n", bayes.detail.c_str());
    // The telling tokens: the spammiest and the hammiest that counted.
    std::vector<std::pair<std::string, double>> spammy, hammy;
    for (const auto& e : bayes.evidence) (e.second >= 0.5 ? spammy : hammy).push_back(e);
    std::sort(spammy.begin(), spammy.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    std::sort(hammy.begin(), hammy.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    auto show_tokens = [](const char* label, const std::vector<std::pair<std::string, double>>& v) {
      if (v.empty()) return;
      std::printf("           %s (%zu):", label, v.size());
      for (std::size_t k = 0; k < v.size() && k < 12; ++k)
        std::printf(" %s %.3f%s", printable(v[k].first, 40).c_str(), v[k].second, k + 1 < std::min<std::size_t>(v.size(), 12) ? "," : "");
      std::printf("\n");
    };
    show_tokens("spammy", spammy);
    show_tokens("hammy", hammy);
  }
  // Folded lines shown indented under the first.
  auto show = [](std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    for (std::size_t p = text.find("\r\n"); p != std::string::npos; p = text.find("\r\n", p))
      text.replace(p, 2, "\n           ");
    return text;
  };
  if (!ar.empty()) std::printf("header:    %s\n", show("Authentication-Results: " + ar).c_str());
  // What the server would put on top of the message, and its edit.
  for (const auto& h : out.prepend) std::printf("adds:      %s\n", show(h.wire()).c_str());
  if (!out.edit.subject_prefix.empty()) std::printf("subject:   prefixed with \"%s\"\n", out.edit.subject_prefix.c_str());
  if (out.edit.removed) std::printf("removes:   %zu forged field(s)\n", out.edit.removed);
  if (symbols.empty()) {
    std::printf("symbols:   (none)\n");
  } else {
    std::printf("symbols:\n");
    for (const auto& s : symbols) {
      std::printf("  %-28s %6.2f  %s\n", s.name.c_str(), s.score, s.detail.c_str());
      if (!s.where.empty()) std::printf("  %-28s         matched in %s\n", "", s.where.c_str());
    }
  }
  return 0;
}

}  // namespace mxgate
