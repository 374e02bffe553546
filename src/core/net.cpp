#include "core/net.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstring>
#include <optional>

namespace tamis::core {
namespace {

struct Addr {
  int family;                          // AF_INET or AF_INET6
  std::array<unsigned char, 16> bytes;  // the first 4 for AF_INET
  int bits() const { return family == AF_INET ? 32 : 128; }
};

std::optional<Addr> parse(std::string_view s) {
  if (s.size() > 5 && (s.substr(0, 5) == "IPv6:" || s.substr(0, 5) == "ipv6:")) s.remove_prefix(5);
  if (s.empty() || s.size() > 45) return std::nullopt;
  char buf[46];
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  Addr a{};
  a.family = s.find(':') != std::string_view::npos ? AF_INET6 : AF_INET;
  if (inet_pton(a.family, buf, a.bytes.data()) != 1) return std::nullopt;
  return a;
}

bool prefix_match(const Addr& a, const Addr& net, int bits) {
  for (int i = 0; i < bits; ++i) {
    int byte = i / 8, bit = 7 - i % 8;
    if (((a.bytes[byte] >> bit) & 1) != ((net.bytes[byte] >> bit) & 1)) return false;
  }
  return true;
}

}  // namespace

bool in_networks(std::string_view ip, const std::vector<std::string>& cidrs) {
  auto a = parse(ip);
  if (!a) return false;
  for (const auto& c : cidrs) {
    std::string_view cv = c;
    auto slash = cv.find('/');
    auto net = parse(cv.substr(0, slash));
    if (!net || net->family != a->family) continue;
    int bits = a->bits();
    if (slash != std::string_view::npos) {
      auto digits = cv.substr(slash + 1);
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
      if (ec != std::errc{} || end != digits.data() + digits.size() || bits < 0 || bits > a->bits()) continue;
    }
    if (prefix_match(*a, *net, bits)) return true;
  }
  return false;
}

bool is_ip(std::string_view ip) { return parse(ip).has_value(); }

bool is_local_address(std::string_view ip) {
  static const std::vector<std::string> v4{"127.0.0.0/8",    "10.0.0.0/8",     "172.16.0.0/12", "192.168.0.0/16",
                                           "169.254.0.0/16", "100.64.0.0/10",  "0.0.0.0/8"};
  static const std::vector<std::string> v6{"::1/128", "::/128", "fc00::/7", "fe80::/10"};
  auto a = parse(ip);
  if (!a) return false;
  if (a->family == AF_INET6) {
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a->bytes.data(), mapped, 12) == 0) {
      char v4text[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, a->bytes.data() + 12, v4text, sizeof v4text);
      return in_networks(v4text, v4);
    }
    return in_networks(ip, v6);
  }
  return in_networks(ip, v4);
}

}  // namespace tamis::core
