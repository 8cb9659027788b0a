// The fuzz harnesses' driver for builds without libFuzzer (g++; the suite's normal
// and sanitizer runs): every file under the directories given is one input, then a
// short deterministic mutation run from them (byte flips, inserts, cuts, splices).
// The real fuzzing is tests/fuzz/fuzz.sh (clang, libFuzzer); this keeps every
// harness, and every input that once crashed one (tests/fuzz/corpus/<name>/), in ctest.
//
//   fuzz_x_replay [--mutations N] DIR_OR_FILE...
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

void run(const std::string& s) { LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }

}  // namespace

int main(int argc, char** argv) {
  std::size_t mutations = 2000;
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--mutations" && i + 1 < argc) {
      mutations = std::strtoul(argv[++i], nullptr, 10);
      continue;
    }
    std::filesystem::path p(a);
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::recursive_directory_iterator(p, ec))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) inputs.push_back(read_file(f));
    } else if (std::filesystem::is_regular_file(p, ec)) {
      inputs.push_back(read_file(p));
    }
  }
  inputs.push_back("");
  for (const auto& in : inputs) run(in);
  std::mt19937_64 rng(0x6d78676174650000ULL);  // fixed: the same run every time
  std::string cur;
  for (std::size_t n = 0; n < mutations; ++n) {
    cur = inputs[rng() % inputs.size()];
    const int ops = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < ops; ++k) {
      const std::size_t at = cur.empty() ? 0 : rng() % (cur.size() + 1);
      switch (rng() % 5) {
        case 0: if (!cur.empty() && at < cur.size()) cur[at] = static_cast<char>(rng()); break;
        case 1: cur.insert(at, 1 + rng() % 16, static_cast<char>(rng())); break;
        case 2: if (at < cur.size()) cur.erase(at, 1 + rng() % 32); break;
        case 3: {  // splice in a piece of another input
          const std::string& o = inputs[rng() % inputs.size()];
          if (!o.empty()) {
            const std::size_t from = rng() % o.size();
            cur.insert(at, o.substr(from, 1 + rng() % 64));
          }
          break;
        }
        default: {  // a byte that parsers care about
          static const char kSpecial[] = "\r\n.:;=@<>\"()\\ \t,-/*[]{}%'";
          cur.insert(at, 1, kSpecial[rng() % (sizeof kSpecial - 1)]);
        }
      }
    }
    run(cur);
  }
  std::printf("%zu inputs, %zu mutations: no crash\n", inputs.size(), mutations);
  return 0;
}
