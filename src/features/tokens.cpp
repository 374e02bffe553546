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

void tokenize(std::string_view text, std::string_view prefix, std::vector<std::uint64_t>& out, std::size_t max,
              std::vector<std::string>* words) {
  std::string word;
  auto emit = [&](std::string w) {
    if (w.size() < 2 || w.size() > 30 || out.size() >= max) return;
    bool digits = true;
    for (char c : w) digits = digits && core::is_digit(c);
    if (digits && w.size() > 4) w = "#d" + std::to_string(w.size());  // long numbers by length
    out.push_back(token_hash(prefix, w));
    if (words) words->push_back(std::string(prefix) + w);
  };
  // Words glued in camel case ("ViagraOnline", "TopPfizer") also count as
  // their parts, so a known word still counts when a sender glues it to
  // another. A part ends where a lower-case letter meets a capital; parts
  // shorter than 3 letters are not counted alone ("McDonald" and "iPhone"
  // stay whole words).
  std::size_t part = 0;   // start of the current part in `word`
  bool cut = false;       // the word was cut at least once
  char last = 0;
  auto end_word = [&] {
    if (cut && word.size() - part >= 3) emit(word.substr(part));
    emit(std::move(word));
    word.clear();
    part = 0;
    cut = false;
    last = 0;
  };
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (core::is_alnum(c) || u >= 0x80 || c == '$' || ((c == '\'' || c == '-') && !word.empty())) {
      if (core::is_upper(c) && core::is_lower(last) && word.size() - part >= 3 && word.size() < 64) {
        emit(word.substr(part));
        part = word.size();
        cut = true;
      }
      last = c;
      if (word.size() < 64) word.push_back(core::to_lower(c));
    } else {
      end_word();
      if (out.size() >= max) return;
    }
  }
  end_word();
}

}  // namespace tamis::features
