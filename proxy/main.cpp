// mxgate: the command line. One program, small subcommands with one job each:
//   mxgate serve --config FILE       run the proxy
//   mxgate check FILE.eml [...]      run the filter chain offline on one message
//   mxgate sink --listen A --dir D   a demo downstream that stores what it receives
//   mxgate demo                      sink + proxy on the embedded sample config
//   mxgate quarantine list|show|release|delete|purge   review held messages
//   mxgate learn --spam|--ham|--forget PATH... | --stats   teach the classifier
// Exit status: 0 ok, 1 runtime failure (e.g. cannot bind), 2 bad config or usage.
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <future>
#include <iostream>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <thread>

#include "filters/config_node.hpp"
#include "filters/content/content_filter.hpp"
#include "proxy/check.hpp"
#include "proxy/corpus.hpp"
#include "proxy/learn_cli.hpp"
#include "proxy/config.hpp"
#include "proxy/quarantine_cli.hpp"
#include "proxy/server.hpp"
#include "proxy/sink.hpp"
#include "rules/rule_compiler.hpp"

using namespace mxgate;

namespace {
Result<ConfigPtr> load(const std::string& path) {
  return path.empty() ? load_config_text(kEmbeddedConfig, "<embedded samples/mxgate.yaml>")
                      : load_config_file(path);
}

int report(const std::vector<ConfigError>& errors) {
  for (const auto& e : errors) std::cerr << e.str() << "\n";
  std::cerr << "mxgate: " << errors.size() << " configuration error" << (errors.size() == 1 ? "" : "s")
            << ", not started\n";
  return 2;
}

// How long start-up waits for the configured rules before serving with the builtin
// set: long enough for a set loaded from the compiled-rules cache (well under a
// second for SpamAssassin's stock rules), far shorter than a cold compile.
constexpr std::chrono::seconds kStartupRulesWait{3};

bool provisional(const Config& cfg) {
  if (!cfg.chain) return false;
  for (const auto& f : cfg.chain->filters())
    if (auto* c = dynamic_cast<const ContentFilter*>(f.get()); c && c->config().provisional) return true;
  return false;
}

// `dns`: nameservers that replace the config's dns.nameservers (the demo's own server).
int serve(const std::string& path, bool check_only, const std::function<void(Server&)>& before = {},
          const std::vector<std::string>& dns = {}) {
  auto with_dns = [dns](Result<ConfigPtr> r) {
    if (!r.ok() || dns.empty()) return r;
    auto c = std::make_shared<Config>(**r.value);
    auto d = std::make_shared<DnsConfig>(*c->dns);
    d->nameservers = dns;
    c->dns = std::move(d);
    r.value = std::move(c);
    return r;
  };
  if (check_only) {
    // Every file parsed and checked, like the start; only the builtin rules are
    // compiled, so a check takes seconds (`mxgate rules lint DIR` compiles a folder).
    ProvisionalRules only_builtin;
    auto r = load(path);
    if (!r.ok()) return report(r.errors);
    std::cout << (path.empty() ? "embedded config" : path) << ": ok\n";
    return 0;
  }
  // Serving never waits for a long rule compile: the full load runs on its own
  // thread; if it is not ready in a moment (small rule sets, a warm compiled-rules
  // cache), load again with only the builtin rules compiled (every rule file still
  // parsed and checked, so an error still stops the start), serve with that, and
  // install the full set when it is compiled, as a reload would.
  std::future<Result<ConfigPtr>> full =
      std::async(std::launch::async, [path, with_dns] { return with_dns(load(path)); });
  Result<ConfigPtr> r;
  bool later = false;
  if (full.wait_for(kStartupRulesWait) == std::future_status::ready) {
    r = full.get();
  } else {
    {
      ProvisionalRules only_builtin;
      r = with_dns(load(path));
    }
    if (!r.ok() || !provisional(**r.value)) {
      r = full.get();  // errors (the full load reports them too), or nothing deferred after all
    } else {
      later = true;
      spdlog::info("content rules: serving with the builtin rules while the configured rules compile");
    }
  }
  if (!r.ok()) return report(r.errors);
  Server server(*r.value, path);
  server.install_signals();
  std::string err;
  if (!server.bind(&err)) {
    spdlog::critical("{}", err);
    if (later) full.wait();
    return 1;
  }
  if (later) {
    auto shared = std::make_shared<std::future<Result<ConfigPtr>>>(std::move(full));
    server.load_in_background([shared] { return shared->get(); });
  }
  if (before) before(server);
  server.start();
  server.wait();
  if (server.startup_loading()) {
    // Drained: no session and no message is in flight. The rule compile cannot be
    // interrupted and would hold the stop for minutes; nothing it makes is kept.
    spdlog::info("stopped while the content rules were still compiling");
    spdlog::shutdown();
    std::_Exit(0);
  }
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  // A client that resets the connection mid-write must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  // Diagnostics go to stderr for every subcommand (check --json writes its result
  // on stdout); serve replaces this logger from the config's log.* keys.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("mxgate-cli"));
  CLI::App app{"mxgate: a before-queue filtering SMTP proxy"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "mxgate 0.1.0");

  std::string config_path;
  bool check_config = false;
  auto* serve_cmd = app.add_subcommand("serve", "Run the proxy");
  serve_cmd->add_option("-c,--config", config_path, "YAML config file (default: the embedded sample)");
  serve_cmd->add_flag("--check-config", check_config, "Load and check the config, then exit (0 ok, 2 errors)");

  CheckOptions copt;
  std::string check_config_path;
  auto* check_cmd = app.add_subcommand("check", "Run the filter chain on one message and print the verdict");
  check_cmd->add_option("file", copt.file, "Message file (RFC 5322), or - for standard input")->required();
  check_cmd->add_option("-c,--config", check_config_path, "YAML config file (default: the embedded sample)");
  check_cmd->add_option("--ip", copt.ip, "Client IP address")->capture_default_str();
  check_cmd->add_option("--helo", copt.helo, "HELO/EHLO name")->capture_default_str();
  check_cmd->add_option("--from", copt.from, "Envelope sender (default: the From header's address)");
  check_cmd->add_option("--rcpt", copt.rcpts, "Envelope recipient (repeatable; default: the To header)");
  check_cmd->add_flag("--json", copt.json, "Print one JSON object");
  check_cmd->add_option("--dns", copt.dns, "DNS server as HOST:PORT for SPF/DKIM/DMARC lookups (repeatable; default: the config's dns.nameservers)");

  CorpusOptions kopt;
  std::string corpus_config_path;
  auto* corpus_cmd = app.add_subcommand(
      "corpus", "Run the filter chain on labelled ham and spam and report how well it separates them");
  corpus_cmd->add_option("--ham", kopt.ham, "Ham: .eml folder, maildir or mbox (repeatable)");
  corpus_cmd->add_option("--spam", kopt.spam, "Spam: .eml folder, maildir or mbox (repeatable)");
  corpus_cmd->add_option("-c,--config", corpus_config_path, "YAML config file (default: the embedded sample)");
  corpus_cmd->add_option("-j,--jobs", kopt.jobs, "Messages checked at once (default: one per core)");
  corpus_cmd->add_flag("--json", kopt.json, "Print one JSON object");
  corpus_cmd->add_flag("--compare-spamassassin", kopt.compare_spamassassin,
                       "Also run spamassassin -L -t on each message (network namespace, loopback only) and compare rule hits");
  corpus_cmd->add_option("--spamassassin", kopt.spamassassin, "The spamassassin command")->capture_default_str();
  corpus_cmd->add_option("--list", kopt.list, "False positives / negatives listed of each")->capture_default_str();
  corpus_cmd->add_option("--rules", kopt.rules, "Rules listed in the hit table (0: all)")->capture_default_str();
  corpus_cmd->add_option("--train-fraction", kopt.train_fraction,
                         "Share of the messages the classifier (bayes filter) learns first, into a database of its own; the rest are measured")
      ->check(CLI::Range(0.0, 0.99));
  corpus_cmd->add_option("--train-ham", kopt.train_ham, "Ham the classifier learns first, not measured (repeatable)");
  corpus_cmd->add_option("--train-spam", kopt.train_spam, "Spam the classifier learns first, not measured (repeatable)");
  corpus_cmd->add_option("--dns", kopt.dns, "DNS server as HOST:PORT for SPF/DKIM/DMARC (default: no DNS at all)");

  LearnOptions lopt;
  std::string learn_config_path;
  auto* learn_cmd = app.add_subcommand("learn", "Teach the classifier (the bayes filter): learn spam or ham, forget, stats");
  learn_cmd->add_option("paths", lopt.paths, "Messages: files, mbox files, maildirs or folders");
  learn_cmd->add_option("-c,--config", learn_config_path, "YAML config file with a bayes filter (default: the embedded sample)");
  auto* learn_spam = learn_cmd->add_flag("--spam", lopt.spam, "Learn the messages as spam");
  auto* learn_ham = learn_cmd->add_flag("--ham", lopt.ham, "Learn the messages as ham");
  auto* learn_forget = learn_cmd->add_flag("--forget", lopt.forget, "Forget what was learned from the messages");
  auto* learn_stats = learn_cmd->add_flag("--stats", lopt.stats, "Print what the database holds");
  learn_spam->excludes(learn_ham)->excludes(learn_forget)->excludes(learn_stats);
  learn_ham->excludes(learn_forget)->excludes(learn_stats);
  learn_forget->excludes(learn_stats);
  learn_cmd->add_option("-j,--jobs", lopt.jobs, "Tokenizing threads (default: one per core)");
  learn_cmd->add_flag("--json", lopt.json, "Print one JSON object");

  std::string sink_listen = "127.0.0.1:2526", sink_dir = "sink-mail";
  auto* sink_cmd = app.add_subcommand("sink", "Demo downstream: accept every message and store it in a folder");
  sink_cmd->add_option("--listen", sink_listen, "host:port")->capture_default_str();
  sink_cmd->add_option("--dir", sink_dir, "Folder for the messages")->capture_default_str();

  std::string demo_dir = "demo-mail";
  auto* demo_cmd = app.add_subcommand("demo", "Run a sink and the proxy in front of it on the embedded sample config");
  demo_cmd->add_option("-c,--config", config_path, "YAML config file (default: the embedded sample)");
  demo_cmd->add_option("--dir", demo_dir, "Folder where the sink stores messages")->capture_default_str();
  std::vector<std::string> demo_dns;
  demo_cmd->add_option("--dns", demo_dns, "DNS server as HOST:PORT for SPF/DKIM/DMARC (scripts/demo starts one serving samples/dns/demo.zone)");

  auto* rules_cmd = app.add_subcommand("rules", "Rule sets (SpamAssassin-style .cf folders)");
  rules_cmd->require_subcommand(1);
  std::string lint_dir = "builtin";
  auto* lint_cmd = rules_cmd->add_subcommand("lint", "Load and compile a rule folder; print counts per scope and engine, warnings and errors");
  lint_cmd->add_option("dir", lint_dir, "Rule folder (builtin: the set compiled into mxgate)")->capture_default_str();

  QuarantineCli qopt;
  std::string q_config_path;
  auto* q_cmd = app.add_subcommand("quarantine", "Review held messages: list, show, release, delete, purge");
  q_cmd->add_option("-c,--config", q_config_path, "YAML config file with quarantine.dir (default: the embedded sample)");
  q_cmd->require_subcommand(1);
  auto* q_list = q_cmd->add_subcommand("list", "List held messages, newest first");
  q_list->add_option("--since", qopt.since, "From this time: 2026-11-23, 2026-11-23T10:00:00 (UTC), or an age (2h, 7d)");
  q_list->add_option("--until", qopt.until, "Up to this time (same forms)");
  q_list->add_option("--from", qopt.from, "Envelope sender or header From contains this");
  q_list->add_option("--rcpt", qopt.rcpt, "A recipient contains this");
  q_list->add_option("--rule", qopt.rule, "The deciding policy rule or a symbol name contains this");
  q_list->add_option("--subject", qopt.subject, "The Subject contains this");
  q_list->add_option("--limit", qopt.limit, "At most this many")->capture_default_str()->check(CLI::Range(1, 1000000));
  q_list->add_flag("--json", qopt.json, "One JSON object per line");
  auto* q_show = q_cmd->add_subcommand("show", "Show one message: envelope, verdict trace, headers");
  q_show->add_option("id", qopt.id, "Quarantine ID")->required();
  q_show->add_flag("--body", qopt.body, "Also print the body (the whole stored message)");
  q_show->add_flag("--json", qopt.json, "One JSON object");
  auto* q_release = q_cmd->add_subcommand("release", "Deliver a held message to the downstream with its original envelope");
  q_release->add_option("id", qopt.id, "Quarantine ID")->required();
  q_release->add_option("--to", qopt.to, "Deliver to this address instead of the original recipients (repeatable)");
  q_release->add_flag("--force", qopt.force, "Release again a message already released");
  auto* q_delete = q_cmd->add_subcommand("delete", "Delete a held message");
  q_delete->add_option("id", qopt.id, "Quarantine ID")->required();
  auto* q_purge = q_cmd->add_subcommand("purge", "Delete messages older than a number of days");
  q_purge->add_option("--older-than", qopt.older_than_days, "Days")->required()->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  if (*serve_cmd) return serve(config_path, check_config);

  if (*check_cmd) {
    spdlog::set_level(spdlog::level::warn);
    auto r = load(check_config_path);
    if (!r.ok()) return report(r.errors);
    return run_check(*r.value, copt);
  }

  if (*corpus_cmd) {
    spdlog::set_level(spdlog::level::warn);
    auto r = load(corpus_config_path);
    if (!r.ok()) return report(r.errors);
    return run_corpus(*r.value, kopt);
  }

  if (*learn_cmd) {
    spdlog::set_level(spdlog::level::warn);
    // The rules are not needed to learn: only the builtin set is compiled.
    ProvisionalRules only_builtin;
    auto r = load(learn_config_path);
    if (!r.ok()) return report(r.errors);
    return run_learn(*r.value, lopt);
  }

  if (*q_cmd) {
    for (auto* sub : {q_list, q_show, q_release, q_delete, q_purge})
      if (*sub) qopt.command = sub->get_name();
    spdlog::set_level(spdlog::level::warn);
    auto r = q_config_path.empty() ? load_config_text(kEmbeddedConfig, "<embedded samples/mxgate.yaml>", false)
                                   : load_config_file(q_config_path, /*with_filters=*/false);
    if (!r.ok()) return report(r.errors);
    // The classifier only when a review teaches it (quarantine.learn_on_*): the
    // filters are loaded then, with only the builtin rules compiled.
    ClassifierSource classifier = [&](std::string* why) -> bayes::ClassifierPtr {
      ProvisionalRules only_builtin;
      auto full = q_config_path.empty() ? load_config_text(kEmbeddedConfig, "<embedded samples/mxgate.yaml>")
                                        : load_config_file(q_config_path);
      if (!full.ok()) {
        *why = format_errors(full.errors);
        return nullptr;
      }
      return config_classifier(**full.value, why);
    };
    return run_quarantine_cli(**r.value, qopt, classifier);
  }
  if (*lint_cmd) {
    // Exit 0: loaded (warnings are listed); 2: errors, each with file, line and rule.
    Result<rules::RuleSetPtr> rs;
    // Read as the content filter reads rules: its eval tests and plugin blocks.
    const rules::ParseOptions popt = content_parse_options();
    if (lint_dir == "builtin") {
      auto parsed = rules::parse_rule_texts(builtin_rule_files(), popt);
      if (parsed.ok()) {
        for (auto& e : check_eval_args(*parsed.value)) parsed.errors.push_back(std::move(e));
        if (parsed.errors.empty()) rs = rules::RuleSet::compile(std::move(*parsed.value));
      }
      if (!parsed.errors.empty()) rs.errors = std::move(parsed.errors);
    } else {
      auto parsed = rules::parse_rule_dir(lint_dir, popt);
      if (parsed.ok()) {
        for (auto& e : check_eval_args(*parsed.value)) parsed.errors.push_back(std::move(e));
        if (parsed.errors.empty()) rs = rules::RuleSet::compile(std::move(*parsed.value));
      }
      if (!parsed.errors.empty()) rs.errors = std::move(parsed.errors);
    }
    if (!rs.ok()) {
      std::cerr << format_errors(rs.errors);
      std::cerr << "mxgate rules lint: " << rs.errors.size() << " error" << (rs.errors.size() == 1 ? "" : "s")
                << " in " << lint_dir << "\n";
      return 2;
    }
    std::cout << rules::lint_report(**rs.value);
    return 0;
  }

  if (*sink_cmd) {
    std::string host;
    std::uint16_t port = 0;
    if (!parse_host_port(sink_listen, host, port)) {
      std::cerr << "mxgate sink: --listen: expected host:port\n";
      return 2;
    }
    boost::asio::io_context ioc;
    Sink sink(ioc, sink_dir);
    std::string err;
    if (!sink.bind(host, port, &err)) {
      std::cerr << "mxgate sink: " << err << "\n";
      return 1;
    }
    sink.start();
    boost::asio::signal_set sigs(ioc, SIGTERM, SIGINT);
    sigs.async_wait([&](const boost::system::error_code&, int) { ioc.stop(); });
    spdlog::info("sink listening on {}, storing messages in {}/", sink_listen, sink_dir);
    ioc.run();
    return 0;
  }

  if (*demo_cmd) {
    auto r = load(config_path);
    if (!r.ok()) return report(r.errors);
    for (const auto& ns : demo_dns) {
      std::string host;
      std::uint16_t port = 0;
      if (!parse_host_port(ns, host, port)) {
        std::cerr << "mxgate demo: --dns: expected host:port (got \"" << ns << "\")\n";
        return 2;
      }
    }
    const auto& down = (*r.value)->downstream.address;
    boost::asio::io_context sink_ioc;
    Sink sink(sink_ioc, demo_dir);
    std::string err;
    if (!sink.bind(down.host, down.port, &err)) {
      std::cerr << "mxgate demo: " << err << "\n";
      return 1;
    }
    sink.start();
    std::thread sink_thread([&] { sink_ioc.run(); });
    const auto& l = (*r.value)->listen.front();
    int rc = serve(config_path, false, [&](Server&) {
      std::cout << "\nmxgate demo: proxy on " << l.str() << " -> sink on " << down.str()
                << " (messages land in " << demo_dir << "/)\n"
                << "Send a test message from another terminal:\n"
                << "  swaks --server " << l.str() << " --to user@example.org --from you@example.net\n"
                << "or check one offline:\n"
                << "  build/proxy/mxgate check samples/messages/ham.eml"
                << (demo_dns.empty() ? std::string() : " --dns " + demo_dns.front()) << "\n"
                << "Stop with Ctrl-C.\n\n"
                << std::flush;
    }, demo_dns);
    sink_ioc.stop();
    sink_thread.join();
    return rc;
  }
  return 2;
}
