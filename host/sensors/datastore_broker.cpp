#include "host/sensors/datastore_broker.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "host/sensors/broker_protocol.h"

namespace gale::sensors {
namespace {

using namespace std::chrono_literals;

constexpr int kBatch = 16;  // messages served per host per round, so that every host gets a turn

// Room for one message of the largest size. As root the node may exceed net.core.wmem_max (and
// does for the host's end too, which it creates); otherwise the kernel caps it.
void SizeSendBuffer(int fd) {
  int size = static_cast<int>(kBrokerMaxMessage + (64 << 10));
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }
}

// recv() returned 0: the host's end is closed (or shut down), or it sent an empty message.
bool PeerClosed(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

}  // namespace

DatastoreBroker::DatastoreBroker(store::Store* store, std::string node)
    : store_(store), node_(std::move(node)) {}

DatastoreBroker::~DatastoreBroker() {
  Stop();
}

Status DatastoreBroker::Start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return Status::Ok();
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0)
    return Status::Error(std::string("datastore broker: eventfd: ") + strerror(errno));
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void DatastoreBroker::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (!thread_.joinable()) return;
    stop_ = true;
  }
  Wake();
  thread_.join();
  ApplyChanges();
  for (auto& [pack, c] : connections_) close(c.fd);
  connections_.clear();
  close(wake_fd_);
  wake_fd_ = -1;
}

Result<int> DatastoreBroker::Connect(const std::string& pack) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return Status::Error("datastore broker for " + pack + ": socketpair: " + strerror(errno));
  }
  SizeSendBuffer(sv[0]);
  SizeSendBuffer(sv[1]);
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  {
    std::lock_guard lock(mutex_);
    if (!thread_.joinable() || stop_) {
      close(sv[0]);
      close(sv[1]);
      return Status::Error("datastore broker for " + pack + ": not running");
    }
    changes_.push_back({pack, sv[0]});
  }
  Wake();
  return sv[1];
}

void DatastoreBroker::Disconnect(const std::string& pack) {
  {
    std::lock_guard lock(mutex_);
    if (!thread_.joinable()) return;
    changes_.push_back({pack, -1});
  }
  Wake();
}

std::int64_t DatastoreBroker::refused(const std::string& pack) const {
  std::lock_guard lock(mutex_);
  auto it = refused_.find(pack);
  return it == refused_.end() ? 0 : it->second;
}

void DatastoreBroker::Wake() {
  const std::uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
}

void DatastoreBroker::ApplyChanges() {
  std::vector<Change> changes;
  {
    std::lock_guard lock(mutex_);
    changes.swap(changes_);
  }
  for (const auto& change : changes) {
    if (auto it = connections_.find(change.pack); it != connections_.end()) {
      close(it->second.fd);
      connections_.erase(it);
    }
    if (change.fd < 0) continue;
    Connection c;
    c.peer = {change.pack, node_};
    c.fd = change.fd;
    c.window_start = Clock::now();
    connections_.emplace(change.pack, std::move(c));
  }
}

void DatastoreBroker::Loop() {
  std::vector<char> buffer(kBrokerMaxMessage + 1);
  std::vector<pollfd> fds;
  std::vector<Connection*> polled;
  while (!stop_) {
    ApplyChanges();
    fds.assign(1, pollfd{wake_fd_, POLLIN, 0});
    polled.clear();
    const auto now = Clock::now();
    int timeout = -1;
    for (auto& [pack, c] : connections_) {
      if (c.closed) continue;
      if (now - c.window_start >= 1s) {
        c.window_start = now;
        c.served_in_window = 0;
      }
      if (c.served_in_window >= kBrokerRequestsPerSecond) {
        // Over its budget: not read until the next window, so its sends block, not the node.
        const auto wait =
            std::chrono::duration_cast<std::chrono::milliseconds>(c.window_start + 1s - now);
        timeout = timeout < 0 ? static_cast<int>(wait.count() + 1)
                              : std::min(timeout, static_cast<int>(wait.count() + 1));
        continue;
      }
      fds.push_back(pollfd{c.fd, POLLIN, 0});
      polled.push_back(&c);
    }
    if (poll(fds.data(), fds.size(), timeout) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("datastore broker: poll: {}", strerror(errno));
      std::this_thread::sleep_for(100ms);
      continue;
    }
    if (fds[0].revents != 0) {
      std::uint64_t drained;
      (void)!read(wake_fd_, &drained, sizeof drained);
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents != 0) Serve(*polled[i - 1], buffer);
    }
  }
}

void DatastoreBroker::Serve(Connection& c, std::vector<char>& buffer) {
  for (int i = 0; i < kBatch && c.served_in_window < kBrokerRequestsPerSecond; ++i) {
    const ssize_t n = recv(c.fd, buffer.data(), buffer.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) c.closed = true;
      return;
    }
    if (n == 0 && PeerClosed(c.fd)) {
      c.closed = true;
      return;
    }
    ++c.served_in_window;
    const auto size = static_cast<size_t>(n);
    if (size > kBrokerMaxMessage) {
      BrokerAnswer a = OversizeAnswer(size);
      NoteRefusal(c, a.refusal);
      const std::string out = a.message.dump();
      send(c.fd, out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      continue;
    }
    Answer(c, std::string_view(buffer.data(), size));
  }
}

void DatastoreBroker::Answer(Connection& c, std::string_view message) {
  BrokerAnswer a;
  if (store_ == nullptr) {
    a.message = {{"ok", false}, {"error", "the node has no store"}};
  } else {
    a = AnswerBrokerRequest(*store_, c.peer, message);
  }
  if (!a.refusal.empty()) NoteRefusal(c, a.refusal);
  std::string out = a.message.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (out.size() > kBrokerMaxMessage) {
    Json too_big = {
        {"ok", false},
        {"error", "answer of " + std::to_string(out.size()) +
                      " bytes is over the broker's limit of " + std::to_string(kBrokerMaxMessage)}};
    if (a.message.contains("id")) too_big["id"] = a.message["id"];
    out = too_big.dump();
  }
  // Never waits: a host that does not read its answers loses them.
  if (send(c.fd, out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno == EPIPE) {
    c.closed = true;
  }
}

void DatastoreBroker::NoteRefusal(Connection& c, const std::string& why) {
  {
    std::lock_guard lock(mutex_);
    ++refused_[c.peer.pack];
  }
  ++c.refused_unlogged;
  c.last_refusal = why;
  const auto now = Clock::now();
  if (c.last_log != Clock::time_point{} && now - c.last_log < 60s) return;
  spdlog::warn(
      "sensor host {}: refused {} datastore request(s) (logged once a minute), the last: {}",
      c.peer.pack, c.refused_unlogged, c.last_refusal);
  c.refused_unlogged = 0;
  c.last_log = now;
}

}  // namespace gale::sensors
