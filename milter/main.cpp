// tamisd: the milter daemon.
//
//   tamisd [-c /etc/tamis/tamis.yaml] [--log stderr|syslog] [--socket SPEC]
//
// Runs in the foreground (systemd Type=simple). Started as root with
// milter.user set, it opens the socket, hands a unix socket to that user and
// the directory's group, then drops to that user. SIGUSR1 or SIGHUP reloads
// config, rules and model (a broken set keeps the running one); SIGTERM and
// SIGINT stop it. The milter protocol itself is in protocol.cpp and the
// connections in server.cpp (tamisd does not use libmilter: see protocol.hpp).
#include <grp.h>
#include <malloc.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "metrics_http.hpp"
#include "server.hpp"

using namespace tamis;
namespace {

struct Daemon {
  std::string config_path;
  std::unique_ptr<engine::SnapshotStore> store;
  milter::Stats stats;
  bool to_syslog = true;
  std::mutex log_mu;
  std::uint64_t generation = 1;
};
Daemon* g = nullptr;

void log_line(int prio, const std::string& line) {
  if (g->to_syslog) {
    syslog(prio, "%s", line.c_str());
    return;
  }
  std::time_t now = std::time(nullptr);
  char ts[32];
  std::tm tm{};
  gmtime_r(&now, &tm);  // not std::gmtime: its static buffer races between connections (found by TSan)
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  const char* lvl = prio <= LOG_ERR ? "error" : prio == LOG_WARNING ? "warning" : "info";
  std::lock_guard<std::mutex> lk(g->log_mu);
  std::fprintf(stderr, "%sZ tamisd[%d] %s: %s\n", ts, static_cast<int>(getpid()), lvl, line.c_str());
  std::fflush(stderr);
}

// Rebuilds the snapshot off the SMTP path; publishes it only if whole.
void reload() {
  std::uint64_t gen = g->generation + 1;
  try {
    auto next = engine::Snapshot::build(g->config_path, /*strict_model=*/true, gen, g->store->acquire().get());
    g->store->publish(next);
    for (const auto& w : next->warnings) log_line(LOG_WARNING, w);
    g->generation = gen;
    g->stats.generation = gen;
    ++g->stats.reloads;
    log_line(LOG_INFO, "reload ok: generation " + std::to_string(gen) + ", " + std::to_string(next->rules->rules().size()) +
                           " rules" + (next->rules_kept ? " (unchanged)" : "") + ", model " +
                           (next->model ? std::to_string(next->model->trees()) + " trees" + (next->model_kept ? " (unchanged)" : "")
                                        : "disabled"));
  } catch (const std::exception& e) {
    ++g->stats.reload_failures;
    log_line(LOG_ERR, std::string("reload failed, keeping generation ") + std::to_string(g->generation) + ": " + e.what());
  }
}

// The one thread that takes signals (main() blocks them everywhere else):
// SIGUSR1/SIGHUP reload, SIGTERM/SIGINT stop the server.
void signal_loop(milter::Server& server) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGUSR1, SIGHUP, SIGTERM, SIGINT}) sigaddset(&set, sig);
  auto last_trim = std::chrono::steady_clock::now();
  for (;;) {
    // Every 10 s (reloads or not): give memory that glibc's malloc keeps in
    // its per-thread arenas back to the kernel. Connections come and go on
    // their own threads, so every arena grows to the largest message it ever
    // saw: measured without this (with libmilter, which also ran a thread per
    // connection), RSS rose from 30 to 73 MB over 9,000 messages while live
    // heap stayed near 23 MB (heaptrack). malloc_trim takes each arena's lock briefly.
    auto now = std::chrono::steady_clock::now();
    if (now - last_trim >= std::chrono::seconds(10)) {
      malloc_trim(0);
      last_trim = now;
    }
    auto left = std::chrono::seconds(10) - (now - last_trim);
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec wait{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    int sig = sigtimedwait(&set, nullptr, &wait);
    if (sig < 0) continue;  // timeout (or EINTR): trim on the next turn
    if (sig == SIGTERM || sig == SIGINT) {
      log_line(LOG_INFO, std::string("stopping on ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
      server.stop();
      return;
    }
    reload();
  }
}

bool drop_privileges(const std::string& user, const std::string& socket_spec) {
  if (user.empty() || geteuid() != 0) return true;
  struct passwd* pw = getpwnam(user.c_str());
  if (!pw) {
    log_line(LOG_ERR, "milter.user '" + user + "' does not exist");
    return false;
  }
  // A unix socket opened as root goes to the user and to its directory's
  // group (postfix in the package), mode 0660: the MTA can connect, others cannot.
  std::string path = milter::unix_socket_path(socket_spec);
  if (!path.empty()) {
    struct stat dir {};
    gid_t gid = pw->pw_gid;
    if (stat(std::filesystem::path(path).parent_path().c_str(), &dir) == 0) gid = dir.st_gid;
    if (chown(path.c_str(), pw->pw_uid, gid) != 0 || chmod(path.c_str(), 0660) != 0) {
      log_line(LOG_ERR, "cannot hand socket " + path + " to " + user + ": " + std::strerror(errno));
      return false;
    }
  }
  if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
    log_line(LOG_ERR, "cannot switch to user " + user + ": " + std::strerror(errno));
    return false;
  }
  if (setuid(0) == 0) {  // must be impossible now
    log_line(LOG_ERR, "still able to regain root after dropping privileges; refusing to run");
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tamisd: the tamis milter for Postfix and Sendmail"};
  app.set_version_flag("--version", std::string(TAMIS_VERSION));
  Daemon d;
  g = &d;
  std::string log_override, socket_override;
  d.config_path = config::default_config_path();
  app.add_option("-c,--config", d.config_path, "config file (default: " + config::default_config_path() + ")");
  app.add_option("--log", log_override, "syslog or stderr (overrides milter.log)");
  app.add_option("--socket", socket_override, "milter socket, e.g. inet:11332@127.0.0.1 or unix:/path (overrides milter.socket)");
  CLI11_PARSE(app, argc, argv);

  // Block our signals before any thread exists (XGBoost's OpenMP workers
  // start while the model loads, connection threads later): every thread
  // inherits the mask, and the signals are taken only by signal_loop's
  // sigtimedwait. A thread left with them unblocked would let the default
  // action kill the daemon mid-message.
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGUSR1, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Large per-message buffers (a message up to the scan cap, its decoded
  // text) straight from and back to the kernel: with glibc's default the mmap
  // threshold rises to the largest block ever freed, after which such buffers
  // are carved from the arenas and their high-water marks stay resident.
  // Fewer arenas, too: each MTA connection has its own thread.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  mallopt(M_ARENA_MAX, 4);

  d.to_syslog = false;  // until the config says otherwise
  engine::SnapshotPtr snap;
  try {
    // A broken model at start-up still lets mail flow, judged by the
    // model_unavailable failure policy; a broken config or rule pack does not start.
    snap = engine::Snapshot::build(d.config_path, /*strict_model=*/false, 1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tamisd: %s\n", e.what());
    return 1;
  }
  const auto& mc = snap->config.milter;
  std::string log_mode = log_override.empty() ? mc.log : log_override;
  d.to_syslog = log_mode != "stderr";
  if (d.to_syslog) openlog("tamisd", LOG_PID | LOG_NDELAY, LOG_MAIL);
  if (!snap->model_error.empty()) log_line(LOG_ERR, "model unavailable: " + snap->model_error);
  for (const auto& w : snap->warnings) log_line(LOG_WARNING, w);
  d.store = std::make_unique<engine::SnapshotStore>(snap);
  std::string sock = socket_override.empty() ? mc.socket : socket_override;


  umask(0007);  // the socket file: no access for others before it is handed over
  int listen_fd;
  try {
    listen_fd = milter::open_listener(sock);
  } catch (const std::exception& e) {
    log_line(LOG_ERR, "cannot open milter socket " + sock + ": " + e.what());
    return 1;
  }
  if (!mc.pid_file.empty()) {
    std::ofstream(mc.pid_file) << getpid() << "\n";
  }
  if (!drop_privileges(mc.user, sock)) return 1;
  std::unique_ptr<milter::MetricsServer> metrics;
  if (mc.metrics_port > 0) {
    try {
      metrics = std::make_unique<milter::MetricsServer>(mc.metrics_address, mc.metrics_port,
                                                        [] { return milter::render_prometheus(g->stats); });
      log_line(LOG_INFO, "metrics on http://" + (mc.metrics_address.find(':') != std::string::npos ? "[" + mc.metrics_address + "]"
                                                                                                     : mc.metrics_address) +
                             ":" + std::to_string(mc.metrics_port) + "/metrics");
    } catch (const std::exception& e) {
      log_line(LOG_ERR, e.what());
      return 1;
    }
  }
  // Socket, timeout, connection and scan limits are read at start only; a
  // reload changes everything else.
  std::size_t scans = mc.max_scans > 0 ? static_cast<std::size_t>(mc.max_scans)
                                       : std::max<std::size_t>(1, std::thread::hardware_concurrency());
  milter::ServerOptions opt{.max_connections = mc.max_connections, .max_scans = scans, .io_timeout_s = mc.timeout_s};
  auto* server = new milter::Server(listen_fd, opt, *d.store, d.stats, log_line);
  std::thread signals([server] { signal_loop(*server); });
  log_line(LOG_INFO, "tamisd " TAMIS_VERSION " listening on " + sock + " (" + std::to_string(snap->rules->rules().size()) +
                         " rules, model " + (snap->model ? std::to_string(snap->model->trees()) + " trees" : "unavailable") + ")");
  server->run(/*grace_s=*/10);
  pthread_kill(signals.native_handle(), SIGTERM);  // if run() ended on its own, end signal_loop too
  signals.join();
  std::size_t left = server->active();
  log_line(LOG_INFO, "tamisd stopped" + (left ? ", " + std::to_string(left) + " connections still open" : std::string()));
  if (!mc.pid_file.empty()) std::filesystem::remove(mc.pid_file);
  if (std::string p = milter::unix_socket_path(sock); !p.empty()) unlink(p.c_str());
  // Connection threads still open after the grace period hold the server:
  // leave without destroying it (the kernel closes their sockets).
  if (left) _exit(0);
  delete server;
  return 0;
}
