#include "filters/config_node.hpp"
#include "base/text.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace mxgate {

namespace {
int line_of(const YAML::Node& n) {
  if (!n.IsDefined()) return 0;
  auto m = n.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

bool parse_number(const std::string& s, std::uint64_t& out, std::size_t& used) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  used = static_cast<std::size_t>(p - s.data());
  return ec == std::errc() && used > 0;
}
}  // namespace

bool parse_duration(const std::string& in, std::chrono::milliseconds& out) {
  std::string s(trim(in));
  std::uint64_t n = 0;
  std::size_t used = 0;
  if (!parse_number(s, n, used)) return false;
  std::string unit = s.substr(used);
  std::uint64_t mult;
  if (unit.empty() || unit == "s") mult = 1000;
  else if (unit == "ms") mult = 1;
  else if (unit == "m") mult = 60'000;
  else if (unit == "h") mult = 3'600'000;
  else if (unit == "d") mult = 86'400'000;
  else return false;
  if (n > std::numeric_limits<std::int64_t>::max() / mult) return false;
  out = std::chrono::milliseconds(static_cast<std::int64_t>(n * mult));
  return true;
}

bool parse_size(const std::string& in, std::size_t& out) {
  std::string s(trim(in));
  std::uint64_t n = 0;
  std::size_t used = 0;
  if (!parse_number(s, n, used)) return false;
  std::string unit = s.substr(used);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::uint64_t mult;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib") mult = 1024;
  else if (unit == "m" || unit == "mb" || unit == "mib") mult = 1024 * 1024;
  else if (unit == "g" || unit == "gb" || unit == "gib") mult = 1024ull * 1024 * 1024;
  else return false;
  if (n > std::numeric_limits<std::size_t>::max() / mult) return false;
  out = static_cast<std::size_t>(n * mult);
  return true;
}

bool parse_host_port(const std::string& s, std::string& host, std::uint16_t& port,
                     bool allow_zero_port) {
  std::string h, p;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
    h = s.substr(1, close - 1);
    p = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string::npos || s.find(':') != colon) return false;
    h = s.substr(0, colon);
    p = s.substr(colon + 1);
  }
  if (h.empty() || p.empty()) return false;
  std::uint64_t n = 0;
  std::size_t used = 0;
  if (!parse_number(p, n, used) || used != p.size() || (n == 0 && !allow_zero_port) || n > 65535)
    return false;
  host = h;
  port = static_cast<std::uint16_t>(n);
  return true;
}

struct ConfigMap::Impl {
  YAML::Node node;
};

ConfigMap::ConfigMap(const YAML::Node& node, std::string file, std::string path,
                     std::vector<ConfigError>* errors)
    : impl_(std::make_unique<Impl>()), file_(std::move(file)), path_(std::move(path)),
      errors_(errors) {
  impl_->node = node;
  if (node.IsDefined() && !node.IsNull() && !node.IsMap()) {
    errors_->push_back({file_, line_of(node), path_, "must be a mapping of keys to values"});
    impl_->node = YAML::Node();
    return;
  }
  if (node.IsMap()) {
    std::set<std::string> seen;
    for (const auto& kv : node) {
      auto k = kv.first.as<std::string>("");
      if (!seen.insert(k).second)
        errors_->push_back({file_, line_of(kv.first), path_of(k), "duplicate key"});
    }
  }
}

ConfigMap::~ConfigMap() { finish(); }

