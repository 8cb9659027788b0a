// Text helpers for filters/mime that need no GMime: UTF-8 repair, windows-1252
// decoding (WHATWG's reading of iso-8859-1 and us-ascii), and the internals of the
// HTML renderer and URL finder declared in mime.hpp.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mxgate::mime_detail {

void append_utf8(std::string& out, char32_t cp);
// s with each CRLF read as LF (a lone CR stays), as SpamAssassin reads a message.
std::string crlf_to_lf(std::string_view s);
bool is_valid_utf8(std::string_view s);
// Each byte that does not start a valid UTF-8 sequence (overlong forms, surrogates
// and code points above U+10FFFF included) becomes U+FFFD. *replaced counts them.
std::string repair_utf8(std::string_view s, std::size_t* replaced = nullptr);
// windows-1252, with its five undefined bytes mapped to U+0081.. as WHATWG does;
// never fails.
std::string cp1252_to_utf8(std::string_view s);
// Code point of byte 0x80..0x9F in windows-1252 (numeric HTML entities use it too).
char32_t cp1252_c1(unsigned char b);

// URLs with the offset in `text` where each starts (and bare addresses as mailto:
// URIs if `addresses`; see find_urls in mime.hpp).
void find_urls_at(std::string_view text, std::vector<std::pair<std::size_t, std::string>>& out,
                  bool addresses = false);

}  // namespace mxgate::mime_detail
