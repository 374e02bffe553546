// libFuzzer harness: arbitrary bytes as tamis.yaml. The loader must either
// return a Config or throw core::ConfigError (which names file:line); any
// other exception, crash or sanitizer report is a bug.
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
    std::string_view what = e.what();
    if (what.find("tamis.yaml") == std::string_view::npos) __builtin_trap();  // every error names its file
  }
  return 0;
}
