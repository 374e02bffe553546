#include <catch2/catch.hpp>

#include "core/net.hpp"

using namespace tamis;

TEST_CASE("net: CIDR matching for trusted networks", "[core][net]") {
  CHECK(core::in_networks("192.0.2.77", {"192.0.2.0/24"}));
  CHECK_FALSE(core::in_networks("192.0.3.1", {"192.0.2.0/24"}));
  CHECK(core::in_networks("10.1.2.3", {"10.0.0.0/8"}));
  CHECK(core::in_networks("2001:db8::5", {"2001:db8::/32"}));
  CHECK_FALSE(core::in_networks("2001:db9::5", {"2001:db8::/32"}));
  CHECK(core::in_networks("127.0.0.1", {"127.0.0.1"}));
  CHECK_FALSE(core::in_networks("127.0.0.2", {"127.0.0.1"}));
  CHECK(core::in_networks("192.0.2.1", {"0.0.0.0/0"}));
  CHECK_FALSE(core::in_networks("192.0.2.1", {"garbage", "192.0.2.0/99", "192.0.2.0/", "192.0.2.0/24x", "192.0.2.0/-1"}));
  CHECK_FALSE(core::in_networks("not-an-ip", {"0.0.0.0/0"}));
  CHECK_FALSE(core::in_networks("192.0.2.1", {"::/0"}));  // families never mix
}

TEST_CASE("net: loopback, private, link-local and shared addresses are local; public and unparsable ones are not",
          "[core][net]") {
  for (const char* ip : {"127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.0.1", "172.31.255.254", "192.168.1.1",
                         "169.254.0.9", "100.64.0.1", "0.0.0.0", "::1", "IPv6:::1", "ipv6:::1", "fd00::1", "fe80::1",
                         "::ffff:127.0.0.1", "::ffff:192.168.0.2"}) {
    INFO(ip);
    CHECK(core::is_local_address(ip));
    CHECK(core::is_ip(ip));
  }
  for (const char* ip : {"192.0.2.1", "203.0.113.9", "172.32.0.1", "172.15.255.255", "100.128.0.1", "8.8.8.8",
                         "2001:db8::1", "2a00:1450::1", "::ffff:8.8.8.8"}) {
    INFO(ip);
    CHECK_FALSE(core::is_local_address(ip));
    CHECK(core::is_ip(ip));
  }
  for (const char* bad : {"", "localhost", "1.2.3", "1.2.3.4.5", "256.1.1.1", "::g", "IPv6:", "[127.0.0.1]"}) {
    INFO(bad);
    CHECK_FALSE(core::is_local_address(bad));
    CHECK_FALSE(core::is_ip(bad));
  }
}
