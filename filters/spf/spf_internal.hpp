// Internal to filters/spf/: what spf_record.cpp, spf_macro.cpp and spf_eval.cpp
// share. The filter's interface is spf.hpp; nothing outside filters/spf/ includes this.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <vector>

namespace mxgate::spf_detail {

// ------------------------------------------------------------------ addresses (spf_record.cpp)

struct Ip {
  bool v4 = true;
  std::array<unsigned char, 16> b{};  // v4: the first 4 bytes
  std::string text;
};

bool parse_ip(const std::string& s, Ip& out);
bool prefix_equal(const unsigned char* a, const unsigned char* b, unsigned bits);
bool covers(const Ip& client, const std::string& record, unsigned bits);

// ------------------------------------------------------------------ names (spf_record.cpp)

bool toplabel(const std::string& l);
bool valid_domain(std::string d);
std::string strip_dot(std::string d);
std::string truncate_left(std::string d);
bool under(const std::string& name, const std::string& domain);

// ------------------------------------------------------------------ records (4.6, spf_record.cpp)

enum class Qual { Pass, Fail, SoftFail, Neutral };
enum class Mech { All, Include, A, Mx, Ptr, Ip4, Ip6, Exists };

struct Term {
  Qual qual = Qual::Pass;
  Mech mech = Mech::All;
  std::string domain_spec;  // "" where the mechanism defaults to the current domain
  unsigned cidr4 = 32, cidr6 = 128;
  Ip net;                   // ip4/ip6
  std::string text;         // as written, for logs and Received-SPF
};

struct Record {
  std::vector<Term> terms;
  std::optional<std::string> redirect, exp;
  bool has_all = false;
};

bool parse_record(const std::string& txt, Record& rec, std::string& error);
bool is_spf1(const std::string& txt);

// ------------------------------------------------------------------ macros (7, spf_macro.cpp)

bool macro_syntax(const std::string& s, bool explain, bool* ends_with_macro = nullptr);
bool domain_spec_syntax(const std::string& s);

struct MacroValues {
  std::string s, l, o, d, i, p, h, c, r, t, v;
};

bool expand(const std::string& s, const MacroValues& m, bool explain, std::string& out);
bool uses_p_macro(const std::string& s);

}  // namespace mxgate::spf_detail
