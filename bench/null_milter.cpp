// A milter that judges nothing: it negotiates what tamisd negotiates (the
// same no-reply steps) and answers "continue" to every step that wants an
// answer. bench/postfix_bench.py runs Postfix through it to separate what any
// milter costs Postfix (its side of the protocol) from what tamisd adds.
//
//   null_milter /path/to/socket      (unix socket; runs until killed)
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "protocol.hpp"

namespace w = tamis::milter::wire;

namespace {

std::uint32_t be32(const std::string& s, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, s.data() + at, 4);
  return ntohl(v);
}

void serve(int fd) {
  std::string buf, out;
  std::uint32_t proto = 0;
  char chunk[65536];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    buf.append(chunk, static_cast<std::size_t>(n));
    std::size_t pos = 0;
    out.clear();
    bool quit = false;
    while (buf.size() - pos >= 5) {
      std::uint32_t len = be32(buf, pos);
      if (len == 0 || len > w::kMaxPacket) { quit = true; break; }
      if (buf.size() - pos < 4 + len) break;
      char cmd = buf[pos + 4];
      std::string d = buf.substr(pos + 5, len - 1);
      pos += 4 + len;
      auto answer = [&](std::uint32_t nr) { if (!(proto & nr)) out += w::packet(w::kContinue); };
      switch (cmd) {
        case w::kOptNeg: {
          const std::uint32_t want = w::kNrConn | w::kNrHelo | w::kNrRcpt | w::kNrHdr | w::kNrEoh | w::kSkip |
                                     w::kHdrLeadSpc | w::kNoUnknown | w::kNoData;
          proto = be32(d, 8) & want;
          std::string r;
          for (std::uint32_t v : {6u, w::kActAddHdrs | w::kActChgHdrs, proto}) {
            v = htonl(v);
            r.append(reinterpret_cast<const char*>(&v), 4);
          }
          out += w::packet(w::kOptNeg, r);
          break;
        }
        case w::kConnect: answer(w::kNrConn); break;
        case w::kHelo: answer(w::kNrHelo); break;
        case w::kRcpt: answer(w::kNrRcpt); break;
        case w::kHeader: answer(w::kNrHdr); break;
        case w::kEoh: answer(w::kNrEoh); break;
        case w::kMail: case w::kBody: case w::kBodyEob: answer(0); break;
        case w::kQuit: quit = true; break;
        default: break;  // macros, abort, QUIT_NC: no answer
      }
    }
    buf.erase(0, pos);
    if (!out.empty() && send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) break;
    if (quit) break;
  }
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: null_milter /path/to/unix.sock\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, argv[1], sizeof sa.sun_path - 1);
  unlink(argv[1]);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(lfd, SOMAXCONN) != 0) {
    std::perror("null_milter: bind/listen");
    return 1;
  }
  chmod(argv[1], 0666);
  for (;;) {
    int fd = accept(lfd, nullptr, nullptr);
    if (fd >= 0) std::thread(serve, fd).detach();
  }
}
