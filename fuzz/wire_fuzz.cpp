// libFuzzer harness: arbitrary bytes on the milter socket, as tamisd's
// server hands them to MilterProtocol (the first byte picks how the stream
// is split into reads). Nothing may crash, every reply must be a
// well-formed packet, and the connection state must stay bounded.
#include <arpa/inet.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "milter_common.hpp"
#include "protocol.hpp"

using namespace tamis;

namespace {

void check_packets(const std::string& out) {
  std::size_t i = 0;
  while (i < out.size()) {
    if (out.size() - i < 5) std::abort();
    std::uint32_t len;
    std::memcpy(&len, out.data() + i, 4);
    len = ntohl(len);
    if (len == 0 || out.size() - i - 4 < len) std::abort();
    i += 4 + len;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t chunk = 1 + data[0] % 97;
  static milter::Stats stats;
  milter::MilterProtocol p(fuzz::milter_store(), stats, [](int, const std::string&) {});
  std::string out;
  for (std::size_t i = 1; i < size; i += chunk) {
    out.clear();
    bool open = p.feed(reinterpret_cast<const char*>(data) + i, std::min(chunk, size - i), out);
    check_packets(out);
    if (!open) break;
  }
  return 0;
}
