#include "proxy/quarantine_cli.hpp"

#include <gtest/gtest.h>

namespace mxgate {
namespace {

TEST(QuarantineCli, TimesDatesAndAges) {
  const std::int64_t now = 1'795'000'000;  // 2026-11-18T...Z
  std::int64_t t = 0;
  ASSERT_TRUE(parse_cli_time("2026-11-23", now, t));
  EXPECT_EQ(t, 1'795'392'000);  // 2026-11-23T00:00:00Z
  ASSERT_TRUE(parse_cli_time("2026-11-23T10:00:00", now, t));
  EXPECT_EQ(t, 1'795'392'000 + 36'000);
  ASSERT_TRUE(parse_cli_time("2026-11-23T10:00:00Z", now, t));
  EXPECT_EQ(t, 1'795'392'000 + 36'000);
  ASSERT_TRUE(parse_cli_time("90s", now, t));
  EXPECT_EQ(t, now - 90);
  ASSERT_TRUE(parse_cli_time("30m", now, t));
  EXPECT_EQ(t, now - 1800);
  ASSERT_TRUE(parse_cli_time("2h", now, t));
  EXPECT_EQ(t, now - 7200);
  ASSERT_TRUE(parse_cli_time("7d", now, t));
  EXPECT_EQ(t, now - 7 * 86400);
  for (const char* bad : {"", "yesterday", "2026-02-31", "2026-13-01", "2026-01-5x", "2026-1-5", "7w", "d",
                          "2026-11-23T25:00:00", "2026-11-23T10:00", "2026-11-23 10:00:00", "10h30m"})
    EXPECT_FALSE(parse_cli_time(bad, now, t)) << bad;
}

}  // namespace
}  // namespace mxgate
