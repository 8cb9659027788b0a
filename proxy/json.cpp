#include "proxy/json.hpp"

#include <ctime>

#include <cmath>
#include <cstdio>

namespace mxgate {

JsonWriter& JsonWriter::value(double d) {
  sep();
  if (!std::isfinite(d)) {
    out_ += "null";
    return *this;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", d);
  out_ += buf;
  return *this;
}

namespace {
// Length of the valid UTF-8 sequence at s[i], or 0.
std::size_t utf8_len(std::string_view s, std::size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  std::size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  return n;
}
}  // namespace

void JsonWriter::str(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out_ += '"';
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out_ += "\\\""; continue;
      case '\\': out_ += "\\\\"; continue;
      case '\n': out_ += "\\n"; continue;
      case '\r': out_ += "\\r"; continue;
      case '\t': out_ += "\\t"; continue;
    }
    if (c < 0x20 || c == 0x7f) {
      out_ += "\\u00";
      out_ += hex[c >> 4];
      out_ += hex[c & 15];
    } else if (c < 0x80) {
      out_ += static_cast<char>(c);
    } else if (std::size_t n = utf8_len(s, i)) {
      out_.append(s.substr(i, n));
      i += n - 1;
    } else {
      out_ += "\\u00";
      out_ += hex[c >> 4];
      out_ += hex[c & 15];
    }
  }
  out_ += '"';
}

std::string iso_time(std::int64_t t) {
  if (t <= 0) return {};
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace mxgate
