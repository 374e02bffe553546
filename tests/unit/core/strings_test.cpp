#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/strings.hpp"

using namespace tamis;

TEST_CASE("strings: join puts the separator between items only", "[core][strings]") {
  CHECK(core::join(std::vector<std::string>{}, ", ").empty());
  CHECK(core::join(std::vector<std::string>{"max_bin"}, ", ") == "max_bin");
  CHECK(core::join(std::vector<std::string>{"a", "b", "c"}, ", ") == "a, b, c");
  CHECK(core::join(std::vector<const char*>{"limits", "model"}, "|") == "limits|model");
}
