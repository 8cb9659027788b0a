// The filter registry: maps the names used in the config's `filters` list to
// constructors. Wiring in a new filter is one line in registry.cpp.
//
//   filters:
//     - headers                      # a filter with its defaults
//     - headers: { scores: { MISSING_DATE: 2.5 } }
#pragma once
#include <string>
#include <vector>

#include "base/config_error.hpp"
#include "filters/filter.hpp"

namespace YAML { class Node; }

namespace mxgate {

// Builds filters from the `filters` node (a YAML list), in order. Errors (unknown
// filter names, bad options) are appended with file and line.
std::vector<FilterPtr> build_filters(const YAML::Node& list, const std::string& file,
                                     std::vector<ConfigError>* errors);
std::vector<std::string> filter_names();

}  // namespace mxgate
