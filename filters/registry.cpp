#include "filters/registry.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <functional>
#include <memory>

#include "filters/arc/arc_filter.hpp"
#include "filters/bayes/bayes_filter.hpp"
#include "filters/config_node.hpp"
#include "filters/content/content_filter.hpp"
#include "filters/dkim/dkim_filter.hpp"
#include "filters/dmarc/dmarc_filter.hpp"
#include "filters/dnsbl/dnsbl_filter.hpp"
#include "filters/headers/headers_filter.hpp"
#include "filters/mime/mime_filter.hpp"
#include "filters/spf/spf_filter.hpp"

namespace mxgate {
namespace {
using Factory = std::function<FilterPtr(ConfigMap&)>;
struct Entry {
  const char* name;
  Factory make;
};

// One line per filter.
const Entry kFilters[] = {
    {"headers", make_headers_filter},
    {"spf", make_spf_filter},
    {"dkim", make_dkim_filter},
    {"arc", make_arc_filter},
    {"dmarc", make_dmarc_filter},
    {"dnsbl", make_dnsbl_filter},
    {"mime", make_mime_filter},
    {"bayes", make_bayes_filter},
    {"content", make_content_filter},
};

// Filters that read what others left in FilterState, and the filters that must run
// before them.
struct Needs {
  const char* filter;
  std::vector<const char*> before;
};
const Needs kOrder[] = {
    {"dmarc", {"spf", "dkim"}},
};
// Filters whose results only a later filter turns into symbols, and that filter.
const Needs kReadBy[] = {
    {"bayes", {"content"}},  // the BAYES_* rules (check_bayes) score its probability
};
}  // namespace

std::vector<std::string> filter_names() {
  std::vector<std::string> out;
  for (const auto& e : kFilters) out.emplace_back(e.name);
  return out;
}

std::vector<FilterPtr> build_filters(const YAML::Node& list, const std::string& file,
                                     std::vector<ConfigError>* errors) {
  std::vector<FilterPtr> out;
  if (!list.IsDefined() || list.IsNull()) return out;
  auto line = [](const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; };
  if (!list.IsSequence()) {
    errors->push_back({file, line(list), "filters", "expected a list of filter names"});
    return out;
  }
  std::string known;
  for (const auto& e : kFilters) known += std::string(known.empty() ? "" : ", ") + e.name;
  std::size_t index = 0;
  std::vector<std::string> names;
  std::vector<std::pair<std::string, int>> read_by_checks;  // filter, its line
  for (const auto& item : list) {
    std::string key = "filters[" + std::to_string(index++) + "]";
    std::string name;
    YAML::Node options;
    if (item.IsScalar()) {
      name = item.Scalar();
    } else if (item.IsMap() && item.size() == 1) {
      name = item.begin()->first.as<std::string>("");
      options = item.begin()->second;
    } else {
      errors->push_back({file, line(item), key, "expected a filter name, or name: { options }"});
      continue;
    }
    const Entry* entry = nullptr;
    for (const auto& e : kFilters)
      if (name == e.name) entry = &e;
    if (!entry) {
      errors->push_back({file, line(item), key, "unknown filter \"" + name + "\" (known: " + known + ")"});
      continue;
    }
    for (const auto& n : kOrder) {
      if (name != n.filter) continue;
      for (const char* b : n.before)
        if (std::find(names.begin(), names.end(), b) == names.end())
          errors->push_back({file, line(item), key, name + " needs " + b + " before it in the list (it reads " + b + "'s results)"});
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      errors->push_back({file, line(item), key, "filter \"" + name + "\" is listed twice"});
      continue;
    }
    names.push_back(name);
    for (const auto& n : kReadBy)
      if (name == n.filter) read_by_checks.emplace_back(name, line(item));
    ConfigMap cfg(options, file, name, errors);
    if (auto f = entry->make(cfg)) out.push_back(std::move(f));
  }
  for (const auto& [name, at] : read_by_checks) {
    auto self = std::find(names.begin(), names.end(), name);
    for (const auto& n : kReadBy) {
      if (name != n.filter) continue;
      for (const char* after : n.before)
        if (std::find(self, names.end(), after) == names.end())
          errors->push_back({file, at, "filters", name + " needs " + after + " after it in the list (" + after +
                                                      " turns its results into symbols)"});
    }
  }
  return out;
}

}  // namespace mxgate
