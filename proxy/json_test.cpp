#include "proxy/json.hpp"

#include <gtest/gtest.h>

namespace mxgate {
namespace {

TEST(JsonWriter, ObjectsArraysAndEscapes) {
  JsonWriter j;
  j.begin_object().field("a", "x\"y\\z\n").field("n", 3).field("b", true);
  j.key("list").begin_array().value("p").value(2.5).end_array();
  j.key("o").begin_object().end_object();
  j.end_object();
  EXPECT_EQ(j.str(), R"({"a":"x\"y\\z\n","n":3,"b":true,"list":["p",2.5],"o":{}})");
}

TEST(JsonWriter, InvalidUtf8AndControlCharactersAreEscaped) {
  JsonWriter j;
  j.value(std::string("caf\xc3\xa9 \x01 \xff"));
  EXPECT_EQ(j.str(), "\"caf\xc3\xa9 \\u0001 \\u00ff\"");
}

}  // namespace
}  // namespace mxgate
