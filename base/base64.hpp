// Base64 (RFC 4648 section 4, the "+/" alphabet), for the layers that read or write
// it: DKIM's tags and keys (strict: the caller checks the syntax first) and the
// content tests' leaf decoding (lenient, as SpamAssassin's Util.pm decodes).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace mxgate {

// The 6-bit value of a base64 alphabet character; -1 for any other byte ('=' too).
constexpr int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Decodes whatever is given: bytes outside the alphabet (padding, line breaks, junk)
// are skipped, and bits left over at the end that do not make a byte are dropped.
// On well-formed, padded base64 this is the strict decoding.
inline std::string base64_decode_lenient(std::string_view in) {
  std::string out;
  out.reserve(in.size() / 4 * 3);
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = base64_value(c);
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

// p[0..n) as base64, padded with '='.
inline std::string base64_encode(const unsigned char* p, std::size_t n) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (std::size_t i = 0; i < n; i += 3) {
    unsigned v = unsigned(p[i]) << 16;
    if (i + 1 < n) v |= unsigned(p[i + 1]) << 8;
    if (i + 2 < n) v |= unsigned(p[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[v & 63] : '=';
  }
  return out;
}

}  // namespace mxgate
