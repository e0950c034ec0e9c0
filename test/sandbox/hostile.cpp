// gale_hostile MODE [ARGS...] [--marker TOKEN]: misbehaving programs for the sandbox tests.
// Built without sanitizers (it is the payload, not the code under test; ASan's huge virtual
// reservations would also trip RLIMIT_AS). Tests pass a unique trailing token so that every
// process of one run can be found in /proc/*/cmdline.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: gale_hostile forkbomb | membomb MIB | spin | ignore-term | "
               "setsid-grandchild PIDFILE [stay] | socket-inet | socket-unix | ptrace | "
               "flood BYTES | segv | kill-parent | fds | sleep SECONDS\n");
  return 2;
}

[[noreturn]] void PauseForever() {
  for (;;) pause();
}

int ForkBomb() {
  for (;;) {
    if (fork() < 0) usleep(1000);  // at the limit: keep trying, a little less hot
  }
}

int MemBomb(long mib) {
  std::vector<char*> blocks;
  long got = 0;
  while (got < mib) {
    auto* p = static_cast<char*>(std::malloc(16 << 20));
    if (p == nullptr) {
      std::printf("allocation failed after %ld MiB\n", got);
      return 4;
    }
    std::memset(p, 0x5a, 16 << 20);  // touch it: RSS, not only address space
    blocks.push_back(p);
    got += 16;
  }
  std::printf("allocated %ld MiB\n", got);
  return 0;
}

int Spin() {
  volatile unsigned long n = 0;
  for (;;) n = n + 1;
}

int IgnoreTerm() {
  signal(SIGTERM, SIG_IGN);
  std::printf("ignoring SIGTERM\n");
  std::fflush(stdout);
  PauseForever();
}

// main -> child -> grandchild; the grandchild leaves the session and process group, ignores
// SIGTERM and records its pid; the child exits, so the grandchild is an orphan.
int SetsidGrandchild(const char* pidfile, bool stay) {
  pid_t child = fork();
  if (child < 0) return 5;
  if (child == 0) {
    pid_t grandchild = fork();
    if (grandchild < 0) _exit(5);
    if (grandchild == 0) {
      setsid();
      signal(SIGTERM, SIG_IGN);
      std::string tmp = std::string(pidfile) + ".tmp";
      FILE* f = std::fopen(tmp.c_str(), "w");
      if (f == nullptr) _exit(6);
      std::fprintf(f, "%d\n", static_cast<int>(getpid()));
      std::fclose(f);
      std::rename(tmp.c_str(), pidfile);
      PauseForever();
    }
    _exit(0);
  }
  waitpid(child, nullptr, 0);
  for (int i = 0; i < 500 && access(pidfile, F_OK) != 0; ++i) usleep(10000);
  std::printf("grandchild detached\n");
  std::fflush(stdout);
  if (stay) PauseForever();
  return 0;
}

int Socket(int family) {
  int fd = socket(family, SOCK_STREAM, 0);
  if (fd < 0) {
    std::printf("socket: %s\n", std::strerror(errno));
    return 3;
  }
  std::printf("socket: ok\n");
  close(fd);
  return 0;
}

int Ptrace() {
  if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) {
    std::printf("ptrace: %s\n", std::strerror(errno));
    return 3;
  }
  std::printf("ptrace: ok\n");
  return 0;
}

int Flood(unsigned long long bytes) {
  static char buf[1 << 16];
  std::memset(buf, 'x', sizeof(buf));
  while (bytes > 0) {
    size_t n = bytes < sizeof(buf) ? static_cast<size_t>(bytes) : sizeof(buf);
    ssize_t w = write(1, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return 7;
    }
    bytes -= static_cast<unsigned long long>(w);
  }
  return 0;
}

int Segv() {
  volatile int* p = nullptr;
  *p = 1;
  return 0;
}

// Kills its supervisor, then lingers.
int KillParent() {
  if (kill(getppid(), SIGKILL) != 0) {
    std::printf("kill parent: %s\n", std::strerror(errno));
    return 3;
  }
  std::printf("killed parent\n");
  std::fflush(stdout);
  PauseForever();
}

int Fds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return 8;
  std::vector<int> fds;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    if (fd != dirfd(d)) fds.push_back(fd);
  }
  closedir(d);
  std::string out;
  for (size_t i = 0; i < fds.size(); ++i) out += (i ? " " : "") + std::to_string(fds[i]);
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Drop the trailing marker.
  if (argc >= 3 && std::strcmp(argv[argc - 2], "--marker") == 0) argc -= 2;
  if (argc < 2) return Usage();
  std::string mode = argv[1];
  if (mode == "forkbomb") return ForkBomb();
  if (mode == "membomb" && argc >= 3) return MemBomb(std::atol(argv[2]));
  if (mode == "spin") return Spin();
  if (mode == "ignore-term") return IgnoreTerm();
  if (mode == "setsid-grandchild" && argc >= 3) {
    return SetsidGrandchild(argv[2], argc >= 4 && std::strcmp(argv[3], "stay") == 0);
  }
  if (mode == "socket-inet") return Socket(AF_INET);
  if (mode == "socket-unix") return Socket(AF_UNIX);
  if (mode == "ptrace") return Ptrace();
  if (mode == "flood" && argc >= 3) return Flood(std::strtoull(argv[2], nullptr, 10));
  if (mode == "segv") return Segv();
  if (mode == "kill-parent") return KillParent();
  if (mode == "fds") return Fds();
  if (mode == "sleep" && argc >= 3) {
    sleep(static_cast<unsigned>(std::atoi(argv[2])));
    return 0;
  }
  return Usage();
}
