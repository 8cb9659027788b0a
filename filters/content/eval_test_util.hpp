// Test helper for the eval_*_test.cpp files: one message through one eval call,
// with the message parsed as the content filter parses it.
#pragma once
#include <string>
#include <vector>

#include "filters/content/eval_tests.hpp"
#include "filters/mime/mime.hpp"

#include <stdexcept>

namespace mxgate::testing {

// Runs `function(args...)` on the message text (LF or CRLF line ends; LF become
// CRLF, as a message arrives in DATA). Returns the hit's detail, or nullopt.
inline EvalResult run_eval(const std::string& function, const std::vector<std::string>& args, const std::string& text,
                           const Envelope& env = {}, const EvalSettings& settings = {}) {
  std::string crlf;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) crlf += '\r';
    crlf += text[i];
  }
  Message msg(crlf);
  MimeView view = parse_mime(msg);
  ScanTexts texts = build_scan_texts(view, msg, ScanLimits{});
  EvalContext ctx(view, msg, env, texts, settings);
  const auto& table = eval_table();
  auto it = table.find(function);
  if (it == table.end()) throw std::runtime_error("eval function not registered: " + function);
  return it->second.run(ctx, args);
}

inline bool hits(const std::string& function, const std::vector<std::string>& args, const std::string& text,
                 const Envelope& env = {}, const EvalSettings& settings = {}) {
  return run_eval(function, args, text, env, settings).has_value();
}

}  // namespace mxgate::testing
