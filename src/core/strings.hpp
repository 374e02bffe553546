// Small string helpers used by every module. ASCII only, on purpose: mail
// syntax (header names, charsets, schemes, tags) is ASCII, and the libc
// <cctype> functions are locale-dependent calls on the hot path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tamis::core {

constexpr bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
constexpr bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
constexpr bool is_alpha(char c) { return is_upper(c) || is_lower(c); }
constexpr bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
constexpr bool is_xdigit(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
constexpr bool is_punct(char c) { return c > 32 && c < 127 && !is_alnum(c); }
constexpr char to_lower(char c) { return is_upper(c) ? static_cast<char>(c + 32) : c; }

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = to_lower(c);
  return out;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// The items with `sep` between them ("a, b, c"): the lists of names that
// error messages and logs give.
template <class Range>
std::string join(const Range& items, std::string_view sep) {
  std::string out;
  for (const auto& x : items) {
    if (!out.empty()) out.append(sep);
    out.append(x);
  }
  return out;
}

// 16 lower-case hex digits (schema hashes, digests).
inline std::string hex64(std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = kDigits[v & 15];
  return out;
}

}  // namespace tamis::core
