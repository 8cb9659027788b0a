// The layering, checked on the source: dependencies point one way,
//   proxy -> policy -> filters -> rules -> base,
// and no filter reaches into another filter's folder. The folders every filter may
// use are the seam (files directly in filters/) and the shared services: dns (the
// one resolver), auth (the results filters hand each other) and mime (the message's
// MIME view, parsed once). filters/registry.cpp is the one place that names every
// filter (it builds them). Test sources may include what their folder may, plus
// tests/ helpers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {
namespace fs = std::filesystem;

const fs::path kRoot = MXGATE_SOURCE_DIR;

// Which top-level folders each layer may include.
const std::map<std::string, std::set<std::string>> kMayInclude = {
    {"base", {"base"}},
    {"rules", {"base", "rules"}},
    {"filters", {"base", "rules", "filters"}},
    {"policy", {"base", "rules", "filters", "policy"}},
    {"proxy", {"base", "rules", "filters", "policy", "proxy"}},
};
const std::set<std::string> kServices = {"dns", "auth", "mime"};

struct Include {
  fs::path file;
  int line;
  std::string target;  // "filters/dns/resolver.hpp"
};

std::vector<Include> includes_of(const fs::path& file) {
  static const std::regex re(R"re(^\s*#\s*include\s*"([^"]+)")re");
  std::vector<Include> out;
  std::ifstream in(file);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::smatch m;
    if (std::regex_search(line, m, re)) out.push_back({fs::relative(file, kRoot), n, m[1]});
  }
  return out;
}

std::vector<std::string> parts(const fs::path& p) {
  std::vector<std::string> out;
  for (const auto& x : p) out.push_back(x.string());
  return out;
}

// "" if allowed, else why not.
std::string violation(const Include& inc) {
  const auto from = parts(inc.file);
  const auto to = parts(inc.target);
  if (to.size() < 2) return "";  // a generated or same-folder header
  const std::string& layer = from[0];
  const bool test = inc.file.filename().string().find("_test") != std::string::npos;
  if (to[0] == "tests") return test ? "" : "a non-test file includes tests/";
  auto allowed = kMayInclude.find(layer);
  if (allowed == kMayInclude.end()) return "";
  if (!allowed->second.count(to[0])) return layer + "/ may not include " + to[0] + "/ (points up a layer)";
  if (layer == "filters" && to[0] == "filters" && to.size() >= 3) {
    const std::string target_folder = to[1];
    const bool from_folder = from.size() >= 3;
    const std::string source_folder = from_folder ? from[1] : "";
    if (kServices.count(target_folder) || target_folder == source_folder) return "";
    if (!from_folder && inc.file.filename() == "registry.cpp") return "";
    return "filters/" + (from_folder ? source_folder + "/" : std::string()) + " reaches into the filter folder filters/" +
           target_folder + "/";
  }
  return "";
}

TEST(Layering, IncludesPointDownAndNeverSideways) {
  std::size_t checked = 0;
  std::vector<std::string> bad;
  for (const char* top : {"base", "rules", "filters", "policy", "proxy"}) {
    for (const auto& e : fs::recursive_directory_iterator(kRoot / top)) {
      auto ext = e.path().extension();
      if (ext != ".cpp" && ext != ".hpp") continue;
      for (const auto& inc : includes_of(e.path())) {
        ++checked;
        if (auto why = violation(inc); !why.empty())
          bad.push_back(inc.file.string() + ":" + std::to_string(inc.line) + ": " + inc.target + ": " + why);
      }
    }
  }
  EXPECT_GT(checked, 200u);
  for (const auto& b : bad) ADD_FAILURE() << b;
}

// The checker itself: a few includes it must refuse.
TEST(Layering, TheCheckerRefusesWhatItShould) {
  EXPECT_NE(violation({"base/text.hpp", 1, "filters/message.hpp"}), "");
  EXPECT_NE(violation({"rules/rule_parser.cpp", 1, "filters/config_node.hpp"}), "");
  EXPECT_NE(violation({"filters/chain.cpp", 1, "policy/policy.hpp"}), "");
  EXPECT_NE(violation({"policy/outcome.cpp", 1, "proxy/config.hpp"}), "");
  EXPECT_NE(violation({"filters/dmarc/dmarc_eval.cpp", 1, "filters/spf/spf.hpp"}), "");
  EXPECT_NE(violation({"filters/mime/mime_filter.cpp", 1, "filters/content/scan_texts.hpp"}), "");
  EXPECT_NE(violation({"filters/chain.cpp", 1, "filters/content/content_filter.hpp"}), "");
  EXPECT_NE(violation({"proxy/session.cpp", 1, "tests/test_support.hpp"}), "");
  EXPECT_EQ(violation({"filters/dmarc/dmarc_eval.cpp", 1, "filters/dns/resolver.hpp"}), "");
  EXPECT_EQ(violation({"filters/registry.cpp", 1, "filters/content/content_filter.hpp"}), "");
  EXPECT_EQ(violation({"policy/policy.cpp", 1, "filters/dmarc/dmarc.hpp"}), "");
  EXPECT_EQ(violation({"proxy/session_test.cpp", 1, "tests/test_support.hpp"}), "");
}

}  // namespace
