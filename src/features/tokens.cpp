#include <cctype>

#include "features/features.hpp"
#include "core/strings.hpp"

namespace tamis::features {

std::uint64_t token_hash(std::string_view prefix, std::string_view word) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (char c : prefix) { h ^= static_cast<unsigned char>(c); h *= 1099511628211ull; }
  for (char c : word) { h ^= static_cast<unsigned char>(c); h *= 1099511628211ull; }
  return h;
}

void tokenize(std::string_view text, std::string_view prefix, std::vector<std::uint64_t>& out, std::size_t max) {
  std::string word;
  auto flush = [&] {
    if (word.size() >= 2 && word.size() <= 30 && out.size() < max) {
      bool digits = true;
      for (char c : word) digits = digits && core::is_digit(c);
      if (digits && word.size() > 4) word = "#d" + std::to_string(word.size());  // long numbers by length
      out.push_back(token_hash(prefix, word));
    }
    word.clear();
  };
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (core::is_alnum(static_cast<char>(u)) || u >= 0x80 || c == '$' || ((c == '\'' || c == '-') && !word.empty())) {
      if (word.size() < 64) word.push_back(static_cast<char>(core::to_lower(static_cast<char>(u))));
    } else {
      flush();
      if (out.size() >= max) return;
    }
  }
  flush();
}

}  // namespace tamis::features
