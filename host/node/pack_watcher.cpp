#include "host/node/pack_watcher.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace gale::node {
namespace fs = std::filesystem;
namespace {

constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE |
                           IN_ATTRIB | IN_DELETE_SELF;

}  // namespace

Result<std::unique_ptr<PackWatcher>> PackWatcher::Start(const std::vector<std::string>& paths,
                                                        std::chrono::milliseconds settle,
                                                        Callback on_change) {
  std::unique_ptr<PackWatcher> w(new PackWatcher());
  w->inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (w->inotify_fd_ < 0) return Status::Error(std::string("inotify: ") + strerror(errno));
  w->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  w->settle_ = settle;
  w->on_change_ = std::move(on_change);
  for (const auto& p : paths) {
    w->roots_.push_back(fs::absolute(p).lexically_normal().string());
    w->WatchTree(w->roots_.back(), 0);
  }
  PackWatcher* raw = w.get();
  w->thread_ = std::thread([raw] { raw->Loop(); });
  return w;
}

PackWatcher::~PackWatcher() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof one);
    thread_.join();
  }
  if (inotify_fd_ >= 0) close(inotify_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

// depth 0: a packs path; 1: a pack directory; 2: its sensors/, actions/, rules/ or policies/
// folder.
void PackWatcher::WatchTree(const std::string& dir, int depth) {
  std::error_code ec;
  if (depth > 2 || !fs::is_directory(dir, ec)) return;
  if (depth == 2) {
    const std::string name = fs::path(dir).filename().string();
    if (name != "sensors" && name != "actions" && name != "rules" && name != "policies") return;
  }
  int wd = inotify_add_watch(inotify_fd_, dir.c_str(), kMask);
  if (wd < 0) {
    spdlog::warn("cannot watch {}: {}", dir, strerror(errno));
    return;
  }
  watches_[wd] = dir;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec)) WatchTree(it->path().string(), depth + 1);
  }
}

void PackWatcher::Loop() {
  std::set<std::string> pending;
  auto last_event = std::chrono::steady_clock::now();
  alignas(inotify_event) char buf[64 * 1024];
  while (true) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int timeout = pending.empty() ? -1 : static_cast<int>(settle_.count());
    int r = poll(fds, 2, timeout);
    if (r < 0 && errno != EINTR) return;
    if (fds[1].revents & POLLIN) return;
    if (r > 0 && (fds[0].revents & POLLIN)) {
      ssize_t n = read(inotify_fd_, buf, sizeof buf);
      for (char* p = buf; n > 0 && p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        p += sizeof(inotify_event) + ev->len;
        auto w = watches_.find(ev->wd);
        if (w == watches_.end()) continue;
        fs::path dir = w->second;
        fs::path changed = ev->len > 0 ? dir / ev->name : dir;
        // Map the changed path to "<root>/<pack>".
        for (const auto& root : roots_) {
          fs::path rel = changed.lexically_relative(root);
          if (rel.empty() || rel.native()[0] == '.') continue;
          const std::string pack = (fs::path(root) / *rel.begin()).string();
          pending.insert(pack);
          if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && (ev->mask & IN_ISDIR)) {
            WatchTree(changed.string(), static_cast<int>(std::distance(rel.begin(), rel.end())));
          }
        }
        if (ev->mask & IN_IGNORED) watches_.erase(ev->wd);
      }
      last_event = std::chrono::steady_clock::now();
      continue;
    }
    if (!pending.empty() && std::chrono::steady_clock::now() - last_event >= settle_) {
      std::set<std::string> changed;
      changed.swap(pending);
      try {
        on_change_(changed);
      } catch (const std::exception& e) {
        spdlog::error("pack reload failed: {}", e.what());
      }
    }
  }
}

}  // namespace gale::node
