// libFuzzer harness: arbitrary bytes as tamis.yaml. The loader must either
// return a Config or throw core::ConfigError (which names file:line); any
// other exception, crash or sanitizer report is a bug.
// Found and fixed: a YAML key that is a list or mapping escaped as
// yaml-cpp's BadConversion (regression test in tests/unit/rules).
#include <cstdint>

#include "config/config.hpp"
#include "core/error.hpp"
#include "loader_common.hpp"

using namespace tamis;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string path = fuzz::write_input("tamis.yaml", data, size);
  try {
    config::Config c = config::load_config(path);
    (void)c;
    (void)config::dump_config(path);
  } catch (const core::ConfigError& e) {
    // Every error names a file (the config, or a path it points at, e.g. a
    // world-writable model directory) and a reason.
    std::string_view what = e.what();
    if (what.find(':') == std::string_view::npos) __builtin_trap();
  }
  return 0;
}
