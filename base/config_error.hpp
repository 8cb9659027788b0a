// ConfigError and Result<T>: how loading config and rule files reports what is
// wrong, for every layer (base/ is below rules/). Loading never stops at the first problem: it returns every error it
// found, each naming the file, line and key, printed as
//   samples/mxgate.yaml:12: smtp.max_recipients: must be between 1 and 100000 (got 0)
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mxgate {

struct ConfigError {
  std::string file;
  int line = 0;     // 1-based; 0 when the error is about the file as a whole
  std::string key;  // dotted path as the user typed it ("smtp.max_recipients")
  std::string what;
  std::string str() const;
};

template <typename T>
struct Result {
  std::optional<T> value;
  std::vector<ConfigError> errors;
  bool ok() const { return value.has_value() && errors.empty(); }
};

std::string format_errors(const std::vector<ConfigError>& errors);

}  // namespace mxgate
