// tamisd's milter server: the listening socket and one thread per MTA
// connection, each reading into a MilterProtocol and writing its replies.
//
//   int fd = open_listener("unix:/var/spool/postfix/tamis/tamis.sock");
//   Server srv(fd, {.max_connections = 256, .io_timeout_s = 600}, store, stats, log);
//   std::thread t([&] { srv.run(); });   // until srv.stop()
//
// A connection thread blocks in read() with a timeout; Postfix keeps one
// milter connection per SMTP session and writes each message as a burst of
// packets, which one read() takes whole.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <set>
#include <string>

#include "protocol.hpp"

namespace tamis::milter {

// A listening socket for "unix:/path", "local:/path", "/path",
// "inet:PORT@HOST" or "inet6:PORT@HOST" (HOST an address or a name; a bare
// "inet:PORT" listens on every IPv4 address). A stale unix socket file is
// replaced; one that another process still answers on is not. Throws
// std::runtime_error saying what failed.
int open_listener(const std::string& spec);
// The file of a unix socket spec, "" for inet.
std::string unix_socket_path(const std::string& spec);

struct ServerOptions {
  std::size_t max_connections = 256;  // more are closed at once (the MTA applies milter_default_action)
  std::size_t max_scans = 2;          // scan threads (messages wait their turn); 0 = 1
  int io_timeout_s = 600;             // an MTA silent this long, or not reading our reply, is dropped
};

class Server {
 public:
  Server(int listen_fd, ServerOptions opt, const engine::SnapshotStore& store, Stats& stats, LogFn log);
  ~Server();
  // Accepts connections until stop(); then waits (up to `grace_s`) for the
  // connection threads to finish the message they are judging.
  void run(int grace_s = 10);
  // Safe from any thread: stops accepting, and ends every connection at its
  // next read (a scan in progress still sends its verdict).
  void stop();
  std::size_t active() const { return active_.load(); }

 private:
  void serve(int fd);
  int listen_fd_;
  int stop_fd_;  // eventfd that wakes run()
  ServerOptions opt_;
  const engine::SnapshotStore& store_;
  Stats& stats_;
  LogFn log_;
  ScanPool pool_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> active_{0};
  std::mutex mu_;
  std::condition_variable idle_;
  std::set<int> fds_;  // open connections, for stop()
};

}  // namespace tamis::milter
