// tamisd's milter server on a real unix socket: the listener, the
// connection bound, the idle timeout and stop(). (Postfix and miltertest
// drive it in tests/integration.)
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "server.hpp"
#include "support.hpp"

using namespace tamis;
namespace w = tamis::milter::wire;

namespace {

int dial(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  return fd;
}

// Waits up to `ms` for the peer to close: true if read() returned 0.
bool closed_within(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, ms) <= 0) return false;
  char c;
  return read(fd, &c, 1) == 0;
}

std::string u32(std::uint32_t v) {
  v = htonl(v);
  return std::string(reinterpret_cast<const char*>(&v), 4);
}

struct Fixture {
  test::TempDir dir;
  std::string sock = (dir.p / "t.sock").string();
  milter::Stats stats;
  engine::SnapshotStore store{test::snapshot_without_model()};
  std::vector<std::string> log;
  std::mutex log_mu;
  std::unique_ptr<milter::Server> server;
  std::thread runner;
  explicit Fixture(milter::ServerOptions opt) {
    int fd = milter::open_listener("unix:" + sock);
    server = std::make_unique<milter::Server>(fd, opt, store, stats, [this](int, const std::string& l) {
      std::lock_guard<std::mutex> lk(log_mu);
      log.push_back(l);
    });
    runner = std::thread([this] { server->run(5); });
  }
  ~Fixture() {
    server->stop();
    runner.join();
  }
  bool logged(const std::string& needle) {
    std::lock_guard<std::mutex> lk(log_mu);
    for (const auto& l : log)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
};

}  // namespace

TEST_CASE("milter server: a whole transaction over the socket gets its replies", "[milter][server]") {
  Fixture f({.max_connections = 4, .io_timeout_s = 30});
  int fd = dial(f.sock);
  std::string in = w::packet(w::kOptNeg, u32(6) + u32(0x1ff) + u32(0x1fffff)) +
                   w::packet(w::kMail, std::string("<a@example.org>") + '\0') + w::packet(w::kHeader, std::string("Subject\0 hi\0", 12)) +
                   w::packet(w::kEoh) + w::packet(w::kBody, "hello\r\n") + w::packet(w::kBodyEob);
  REQUIRE(write(fd, in.data(), in.size()) == static_cast<ssize_t>(in.size()));
  // OPTNEG reply, MAIL continue, BODY continue, then the verdict ending in continue.
  std::string got;
  char buf[4096];
  while (got.empty() || got.back() != w::kContinue || got.find("X-Spam-Status") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    REQUIRE(poll(&p, 1, 5000) == 1);
    ssize_t n = read(fd, buf, sizeof buf);
    REQUIRE(n > 0);
    got.append(buf, static_cast<std::size_t>(n));
  }
  CHECK(got[4] == w::kOptNeg);
  CHECK(f.stats.messages == 1);
  close(fd);
}

TEST_CASE("milter server: connections past max_connections are closed at once and counted", "[milter][server][bounds]") {
  Fixture f({.max_connections = 2, .io_timeout_s = 30});
  int a = dial(f.sock), b = dial(f.sock);
  // Both are being served once the server has counted them.
  for (int i = 0; i < 200 && f.server->active() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(f.server->active() == 2);
  int c = dial(f.sock);
  CHECK(closed_within(c, 5000));
  CHECK(f.stats.connections_refused == 1);
  CHECK(f.logged("max_connections (2) reached"));
  CHECK_FALSE(closed_within(a, 100));  // the first two stay open
  close(a);
  // A slot frees up: a new connection is served again.
  for (int i = 0; i < 200 && f.server->active() > 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  int d = dial(f.sock);
  CHECK_FALSE(closed_within(d, 200));
  CHECK(f.stats.connections_refused == 1);
  close(b);
  close(c);
  close(d);
}

TEST_CASE("milter server: a connection silent for timeout_s is closed", "[milter][server][bounds]") {
  Fixture f({.max_connections = 4, .io_timeout_s = 1});
  int fd = dial(f.sock);
  CHECK(closed_within(fd, 5000));
  for (int i = 0; i < 200 && !f.logged("idle for 1 s"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(f.logged("idle for 1 s"));
  close(fd);
}

TEST_CASE("milter server: a protocol error closes only that connection, with a log line", "[milter][server]") {
  Fixture f({.max_connections = 4, .io_timeout_s = 30});
  int bad = dial(f.sock), good = dial(f.sock);
  std::string junk = u32(0x7fffffff) + "B";
  REQUIRE(write(bad, junk.data(), junk.size()) == static_cast<ssize_t>(junk.size()));
  CHECK(closed_within(bad, 5000));
  for (int i = 0; i < 200 && !f.logged("bad packet length"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(f.logged("bad packet length"));
  CHECK_FALSE(closed_within(good, 100));
  close(bad);
  close(good);
}

TEST_CASE("milter server: stop() ends idle connections and run() returns", "[milter][server]") {
  auto f = std::make_unique<Fixture>(milter::ServerOptions{.max_connections = 4, .io_timeout_s = 600});
  int fd = dial(f->sock);
  for (int i = 0; i < 200 && f->server->active() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto t0 = std::chrono::steady_clock::now();
  f.reset();  // stop() + join: must not wait for the 600 s timeout
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  CHECK(closed_within(fd, 1000));
  close(fd);
}

TEST_CASE("milter server: socket specs are checked and a live socket is never taken over", "[milter][server]") {
  test::TempDir dir;
  CHECK_THROWS_WITH(milter::open_listener("tcp:25"), Catch::Contains("want unix:/path"));
  CHECK_THROWS_WITH(milter::open_listener("inet:99999@127.0.0.1"), Catch::Contains("bad port"));
  CHECK_THROWS_WITH(milter::open_listener("inet:x@127.0.0.1"), Catch::Contains("bad port"));
  std::string file = dir.write("plain", "not a socket");
  CHECK_THROWS_WITH(milter::open_listener("unix:" + file), Catch::Contains("is not a socket"));
  std::string path = (dir.p / "live.sock").string();
  int live = milter::open_listener("unix:" + path);
  CHECK_THROWS_WITH(milter::open_listener("unix:" + path), Catch::Contains("in use"));
  close(live);  // now stale: replaced
  int again = milter::open_listener("unix:" + path);
  CHECK(again >= 0);
  close(again);
  CHECK(milter::unix_socket_path("local:/x") == "/x");
  CHECK(milter::unix_socket_path("inet:1@127.0.0.1").empty());
}
