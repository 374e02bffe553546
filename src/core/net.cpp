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

struct Net {
  Addr addr;
  int bits;
};

// "192.0.2.0/24", "2001:db8::/32" or a bare address; nullopt if unparsable.
std::optional<Net> parse_net(std::string_view cidr) {
  auto slash = cidr.find('/');
  auto a = parse(cidr.substr(0, slash));
  if (!a) return std::nullopt;
  int bits = a->bits();
  if (slash != std::string_view::npos) {
    auto digits = cidr.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (ec != std::errc{} || end != digits.data() + digits.size() || bits < 0 || bits > a->bits()) return std::nullopt;
  }
  return Net{*a, bits};
}

bool in_net(const Addr& a, const Net& n) { return a.family == n.addr.family && prefix_match(a, n.addr, n.bits); }

}  // namespace

bool in_networks(std::string_view ip, const std::vector<std::string>& cidrs) {
  auto a = parse(ip);
  if (!a) return false;
  for (const auto& c : cidrs)
    if (auto n = parse_net(c); n && in_net(*a, *n)) return true;
  return false;
}

bool is_ip(std::string_view ip) { return parse(ip).has_value(); }

bool is_local_address(std::string_view ip) {
  static const std::vector<Net> local = [] {
    std::vector<Net> v;
    for (const char* c : {"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                          "100.64.0.0/10", "0.0.0.0/8", "::1/128", "::/128", "fc00::/7", "fe80::/10"})
      v.push_back(*parse_net(c));
    return v;
  }();
  auto a = parse(ip);
  if (!a) return false;
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (a->family == AF_INET6 && std::memcmp(a->bytes.data(), mapped, 12) == 0) {  // ::ffff:a.b.c.d
    Addr v4{AF_INET, {}};
    std::memcpy(v4.bytes.data(), a->bytes.data() + 12, 4);
    a = v4;
  }
  for (const auto& n : local)
    if (in_net(*a, n)) return true;
  return false;
}

}  // namespace tamis::core
