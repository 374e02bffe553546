// tamisd: the milter daemon. The only file that includes libmilter.
//
//   tamisd [-c /etc/tamis/tamis.yaml] [--log stderr|syslog] [--socket SPEC]
//
// Runs in the foreground (systemd Type=simple). Started as root with
// milter.user set, it opens the socket, hands a unix socket to that user and
// the directory's group, then drops to that user. SIGUSR1 reloads config,
// rules and model (a broken set keeps the running one); SIGTERM/SIGINT stop
// it. SIGHUP also stops it: libmilter's signal thread treats HUP like TERM,
// which is why reload is USR1.
#include <grp.h>
#include <malloc.h>
#include <libmilter/mfapi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <arpa/inet.h>
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
#include "session.hpp"

using namespace tamis;
using milter::Step;

namespace {
std::atomic<bool> g_leadspc{false};  // negotiated SMFIP_HDR_LEADSPC: values we send carry their own leading space
}

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

// libmilter's SMFICTX behind the Mta seam.
class SmfiMta : public milter::Mta {
 public:
  explicit SmfiMta(SMFICTX* ctx) : ctx_(ctx) {}
  const char* macro(const char* name) override { return smfi_getsymval(ctx_, const_cast<char*>(name)); }
  bool add_header(const std::string& name, const std::string& value) override {
    std::string v = spaced(value);
    return smfi_addheader(ctx_, const_cast<char*>(name.c_str()), const_cast<char*>(v.c_str())) == MI_SUCCESS;
  }
  bool change_header(const std::string& name, int index, const std::string* value) override {
    std::string v = value ? spaced(*value) : std::string();
    return smfi_chgheader(ctx_, const_cast<char*>(name.c_str()), index, value ? const_cast<char*>(v.c_str()) : nullptr) ==
           MI_SUCCESS;
  }
  bool set_reply(const char* rcode, const char* xcode, const std::string& text) override {
    // '%' is special to smfi_setreply
    std::string t;
    for (char c : text) t += c == '%' ? std::string("%%") : std::string(1, c);
    return smfi_setreply(ctx_, const_cast<char*>(rcode), const_cast<char*>(xcode), const_cast<char*>(t.c_str())) == MI_SUCCESS;
  }
  bool quarantine(const std::string& reason) override {
    return smfi_quarantine(ctx_, const_cast<char*>(reason.c_str())) == MI_SUCCESS;
  }

 private:
  static std::string spaced(const std::string& v) {
    if (!g_leadspc || (!v.empty() && (v[0] == ' ' || v[0] == '\t'))) return v;
    return " " + v;
  }
  SMFICTX* ctx_;
};

std::atomic<bool> g_can_skip{false};  // negotiated SMFIP_SKIP
// Steps the MTA agreed not to wait for a reply to (SMFIP_NR_*): each is a
// round trip saved per header, recipient, ... A failure in such a step is
// answered at end of message.
std::atomic<unsigned long> g_noreply{0};

sfsistat to_smfis(Step s) {
  switch (s) {
    case Step::Continue: return SMFIS_CONTINUE;
    case Step::Accept: return SMFIS_ACCEPT;
    case Step::Reject: return SMFIS_REJECT;
    case Step::TempFail: return SMFIS_TEMPFAIL;
    case Step::Discard: return SMFIS_DISCARD;
    case Step::Skip: return SMFIS_SKIP;
  }
  return SMFIS_CONTINUE;
}

milter::Connection* conn(SMFICTX* ctx) { return static_cast<milter::Connection*>(smfi_getpriv(ctx)); }

// Every callback is a noexcept trampoline: exceptions become the configured
// failure action and a log line, never a crash. `nr` is the step's SMFIP_NR_*
// bit: when negotiated, a Continue is not answered at all, and an error is
// kept for end of message (the MTA is not listening for a reply then).
template <typename F>
sfsistat guarded(SMFICTX* ctx, const char* where, unsigned long nr, F&& f) noexcept {
  milter::Connection* c = conn(ctx);
  bool noreply = nr != 0 && (g_noreply.load(std::memory_order_relaxed) & nr) != 0;
  if (!c) return noreply ? SMFIS_NOREPLY : SMFIS_CONTINUE;
  try {
    Step s = f(*c);
    if (noreply && s == Step::Continue) return SMFIS_NOREPLY;
    return to_smfis(s);
  } catch (const std::exception& e) {
    if (noreply) { c->defer_error(where, e.what()); return SMFIS_NOREPLY; }
    try { return to_smfis(c->on_internal_error(where, e.what())); } catch (...) { return SMFIS_ACCEPT; }
  } catch (...) {
    if (noreply) { c->defer_error(where, "unknown exception"); return SMFIS_NOREPLY; }
    try { return to_smfis(c->on_internal_error(where, "unknown exception")); } catch (...) { return SMFIS_ACCEPT; }
  }
}

