// The Prometheus endpoint: GET /metrics on a loopback address, served by
// libmicrohttpd (Debian's libmicrohttpd-dev) from its own thread.
#pragma once

#include <functional>
#include <string>

struct MHD_Daemon;

namespace tamis::milter {

class MetricsServer {
 public:
  // Listens on address:port (an IPv4 or IPv6 literal) and answers GET
  // /metrics with render(). Throws std::runtime_error if it cannot listen.
  MetricsServer(const std::string& address, int port, std::function<std::string()> render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  const std::function<std::string()>& render() const { return render_; }

 private:
  std::function<std::string()> render_;
  MHD_Daemon* daemon_ = nullptr;
};

}  // namespace tamis::milter
