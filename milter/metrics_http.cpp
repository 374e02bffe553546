#include "metrics_http.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include <cstring>
#include <stdexcept>

namespace tamis::milter {

namespace {

#if MHD_VERSION >= 0x00097002
using Result = MHD_Result;
#else
using Result = int;
#endif

Result reply(MHD_Connection* conn, unsigned status, const std::string& body, const char* type) {
  MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", type);
  Result ok = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ok;
}

Result handle(void* cls, MHD_Connection* conn, const char* url, const char* method, const char*, const char*,
              size_t* upload_size, void** state) {
  // First call per request: headers only. Answer on the second.
  static int marker;
  if (*state != &marker) {
    *state = &marker;
    return MHD_YES;
  }
  if (*upload_size != 0) return MHD_NO;  // no request bodies here
  if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "HEAD") != 0)
    return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n", "text/plain");
  auto* self = static_cast<MetricsServer*>(cls);
  if (std::strcmp(url, "/metrics") == 0) {
    try {
      return reply(conn, MHD_HTTP_OK, self->render()(), "text/plain; version=0.0.4; charset=utf-8");
    } catch (...) {
      return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "error\n", "text/plain");
    }
  }
  if (std::strcmp(url, "/") == 0) return reply(conn, MHD_HTTP_OK, "tamisd: see /metrics\n", "text/plain");
  return reply(conn, MHD_HTTP_NOT_FOUND, "not found\n", "text/plain");
}

}  // namespace

MetricsServer::MetricsServer(const std::string& address, int port, std::function<std::string()> render)
    : render_(std::move(render)) {
  if (port <= 0 || port > 65535) throw std::runtime_error("metrics port out of range");
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  const sockaddr* sa = nullptr;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
  if (inet_pton(AF_INET, address.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(static_cast<uint16_t>(port));
    sa = reinterpret_cast<const sockaddr*>(&v4);
  } else if (inet_pton(AF_INET6, address.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(static_cast<uint16_t>(port));
    sa = reinterpret_cast<const sockaddr*>(&v6);
    flags |= MHD_USE_IPv6;
  } else {
    throw std::runtime_error("metrics address '" + address + "' is not an IP address");
  }
  // A handful of scrapers at most: few connections, short timeouts.
  daemon_ = MHD_start_daemon(flags, static_cast<uint16_t>(port), nullptr, nullptr, &handle, this, MHD_OPTION_SOCK_ADDR, sa,
                             MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
  if (!daemon_) throw std::runtime_error("cannot listen for metrics on " + address + ":" + std::to_string(port));
}

MetricsServer::~MetricsServer() {
  if (daemon_) MHD_stop_daemon(daemon_);
}

}  // namespace tamis::milter