sfsistat xx_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long, unsigned long, unsigned long* pf0,
                      unsigned long* pf1, unsigned long* pf2, unsigned long* pf3) {
  const unsigned long need = SMFIF_ADDHDRS | SMFIF_CHGHDRS;
  if ((f0 & need) != need) {
    log_line(LOG_ERR, "the MTA does not offer the add/change header actions tamisd needs; not filtering this connection");
    return SMFIS_REJECT;
  }
  *pf0 = need | (f0 & SMFIF_QUARANTINE);
  // Ask only for the steps we use; get header values with their leading space.
  unsigned long noreply = f1 & (SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_RCPT | SMFIP_NR_HDR | SMFIP_NR_EOH);
  unsigned long want = (f1 & SMFIP_HDR_LEADSPC) | (f1 & SMFIP_SKIP) | (f1 & SMFIP_NOUNKNOWN) | (f1 & SMFIP_NODATA) | noreply;
  g_noreply = noreply;
  g_can_skip = (f1 & SMFIP_SKIP) != 0;
  g_leadspc = (f1 & SMFIP_HDR_LEADSPC) != 0;
  *pf1 = want;
  *pf2 = 0;
  *pf3 = 0;
  (void)ctx;
  return SMFIS_CONTINUE;
}

sfsistat xx_connect(SMFICTX* ctx, char* hostname, _SOCK_ADDR* addr) {
  try {
    auto* c = new milter::Connection(*g->store, g->stats, log_line, g_can_skip);
    smfi_setpriv(ctx, c);
    std::string ip;
    char buf[INET6_ADDRSTRLEN] = {0};
    if (addr && addr->sa_family == AF_INET &&
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(addr)->sin_addr, buf, sizeof buf))
      ip = buf;
    else if (addr && addr->sa_family == AF_INET6 &&
             inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(addr)->sin6_addr, buf, sizeof buf))
      ip = buf;
    c->connect(hostname, ip);  // addr may be NULL (local, or unknown)
    return (g_noreply & SMFIP_NR_CONN) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
  } catch (...) {
    log_line(LOG_ERR, "internal error in connect; accepting");
    return (g_noreply & SMFIP_NR_CONN) ? SMFIS_NOREPLY : SMFIS_ACCEPT;
  }
}

sfsistat xx_helo(SMFICTX* ctx, char* helo) { return guarded(ctx, "helo", SMFIP_NR_HELO, [&](auto& c) { return c.helo(helo); }); }
sfsistat xx_envfrom(SMFICTX* ctx, char** argv) {
  return guarded(ctx, "envfrom", 0, [&](auto& c) {
    SmfiMta m(ctx);
    return c.envfrom(m, argv ? argv[0] : nullptr);
  });
}
sfsistat xx_envrcpt(SMFICTX* ctx, char** argv) {
  return guarded(ctx, "envrcpt", SMFIP_NR_RCPT, [&](auto& c) { return c.envrcpt(argv ? argv[0] : nullptr); });
}
sfsistat xx_header(SMFICTX* ctx, char* n, char* v) { return guarded(ctx, "header", SMFIP_NR_HDR, [&](auto& c) { return c.header(n, v); }); }
sfsistat xx_eoh(SMFICTX* ctx) { return guarded(ctx, "eoh", SMFIP_NR_EOH, [&](auto& c) { return c.eoh(); }); }
sfsistat xx_body(SMFICTX* ctx, unsigned char* b, size_t n) { return guarded(ctx, "body", 0, [&](auto& c) { return c.body(b, n); }); }
sfsistat xx_eom(SMFICTX* ctx) {
  return guarded(ctx, "eom", 0, [&](auto& c) {
    SmfiMta m(ctx);
    return c.eom(m);
  });
}
sfsistat xx_abort(SMFICTX* ctx) { return guarded(ctx, "abort", 0, [&](auto& c) { return c.abort(); }); }
sfsistat xx_close(SMFICTX* ctx) {
  delete conn(ctx);  // may be NULL: close can be the only callback
  smfi_setpriv(ctx, nullptr);
  return SMFIS_CONTINUE;
}

