// SMTP command lines as a client sends them, however split, and XCLIENT's
// attribute list: the reader must neither grow without bound nor misparse.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/smtp_command.hpp"
#include "proxy/xclient.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  mxgate::CommandLineReader reader(512 + (size ? data[0] : 0) * 8);
  std::string buf;
  std::size_t step = size ? 1 + data[size - 1] % 64 : 1;  // chunking decided by the input
  for (std::size_t pos = 0; pos < in.size(); pos += step) {
    buf.append(in.substr(pos, step));
    for (;;) {
      mxgate::CommandLineReader::Next n = reader.next(buf);
      if (n.kind == mxgate::CommandLineReader::Kind::NeedMore) break;
      if (n.kind == mxgate::CommandLineReader::Kind::Line) {
        mxgate::Command c = mxgate::parse_command(n.line);
        (void)c;
      }
    }
  }
  mxgate::ClientInfo current;
  current.ip = "192.0.2.1";
  current.helo = "client.example";
  (void)mxgate::parse_xclient(in, current, "192.0.2.2", 25);
  return 0;
}
