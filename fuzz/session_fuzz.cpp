// libFuzzer harness: random milter callback sequences and payloads through
// tamisd's Session seam (no wire protocol, no MTA): callbacks in any order,
// eom before envfrom, abort anywhere, a connection dropped and a new one
// started mid-message. Nothing may crash, and after any sequence a fresh
// message on the same connection must still be judged.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "milter_common.hpp"
#include "session.hpp"

using namespace tamis;

namespace {

struct NullMta : milter::Mta {
  std::map<std::string, std::string> macros{{"i", "FUZZQ"}};
  int added = 0;
  const char* macro(const char* n) override {
    auto it = macros.find(n);
    return it == macros.end() ? nullptr : it->second.c_str();
  }
  bool add_header(const std::string&, const std::string&) override { ++added; return true; }
  bool change_header(const std::string&, int, const std::string*) override { return true; }
  bool set_reply(const char*, const char*, const std::string&) override { return true; }
  bool quarantine(const std::string&) override { return true; }
};

struct Reader {
  const std::uint8_t* p;
  std::size_t n;
  std::uint8_t byte() { return n ? (--n, *p++) : 0; }
  std::string str() {
    std::size_t len = byte();
    if (len == 255) len = static_cast<std::size_t>(byte()) * 256 + byte();  // sometimes long
    len = std::min(len, n);
    std::string s(reinterpret_cast<const char*>(p), len);
    p += len;
    n -= len;
    return s;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  milter::Stats stats;
  NullMta mta;
  auto log = [](int, const std::string&) {};
  auto conn = std::make_unique<milter::Connection>(fuzz::milter_store(), stats, log, true);
  Reader r{data, size};
  for (int steps = 0; r.n > 0 && steps < 400; ++steps) {
    std::uint8_t op = r.byte() % 12;
    std::string a = r.str(), b = r.str();
    switch (op) {
      case 0: conn->connect(a.c_str(), r.byte() & 1 ? "198.51.100.7" : b); break;
      case 1: conn->helo(a.empty() ? nullptr : a.c_str()); break;
      case 2:
        if (!b.empty()) mta.macros["{auth_authen}"] = b; else mta.macros.erase("{auth_authen}");
        conn->envfrom(mta, a.empty() ? nullptr : a.c_str());
        break;
      case 3: conn->envrcpt(a.c_str()); break;
      case 4: conn->header(a.c_str(), b.c_str()); break;
      case 5: conn->eoh(); break;
      case 6: conn->body(reinterpret_cast<const unsigned char*>(a.data()), a.size()); break;
      case 7: conn->eom(mta); break;
      case 8: conn->abort(); break;
      case 9: conn = std::make_unique<milter::Connection>(fuzz::milter_store(), stats, log, r.byte() & 1); break;  // close
      case 10: conn->defer_error("fuzz", a); break;
      case 11: conn->on_internal_error("fuzz", a); break;
    }
  }
  // The connection still works: after the abort an MTA sends between
  // transactions, a plain message is judged and gets a header.
  conn->abort();
  mta.macros.erase("{auth_authen}");
  conn->connect("mx.example.org", "192.0.2.1");
  conn->envfrom(mta, "<a@example.org>");
  conn->header("Subject", " hello");
  conn->eoh();
  int before = mta.added;
  conn->eom(mta);
  if (mta.added == before) std::abort();  // a message after any sequence must be judged
  return 0;
}
