#include "filters/headers/headers_filter.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "filters/config_node.hpp"

namespace mxgate {
namespace {

std::vector<std::string> names(const Verdict& v) {
  std::vector<std::string> out;
  for (const auto& s : v.symbols) out.push_back(s.name);
  return out;
}

struct Row {
  const char* what;
  const char* message;
  bool smtputf8;
  std::vector<std::string> symbols;
};

TEST(HeadersFilter, TableOfMessages) {
  HeadersFilter f(std::make_shared<HeadersConfig>());
  const char* good = "From: a@example.net\r\nTo: b@example.org\r\nSubject: s\r\n"
                     "Date: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n";
  Row rows[] = {
      {"complete", good, false, {}},
      {"nothing", "\r\nbody\r\n", false, {"MISSING_FROM", "MISSING_DATE", "MISSING_MID", "MISSING_SUBJECT"}},
      {"two From", "From: a@x\r\nFrom: b@y\r\nSubject: s\r\nDate: d\r\nMessage-ID: <1@x>\r\n\r\n", false,
       {"MULTIPLE_FROM"}},
      {"duplicates", "From: a@x\r\nSubject: 1\r\nSubject: 2\r\nDate: d\r\nDate: e\r\nMessage-ID: <1@x>\r\n\r\n",
       false, {"DUPLICATE_HEADER"}},
      {"malformed", "From: a@x\r\nSubject: s\r\nDate: d\r\nMessage-ID: <1@x>\r\nnot a header\r\n\r\n", false,
       {"HEADER_MALFORMED"}},
      {"8bit no smtputf8", "From: a@x\r\nSubject: caf\xc3\xa9\r\nDate: d\r\nMessage-ID: <1@x>\r\n\r\n", false,
       {"HEADER_8BIT"}},
      {"8bit with smtputf8", "From: a@x\r\nSubject: caf\xc3\xa9\r\nDate: d\r\nMessage-ID: <1@x>\r\n\r\n", true, {}},
  };
  for (const auto& row : rows) {
    Envelope env;
    env.smtputf8 = row.smtputf8;
    Verdict v = f.check(env, Message(row.message));
    EXPECT_EQ(v.action, Action::Continue) << row.what;
    EXPECT_EQ(names(v), row.symbols) << row.what;
  }
  Verdict dup = f.check(Envelope{}, Message(rows[3].message));
  EXPECT_EQ(dup.symbols[0].detail, "Date,Subject");
  EXPECT_DOUBLE_EQ(dup.symbols[0].score, 1.5);
}

TEST(HeadersFilter, ScoresFromConfig) {
  std::vector<ConfigError> errs;
  YAML::Node n = YAML::Load("scores: { MISSING_DATE: 3.25, NO_SUCH: 1 }\n");
  FilterPtr f;
  {
    ConfigMap cfg(n, "c.yaml", "headers", &errs);
    f = make_headers_filter(cfg);
  }
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].str(), "c.yaml:1: headers.scores.NO_SUCH: unknown symbol for this filter (known: DUPLICATE_HEADER, HEADER_8BIT, "
            "HEADER_MALFORMED, MISSING_DATE, MISSING_FROM, MISSING_MID, MISSING_SUBJECT, MULTIPLE_FROM)");
  auto* hf = dynamic_cast<HeadersFilter*>(f.get());
  ASSERT_NE(hf, nullptr);
  Verdict v = hf->check(Envelope{}, Message("From: a@x\r\nSubject: s\r\nMessage-ID: <1@x>\r\n\r\n"));
  ASSERT_EQ(v.symbols.size(), 1u);
  EXPECT_EQ(v.symbols[0].name, "MISSING_DATE");
  EXPECT_DOUBLE_EQ(v.symbols[0].score, 3.25);
}

}  // namespace
}  // namespace mxgate
