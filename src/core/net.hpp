// IP addresses in text form: CIDR matching and the address ranges that never
// route on the Internet (loopback, private, link-local, shared).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tamis::core {

// True if `ip` (text form) falls in one of the CIDR networks ("192.0.2.0/24",
// "2001:db8::/32", a bare address). Unparsable entries never match.
bool in_networks(std::string_view ip, const std::vector<std::string>& cidrs);

// True if `ip` parses as an IPv4 or IPv6 address (an "IPv6:" prefix, as in
// SMTP address literals, is allowed).
bool is_ip(std::string_view ip);

// True if `ip` is an address of the host itself or of a private network:
// 127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, 100.64/10, 0/8, ::1,
// fc00::/7, fe80::/10, and those IPv4 ranges mapped into IPv6. False for
// public and unparsable addresses.
bool is_local_address(std::string_view ip);

}  // namespace tamis::core
