// JsonWriter: a minimal writer for the one-line JSON records mxgate logs and prints
// (transaction log, `mxgate check --json`). Strings are escaped per RFC 8259; bytes
// that are not valid UTF-8 are written as \u00XX so a hostile header cannot break a line.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace mxgate {

class JsonWriter {
 public:
  JsonWriter& begin_object() { sep(); out_ += '{'; first_ = true; return *this; }
  JsonWriter& end_object() { out_ += '}'; first_ = false; return *this; }
  JsonWriter& begin_array() { sep(); out_ += '['; first_ = true; return *this; }
  JsonWriter& end_array() { out_ += ']'; first_ = false; return *this; }
  JsonWriter& key(std::string_view k) { sep(); str(k); out_ += ':'; first_ = true; return *this; }
  JsonWriter& value(std::string_view s) { sep(); str(s); return *this; }
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b) { sep(); out_ += b ? "true" : "false"; return *this; }
  JsonWriter& value(long long n) { sep(); out_ += std::to_string(n); return *this; }
  JsonWriter& value(unsigned long long n) { sep(); out_ += std::to_string(n); return *this; }
  JsonWriter& value(int n) { return value(static_cast<long long>(n)); }
  JsonWriter& value(unsigned n) { return value(static_cast<unsigned long long>(n)); }
  JsonWriter& value(long n) { return value(static_cast<long long>(n)); }
  JsonWriter& value(unsigned long n) { return value(static_cast<unsigned long long>(n)); }
  JsonWriter& value(double d);
  JsonWriter& null() { sep(); out_ += "null"; return *this; }
  template <typename T>
  JsonWriter& field(std::string_view k, const T& v) { key(k); return value(v); }
  const std::string& str() const { return out_; }

 private:
  void sep() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  void str(std::string_view s);
  std::string out_;
  bool first_ = true;
};

// Unix seconds as "2026-12-07T19:00:00Z" (UTC); "" for 0 or less (unknown).
std::string iso_time(std::int64_t unix_seconds);

}  // namespace mxgate
