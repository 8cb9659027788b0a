// ConfigMap: typed reading of one YAML mapping with file:line errors.
//
// Each get_*() reads an optional key into a field that already holds its default,
// checks type and bounds, and records a ConfigError instead of throwing. finish()
// reports every key that no get_*() asked for, so a typo ("max_recipent") is an error
// with a suggestion, never a silently ignored setting. Durations accept "300s", "5m",
// "1500ms", "2h" or a plain number of seconds; sizes accept "25M", "512k", "10MiB"
// or a plain number of bytes.
#pragma once
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/config_error.hpp"
#include "filters/smtp_reply.hpp"

namespace YAML { class Node; }

namespace mxgate {

class ConfigMap {
 public:
  // node must be a YAML mapping (or null/absent, which reads as empty).
  ConfigMap(const YAML::Node& node, std::string file, std::string path,
            std::vector<ConfigError>* errors);
  ConfigMap(const ConfigMap&) = delete;
  ConfigMap& operator=(const ConfigMap&) = delete;
  ~ConfigMap();

  bool has(const std::string& key) const;
  void get(const std::string& key, bool& out);
  void get(const std::string& key, std::string& out);
  void get(const std::string& key, std::vector<std::string>& out);
  void get_uint(const std::string& key, std::uint64_t& out, std::uint64_t min, std::uint64_t max);
  void get_size(const std::string& key, std::size_t& out, std::size_t min, std::size_t max);
  // A decimal number such as a score (5, 7.5, -0.1).
  void get_number(const std::string& key, double& out, double min, double max);
  void get_duration(const std::string& key, std::chrono::milliseconds& out,
                    std::chrono::milliseconds min, std::chrono::milliseconds max);
  template <typename Rep, typename Period>
  void get_duration(const std::string& key, std::chrono::duration<Rep, Period>& out,
                    std::chrono::milliseconds min, std::chrono::milliseconds max) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(out);
    get_duration(key, ms, min, max);
    out = std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(ms);
  }
  void get_enum(const std::string& key, std::string& out, std::initializer_list<const char*> allowed);
  void get_enum(const std::string& key, std::string& out, const std::vector<const char*>& allowed);
  // A word from a fixed list, kept as the enum value it names, so no mode is a
  // string compared at run time. `out` holds the default.
  template <typename E>
  void get_mode(const std::string& key, E& out, std::initializer_list<std::pair<const char*, E>> names) {
    std::vector<const char*> words;
    std::string got;
    for (const auto& [w, v] : names) {
      words.push_back(w);
      if (v == out) got = w;
    }
    get_enum(key, got, words);
    for (const auto& [w, v] : names)
      if (got == w) out = v;
  }
  // "550 5.7.1 Text": code, enhanced code of the same class, text.
  void get_reply(const std::string& key, SmtpReply& out);
  // `scores: { SYMBOL: n }`: overrides entries of `out`, which holds every symbol the
  // filter emits with its default; an unknown symbol or a non-number is an error.
  void get_scores(const std::string& key, std::map<std::string, double>& out);
  // A nested mapping; its own finish() runs when it is destroyed.
  std::unique_ptr<ConfigMap> child(const std::string& key);
  // A mapping found inside one of this map's values (e.g. each entry of a mapping
  // of mappings), read with the path `key`; its own finish() runs when it is destroyed.
  std::unique_ptr<ConfigMap> map_at(const YAML::Node& n, const std::string& key);
  // The raw node of a key (for lists of mappings); marks the key as known.
  YAML::Node node(const std::string& key);

  // Records an error at the line of `key` (or of the map if key is absent).
  void error(const std::string& key, const std::string& what);
  void error_at(const YAML::Node& n, const std::string& key, const std::string& what);
  // An error found in another file the config names (a rule file), as it is.
  void add_error(ConfigError e) { errors_->push_back(std::move(e)); }
  const std::string& file() const { return file_; }
  std::string path_of(const std::string& key) const;
  // Reports unknown keys. Called by the destructor if not called before.
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string file_;
  std::string path_;
  std::vector<ConfigError>* errors_;
  std::set<std::string> used_;
  bool finished_ = false;
};

// Parses "300s" / "5m" / "1500ms" / "2h" / "300" (seconds). False on bad syntax.
bool parse_duration(const std::string& s, std::chrono::milliseconds& out);
// Parses "25M" / "512k" / "10MiB" / "1G" / "1000" (bytes). False on bad syntax.
bool parse_size(const std::string& s, std::size_t& out);
// Parses "host:port" or "[v6]:port". False on bad syntax. Port 0 ("any free
// port", for tests) only if allow_zero_port.
bool parse_host_port(const std::string& s, std::string& host, std::uint16_t& port,
                     bool allow_zero_port = false);

}  // namespace mxgate