// SIGUSR1 -> rebuild the snapshot off the SMTP path; publish only if whole.
void reload_loop() {
  sigset_t set;  // the mask main() set blocks it in every thread
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  auto last_trim = std::chrono::steady_clock::now();
  for (;;) {
    // Every 10 s (reloads or not): give memory that glibc's malloc keeps in
    // its per-thread arenas back to the kernel. libmilter runs each message
    // on whichever pool thread is free (and starts new ones), so every arena
    // grows to the largest message it ever saw: measured without this, RSS
    // rose from 30 to 73 MB over 9,000 messages while live heap stayed near
    // 23 MB (heaptrack). malloc_trim takes each arena's lock briefly.
    auto now = std::chrono::steady_clock::now();
    if (now - last_trim >= std::chrono::seconds(10)) {
      malloc_trim(0);
      last_trim = now;
    }
    auto left = std::chrono::seconds(10) - (now - last_trim);
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec wait{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    if (sigtimedwait(&set, nullptr, &wait) < 0) continue;  // timeout (or EINTR): trim on the next turn
    std::uint64_t gen = g->generation + 1;
    try {
      auto next = engine::Snapshot::build(g->config_path, /*strict_model=*/true, gen);
      g->store->publish(next);
      g->generation = gen;
      g->stats.generation = gen;
      ++g->stats.reloads;
      log_line(LOG_INFO, "reload ok: generation " + std::to_string(gen) + ", " + std::to_string(next->rules->rules().size()) +
                             " rules, model " + (next->model ? std::to_string(next->model->trees()) + " trees" : "disabled"));
    } catch (const std::exception& e) {
      ++g->stats.reload_failures;
      log_line(LOG_ERR, std::string("reload failed, keeping generation ") + std::to_string(g->generation) + ": " + e.what());
    }
  }
}

// libmilter sends a verdict as several small packets (each header change,
// then the reply) and does not set TCP_NODELAY: with Nagle's algorithm and
// the MTA's delayed ACK, every message waited ~40 ms per extra packet
// (measured: +80 ms at end of DATA through Postfix). Linux copies TCP_NODELAY
// from a listening socket to the sockets it accepts, so set it on
// libmilter's listener. Unix sockets have no Nagle and are left alone.
void set_nodelay_on_listeners() {
  for (int fd = 0; fd < 1024; ++fd) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl) != 0) continue;
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) continue;
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
      log_line(LOG_WARNING, std::string("cannot set TCP_NODELAY on the milter socket: ") + std::strerror(errno));
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
  std::string path;
  if (socket_spec.rfind("unix:", 0) == 0) path = socket_spec.substr(5);
  else if (socket_spec.rfind("local:", 0) == 0) path = socket_spec.substr(6);
  else if (!socket_spec.empty() && socket_spec[0] == '/') path = socket_spec;
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
  // start while the model loads, libmilter's later): every thread inherits the
  // mask, and the signals are taken only by sigwait — SIGUSR1 in our reload
  // thread, SIGTERM/SIGINT/SIGHUP in libmilter's signal thread (clean stop).
  // A thread left with them unblocked would let the default action kill the
  // daemon mid-message.
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGUSR1, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Large per-message buffers (a message up to the scan cap, its decoded
  // text) straight from and back to the kernel: with glibc's default the mmap
  // threshold rises to the largest block ever freed, after which such buffers
  // are carved from the arenas and their high-water marks stay resident.
  // Fewer arenas, too: libmilter spreads messages over many short-lived threads.
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
  d.store = std::make_unique<engine::SnapshotStore>(snap);
  std::string sock = socket_override.empty() ? mc.socket : socket_override;


  struct smfiDesc desc {};
  desc.xxfi_name = const_cast<char*>("tamisd");
  desc.xxfi_version = SMFI_VERSION;
  desc.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE;
  desc.xxfi_connect = xx_connect;
  desc.xxfi_helo = xx_helo;
  desc.xxfi_envfrom = xx_envfrom;
  desc.xxfi_envrcpt = xx_envrcpt;
  desc.xxfi_header = xx_header;
  desc.xxfi_eoh = xx_eoh;
  desc.xxfi_body = xx_body;
  desc.xxfi_eom = xx_eom;
  desc.xxfi_abort = xx_abort;
  desc.xxfi_close = xx_close;
  desc.xxfi_negotiate = xx_negotiate;

  umask(0007);
  if (smfi_setconn(const_cast<char*>(sock.c_str())) != MI_SUCCESS || smfi_settimeout(mc.timeout_s) != MI_SUCCESS ||
      smfi_register(desc) != MI_SUCCESS) {
    log_line(LOG_ERR, "cannot set up the milter on " + sock);
    return 1;
  }
  if (smfi_opensocket(true) != MI_SUCCESS) {
    log_line(LOG_ERR, "cannot open milter socket " + sock);
    return 1;
  }
  set_nodelay_on_listeners();
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
  std::thread(reload_loop).detach();
  log_line(LOG_INFO, "tamisd " TAMIS_VERSION " listening on " + sock + " (" + std::to_string(snap->rules->rules().size()) +
                         " rules, model " + (snap->model ? std::to_string(snap->model->trees()) + " trees" : "unavailable") + ")");
  int rc = smfi_main();
  log_line(LOG_INFO, "tamisd stopping");
  if (!mc.pid_file.empty()) std::filesystem::remove(mc.pid_file);
  return rc == MI_SUCCESS ? 0 : 1;
}
