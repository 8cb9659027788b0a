#include "proxy/data_reader.hpp"

#include <gtest/gtest.h>

namespace mxgate {
namespace {

struct Fed {
  std::string content;
  std::size_t used = 0;
  bool done = false;
  DataReader::Problem problem = DataReader::Problem::None;
};

// Feeds `raw` in chunks of `chunk` bytes (1 = byte by byte) so state survives splits.
Fed feed(const std::string& raw, DataLimits lim = {}, std::size_t chunk = 0) {
  DataReader r(lim);
  Fed f;
  if (chunk == 0) chunk = raw.size() ? raw.size() : 1;
  for (std::size_t i = 0; i < raw.size() && !r.done(); i += chunk) {
    std::string_view piece = std::string_view(raw).substr(i, chunk);
    f.used += r.feed(piece);
  }
  f.done = r.done();
  f.problem = r.problem();
  f.content = r.take();
  return f;
}

TEST(DataReader, EndsOnlyAtCrLfDotCrLfAndUnstuffs) {
  for (std::size_t chunk : {0, 1, 2, 3, 7}) {
    Fed f = feed("Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n", {}, chunk);
    EXPECT_TRUE(f.done) << chunk;
    EXPECT_EQ(f.content, "Subject: x\r\n\r\n.leading dot\r\n") << chunk;
    EXPECT_EQ(f.used, std::string("Subject: x\r\n\r\n..leading dot\r\n.\r\n").size()) << chunk;
    EXPECT_EQ(f.problem, DataReader::Problem::None);
  }
}

TEST(DataReader, EmptyMessage) {
  Fed f = feed(".\r\n");
  EXPECT_TRUE(f.done);
  EXPECT_EQ(f.content, "");
}

// Every end-of-data lookalike used for SMTP smuggling stays inside the message.
TEST(DataReader, SmugglingSequencesNeverEndTheData) {
  const char* lookalikes[] = {"\n.\n", "\n.\r\n", "\r.\r", "\r\n.\n", "\n.\r", "\r.\r\n", "\r\n.\r"};
  for (const char* seq : lookalikes) {
    std::string raw = std::string("Subject: a\r\n\r\nbody") + seq +
                      "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<v@example.org>\r\nDATA\r\nsmuggled\r\n.\r\n";
    for (bool normalize : {false, true}) {
      DataLimits lim;
      lim.normalize_bare = normalize;
      for (std::size_t chunk : {0, 1}) {
        Fed f = feed(raw, lim, chunk);
        EXPECT_TRUE(f.done);
        EXPECT_EQ(f.used, raw.size()) << "ended early on a lookalike";
        EXPECT_EQ(f.problem, normalize ? DataReader::Problem::None : DataReader::Problem::BareLineEnding);
        if (normalize) {
          EXPECT_NE(f.content.find("MAIL FROM:<evil@attacker.example>\r\n"), std::string::npos);
          // No bare CR or LF left: every CR is followed by LF and every LF preceded by CR.
          for (std::size_t i = 0; i < f.content.size(); ++i) {
            if (f.content[i] == '\r') {
              ASSERT_TRUE(i + 1 < f.content.size() && f.content[i + 1] == '\n');
            }
            if (f.content[i] == '\n') {
              ASSERT_TRUE(i > 0 && f.content[i - 1] == '\r');
            }
          }
        }
      }
    }
  }
}

TEST(DataReader, LimitsAreCountedButReadingGoesOn) {
  DataLimits lim;
  lim.max_message_bytes = 100;
  Fed big = feed("Subject: x\r\n\r\n" + std::string(200, 'a') + "\r\n.\r\n", lim);
  EXPECT_TRUE(big.done);
  EXPECT_EQ(big.problem, DataReader::Problem::TooBig);
  EXPECT_EQ(big.content, "");

  DataLimits lines;
  lines.max_line_length = 1000;
  lines.reject_long_lines = true;  // smtp.long_lines: reject
  Fed ok = feed(std::string(998, 'a') + "\r\n.\r\n", lines);
  EXPECT_EQ(ok.problem, DataReader::Problem::None);
  Fed too_long = feed(std::string(999, 'a') + "\r\n.\r\n", lines);
  EXPECT_EQ(too_long.problem, DataReader::Problem::LineTooLong);

  DataLimits head;
  head.max_header_bytes = 50;
  Fed hdr = feed("X-Long: " + std::string(60, 'h') + "\r\n\r\nshort\r\n.\r\n", head);
  EXPECT_EQ(hdr.problem, DataReader::Problem::HeaderTooBig);
  Fed body = feed("X: y\r\n\r\n" + std::string(60, 'b') + "\r\n.\r\n", head);
  EXPECT_EQ(body.problem, DataReader::Problem::None);
}

// smtp.long_lines: accept (the default): a long line is counted once, kept byte for
// byte, and is no problem; split across reads, in the header or the body, or after a
// bare line end, each long line counts once.
TEST(DataReader, LongLinesAreKeptAndCounted) {
  const std::string line5000(5000, 'x');
  for (std::size_t chunk : {0, 1, 7, 999, 1000, 4096}) {
    DataReader r(DataLimits{});
    std::string raw = "Subject: long\r\nX-Long: " + std::string(1200, 'h') + "\r\n\r\n" + line5000 +
                      "\r\nshort\r\n" + std::string(998, 'a') + "\r\n" + std::string(999, 'b') + "\r\n.\r\n";
    if (chunk == 0) chunk = raw.size();
    for (std::size_t i = 0; i < raw.size() && !r.done(); i += chunk) r.feed(std::string_view(raw).substr(i, chunk));
    ASSERT_TRUE(r.done()) << chunk;
    EXPECT_EQ(r.problem(), DataReader::Problem::None) << chunk;
    EXPECT_EQ(r.long_line_count(), 3u) << chunk;  // X-Long, the 5,000 and the 999 line
    std::string c = r.take();
    EXPECT_NE(c.find("\r\n\r\n" + line5000 + "\r\nshort\r\n"), std::string::npos) << chunk;
  }
  // The size limits still bound a long line.
  DataLimits small;
  small.max_message_bytes = 4096;
  EXPECT_EQ(feed("X: y\r\n\r\n" + line5000 + "\r\n.\r\n", small).problem, DataReader::Problem::TooBig);
  DataLimits head;
  head.max_header_bytes = 2048;
  EXPECT_EQ(feed("X: " + line5000 + "\r\n\r\nbody\r\n.\r\n", head).problem, DataReader::Problem::HeaderTooBig);
  // A dot-stuffed long line comes out unstuffed and whole.
  Fed dotted = feed("X: y\r\n\r\n.." + line5000 + "\r\n.\r\n");
  EXPECT_EQ(dotted.problem, DataReader::Problem::None);
  EXPECT_EQ(dotted.content, "X: y\r\n\r\n." + line5000 + "\r\n");
  // Strict: refused, whatever else is fine.
  DataLimits strict;
  strict.reject_long_lines = true;
  EXPECT_EQ(feed("X: y\r\n\r\n" + line5000 + "\r\n.\r\n", strict).problem, DataReader::Problem::LineTooLong);
}

TEST(DotStuff, PiecesJoinToTheWholeAndEndOnLines) {
  std::string content;
  for (int i = 0; i < 200; ++i) content += (i % 3 ? "line " : ".dot ") + std::to_string(i) + "\r\n";
  DotStuffer st("X-A: 1\r\n", content);
  std::string piece, joined;
  int pieces = 0;
  while (st.next(piece, 100)) {
    ++pieces;
    ASSERT_TRUE(piece.size() >= 2 && piece.substr(piece.size() - 2) == "\r\n");
    joined += piece;
  }
  EXPECT_GT(pieces, 10);
  EXPECT_EQ(joined, dot_stuff("X-A: 1\r\n", content));
  EXPECT_EQ(joined.substr(joined.size() - 5), "\r\n.\r\n");
}

TEST(DotStuff, RestuffsAndTerminates) {
  EXPECT_EQ(dot_stuff("", "a\r\n.b\r\n.\r\n"), "a\r\n..b\r\n..\r\n.\r\n");
  EXPECT_EQ(dot_stuff("X-A: 1\r\n", "B: 2\r\n\r\nbody\r\n"), "X-A: 1\r\nB: 2\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(dot_stuff("", ""), ".\r\n");
  EXPECT_EQ(dot_stuff("", "no newline"), "no newline\r\n.\r\n");
  // Round trip: reading the stuffed form gives the content back.
  std::string content = ".\r\n..x\r\nplain\r\n.";
  content += "\r\n";
  Fed back = feed(dot_stuff("", content));
  EXPECT_TRUE(back.done);
  EXPECT_EQ(back.content, content);
}

}  // namespace
}  // namespace mxgate