std::string ConfigMap::path_of(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

bool ConfigMap::has(const std::string& key) const {
  return impl_->node.IsMap() && impl_->node[key].IsDefined();
}

void ConfigMap::error(const std::string& key, const std::string& what) {
  YAML::Node n = has(key) ? impl_->node[key] : impl_->node;
  errors_->push_back({file_, line_of(n), path_of(key), what});
}

void ConfigMap::error_at(const YAML::Node& n, const std::string& key, const std::string& what) {
  errors_->push_back({file_, line_of(n), path_of(key), what});
}

YAML::Node ConfigMap::node(const std::string& key) {
  used_.insert(key);
  if (!impl_->node.IsMap()) return YAML::Node();
  return impl_->node[key];
}

namespace {
// Scalar text of n, or nullopt (with an error) if n is not a scalar.
std::optional<std::string> scalar(ConfigMap& m, const YAML::Node& n, const std::string& key,
                                  const char* expected) {
  if (!n.IsScalar()) {
    m.error(key, std::string("expected ") + expected);
    return std::nullopt;
  }
  return n.Scalar();
}

// 12, 0.1, -2.5: as an admin wrote it, without trailing zeros.
std::string fmt_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
}  // namespace

void ConfigMap::get(const std::string& key, bool& out) {
  YAML::Node n = node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  auto s = scalar(*this, n, key, "true or false");
  if (!s) return;
  if (*s == "true" || *s == "yes" || *s == "on") out = true;
  else if (*s == "false" || *s == "no" || *s == "off") out = false;
  else error(key, "expected true or false (got \"" + *s + "\")");
}

void ConfigMap::get(const std::string& key, std::string& out) {
  YAML::Node n = node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  if (auto s = scalar(*this, n, key, "a string")) out = *s;
}

void ConfigMap::get(const std::string& key, std::vector<std::string>& out) {
  YAML::Node n = node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  if (n.IsScalar()) {  // a single value reads as a one-element list
    out = {n.Scalar()};
    return;
  }
  if (!n.IsSequence()) {
    error(key, "expected a list of strings");
    return;
  }
  std::vector<std::string> v;
  for (const auto& item : n) {
    if (!item.IsScalar()) {
      error_at(item, key, "expected a list of strings");
      return;
    }
    v.push_back(item.Scalar());
  }
  out = std::move(v);
}

void ConfigMap::get_uint(const std::string& key, std::uint64_t& out, std::uint64_t min,
                         std::uint64_t max) {
  YAML::Node n = node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  auto s = scalar(*this, n, key, "a whole number");
  if (!s) return;
  std::uint64_t v = 0;
  std::size_t used = 0;
  std::string t(trim(*s));
  if (!parse_number(t, v, used) || used != t.size()) {
    error(key, "expected a whole number (got \"" + *s + "\")");
    return;
  }
  if (v < min || v > max) {
    error(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                   " (got " + std::to_string(v) + ")");
    return;
  }
  out = v;
}

void ConfigMap::get_number(const std::string& key, double& out, double min, double max) {
  YAML::Node n = node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  auto s = scalar(*this, n, key, "a number");
  if (!s) return;
  std::string t(trim(*s));
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (t.empty() || *end || !std::isfinite(v)) {
    error(key, "expected a number such as 5 or 7.5 (got \"" + *s + "\")");
    return;
  }
  if (v < min || v > max) {
    error(key, "must be between " + fmt_number(min) + " and " + fmt_number(max) + " (got " + t + ")");
    return;
  }
  out = v;
}

void ConfigMap::get_size(const std::string& key, std::size_t& out, std::size_t min,
                         std::size_t max) {
  YAML::Node n = node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  auto s = scalar(*this, n, key, "a size such as 25M or 512k");
  if (!s) return;
  std::size_t v = 0;
  if (!parse_size(*s, v)) {
    error(key, "expected a size such as 25M, 512k or 1000 (got \"" + *s + "\")");
    return;
  }
  if (v < min || v > max) {
    error(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                   " bytes (got " + std::to_string(v) + ")");
    return;
  }
  out = v;
}

void ConfigMap::get_duration(const std::string& key, std::chrono::milliseconds& out,
                             std::chrono::milliseconds min, std::chrono::milliseconds max) {
  YAML::Node n = node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  auto s = scalar(*this, n, key, "a duration such as 30s or 5m");
  if (!s) return;
  std::chrono::milliseconds v{};
  if (!parse_duration(*s, v)) {
    error(key, "expected a duration such as 1500ms, 30s, 5m or 1h (got \"" + *s + "\")");
    return;
  }
  if (v < min || v > max) {
    error(key, "must be between " + std::to_string(min.count()) + "ms and " +
                   std::to_string(max.count()) + "ms (got " + *s + ")");
    return;
  }
  out = v;
}

void ConfigMap::get_enum(const std::string& key, std::string& out,
                         std::initializer_list<const char*> allowed) {
  get_enum(key, out, std::vector<const char*>(allowed));
}

void ConfigMap::get_enum(const std::string& key, std::string& out, const std::vector<const char*>& allowed) {
  YAML::Node n = node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  auto s = scalar(*this, n, key, "a word");
  if (!s) return;
  std::string list;
  for (const char* a : allowed) {
    if (*s == a) {
      out = *s;
      return;
    }
    list += list.empty() ? "" : ", ";
    list += a;
  }
  error(key, "must be one of " + list + " (got \"" + *s + "\")");
}

void ConfigMap::get_reply(const std::string& key, SmtpReply& out) {
  YAML::Node n = node(key);
  if (!n.IsDefined() || n.IsNull()) return;
  auto s = scalar(*this, n, key, "a reply such as \"550 5.7.1 Text\"");
  if (!s) return;
  std::string t(trim(*s));
  std::uint64_t code = 0;
  std::size_t used = 0;
  if (!parse_number(t, code, used) || used != 3 || t.size() < 5 || t[3] != ' ') {
    error(key, "expected \"CODE X.Y.Z text\", e.g. \"550 5.7.1 Rejected\" (got \"" + *s + "\")");
    return;
  }
  std::string rest = t.substr(4);
  auto sp = rest.find(' ');
  std::string enhanced = rest.substr(0, sp);
  std::string text = sp == std::string::npos ? "" : std::string(trim(rest.substr(sp + 1)));
  if (code / 100 == 3 && !is_enhanced_code(enhanced)) {
    enhanced.clear();
    text = rest;
  }
  if (code / 100 != 3 && !is_enhanced_code(enhanced)) {
    error(key, "expected an enhanced status code after the reply code, e.g. \"" +
                   std::to_string(code) + " " + std::to_string(code / 100) + ".7.1 Text\" (got \"" + *s + "\")");
    return;
  }
  std::string why;
  auto r = SmtpReply::make(static_cast<int>(code), enhanced, text, &why);
  if (!r) {
    error(key, why);
    return;
  }
  out = *r;
}

std::unique_ptr<ConfigMap> ConfigMap::child(const std::string& key) {
  return std::make_unique<ConfigMap>(node(key), file_, path_of(key), errors_);
}

std::unique_ptr<ConfigMap> ConfigMap::map_at(const YAML::Node& n, const std::string& key) {
  return std::make_unique<ConfigMap>(n, file_, path_of(key), errors_);
}

void ConfigMap::finish() {
  if (finished_) return;
  finished_ = true;
  if (!impl_->node.IsMap()) return;
  std::vector<std::string> known(used_.begin(), used_.end());
  for (const auto& kv : impl_->node) {
    auto k = kv.first.as<std::string>("");
    if (used_.count(k)) continue;
    std::string what = "unknown key";
    std::string best;
    std::size_t best_d = 3;  // suggest only close matches
    for (const auto& cand : known) {
      auto d = edit_distance(k, cand);
      if (d < best_d) {
        best_d = d;
        best = cand;
      }
    }
    if (!best.empty()) what += " (did you mean " + best + "?)";
    errors_->push_back({file_, line_of(kv.first), path_of(k), what});
  }
}

void ConfigMap::get_scores(const std::string& key, std::map<std::string, double>& out) {
  YAML::Node scores = node(key);
  if (!scores.IsDefined() || scores.IsNull()) return;
  if (!scores.IsMap()) {
    error(key, "expected a mapping of SYMBOL: score");
    return;
  }
  for (const auto& kv : scores) {
    auto sym = kv.first.as<std::string>("");
    if (!out.count(sym)) {
      std::string known;
      for (const auto& [name, score] : out) known += (known.empty() ? "" : ", ") + name;
      error_at(kv.first, key + "." + sym, "unknown symbol for this filter (known: " + known + ")");
      continue;
    }
    try {
      out[sym] = kv.second.as<double>();
    } catch (const YAML::Exception&) {
      error_at(kv.second, key + "." + sym, "expected a number");
    }
  }
}

}  // namespace mxgate
