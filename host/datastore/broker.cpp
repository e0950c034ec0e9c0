#include "host/datastore/broker.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "host/common/hex.h"
#include "host/common/input_limits.h"
#include "host/datastore/protocol.h"

namespace gale::datastore {
namespace {

using namespace std::chrono_literals;

constexpr int kBatch = 16;  // messages served per peer per round, so that every peer gets a turn

// Room for one message of the largest size. As root the node may exceed net.core.wmem_max (and
// does for the host's end too, which it creates); otherwise the kernel caps it.
void SizeSendBuffer(int fd) {
  int size = static_cast<int>(kBrokerMaxMessage + (64 << 10));
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }
}

// recv() returned 0: the peer's end is closed (or shut down), or it sent an empty message.
bool PeerClosed(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

std::string Describe(const Peer& peer) {
  if (peer.kind == Peer::Kind::kSensorHost) return "sensor host " + peer.pack;
  return "action " + peer.action + " (execution " + peer.execution + ")";
}

}  // namespace

DatastoreBroker::DatastoreBroker(PolicyContext context, std::string node)
    : context_(std::move(context)), node_(std::move(node)) {}

DatastoreBroker::~DatastoreBroker() {
  Stop();
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(listen_path_.c_str());
  }
}

Status DatastoreBroker::Listen(const std::string& path, std::optional<gid_t> group) {
  const std::string where = "datastore socket " + path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return Status::Error(where + ": the path must be 1 to " +
                         std::to_string(sizeof addr.sun_path - 1) + " bytes long");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::Error(where + ": socket: " + strerror(errno));
  // A socket left by a node that did not stop cleanly; nothing listens on it any more (the
  // node's home lock says this is the only node of this home).
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path.c_str());
  auto fail = [&](const char* step) {
    const std::string why = where + ": " + step + ": " + strerror(errno);
    close(fd);
    return Status::Error(why);
  };
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return fail("bind");
  // Connecting takes write permission on the socket: the node's user, and the action group.
  if (group && chown(path.c_str(), static_cast<uid_t>(-1), *group) != 0) {
    unlink(path.c_str());
    return fail("chown");
  }
  if (chmod(path.c_str(), group ? 0660 : 0600) != 0) {
    unlink(path.c_str());
    return fail("chmod");
  }
  if (listen(fd, 128) != 0) {
    unlink(path.c_str());
    return fail("listen");
  }
  listen_fd_ = fd;
  listen_path_ = path;
  return Status::Ok();
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
  for (auto& [fd, c] : connections_) close(fd);
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
    changes_.push_back({pack, "", sv[0]});
  }
  Wake();
  return sv[1];
}

void DatastoreBroker::Disconnect(const std::string& pack) {
  {
    std::lock_guard lock(mutex_);
    if (!thread_.joinable()) return;
    changes_.push_back({pack, "", -1});
  }
  Wake();
}

Result<std::string> DatastoreBroker::Register(Peer peer) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return Status::Error("datastore broker: no randomness for a token");
  }
  std::string token = HexEncode(bytes, sizeof bytes);
  std::lock_guard lock(mutex_);
  tokens_.emplace(token, std::move(peer));
  return token;
}

void DatastoreBroker::Unregister(const std::string& token) {
  {
    std::lock_guard lock(mutex_);
    tokens_.erase(token);
    if (!thread_.joinable()) return;
    changes_.push_back({"", token, -1});
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
    // A new host of a pack replaces its previous one; an ended execution's connections go.
    for (auto it = connections_.begin(); it != connections_.end();) {
      const bool gone = change.token.empty()
                            ? !change.pack.empty() && it->second.pack_slot == change.pack
                            : it->second.token == change.token;
      if (!gone) {
        ++it;
        continue;
      }
      close(it->first);
      it = connections_.erase(it);
    }
    if (change.fd < 0) continue;
    Connection c;
    c.peer = {Peer::Kind::kSensorHost, change.pack, node_};
    c.fd = change.fd;
    c.pack_slot = change.pack;
    c.window_start = Clock::now();
    connections_.emplace(c.fd, std::move(c));
  }
}

void DatastoreBroker::Accept() {
  for (int i = 0; i < kBatch; ++i) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or out of descriptors: tried again at the next round
    const auto unbound = std::count_if(connections_.begin(), connections_.end(), [](auto& e) {
      return e.second.pack_slot.empty() && e.second.token.empty();
    });
    if (unbound >= kUnboundConnections) {
      close(fd);  // a peer opening connections without saying hello only loses them
      continue;
    }
    SizeSendBuffer(fd);
    Connection c;
    c.peer.kind = Peer::Kind::kAction;
    c.peer.node = node_;
    c.fd = fd;
    c.window_start = Clock::now();
    connections_.emplace(fd, std::move(c));
  }
}

void DatastoreBroker::Loop() {
  std::vector<char> buffer(kBrokerMaxMessage + 1);
  std::vector<pollfd> fds;
  std::vector<int> polled;
  while (!stop_) {
    ApplyChanges();
    fds.assign(1, pollfd{wake_fd_, POLLIN, 0});
    if (listen_fd_ >= 0) fds.push_back(pollfd{listen_fd_, POLLIN, 0});
    const size_t first = fds.size();
    polled.clear();
    const auto now = Clock::now();
    int timeout = -1;
    for (auto& [fd, c] : connections_) {
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
      fds.push_back(pollfd{fd, POLLIN, 0});
      polled.push_back(fd);
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
    for (size_t i = first; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      auto it = connections_.find(polled[i - first]);
      if (it != connections_.end()) Serve(it->second, buffer);
    }
    // A closed connection is forgotten (sensor hosts' too: the supervisor's Disconnect or the
    // next Connect of the pack finds nothing to close then).
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (!it->second.closed) {
        ++it;
        continue;
      }
      close(it->first);
      it = connections_.erase(it);
    }
    if (listen_fd_ >= 0 && fds[1].revents != 0) Accept();
  }
}

void DatastoreBroker::Serve(Connection& c, std::vector<char>& buffer) {
  for (int i = 0; i < kBatch && !c.closed && c.served_in_window < kBrokerRequestsPerSecond; ++i) {
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
      Send(c, a);
      if (c.pack_slot.empty() && c.token.empty()) c.closed = true;  // no hello: no second try
      continue;
    }
    const std::string_view message(buffer.data(), size);
    if (c.pack_slot.empty() && c.token.empty()) {
      Hello(c, message);
    } else {
      Answer(c, message);
    }
  }
}

void DatastoreBroker::Hello(Connection& c, std::string_view message) {
  // Whatever happens, a connection that did not bind is closed after its answer: a guesser
  // pays a connection per guess.
  c.closed = true;
  Json hello;
  if (CheckJsonText(message).ok()) hello = Json::parse(message, nullptr, false);
  Json id = hello.is_object() && hello.contains("id") && hello["id"].is_number_integer()
                ? hello["id"]
                : Json();
  if (!hello.is_object() || hello.value("op", Json()) != "hello" ||
      !hello.value("token", Json()).is_string()) {
    Send(c, Refusal("the first message must be {\"op\": \"hello\", \"token\": "
                    "$GALE_DATASTORE_TOKEN}",
                    id));
    return;
  }
  const std::string token = hello["token"].get<std::string>();
  std::optional<Peer> peer;
  {
    std::lock_guard lock(mutex_);
    if (auto it = tokens_.find(token); it != tokens_.end()) peer = it->second;
  }
  if (!peer) {
    Send(c, Refusal("unknown token (a token is valid only while its execution runs)", id));
    return;
  }
  const auto open = std::count_if(connections_.begin(), connections_.end(),
                                  [&](auto& e) { return e.second.token == token; });
  if (open >= kConnectionsPerToken) {
    c.peer = *peer;
    BrokerAnswer a =
        Refusal("execution " + peer->execution + " has " + std::to_string(kConnectionsPerToken) +
                    " datastore connections open already",
                id);
    NoteRefusal(c, a.refusal);
    Send(c, a);
    return;
  }
  c.closed = false;
  c.peer = *peer;
  c.token = token;
  BrokerAnswer a;
  a.message = {{"ok", true}, {"value", {{"pack", peer->pack}, {"execution", peer->execution}}}};
  if (!id.is_null()) a.message["id"] = id;
  Send(c, a);
}

void DatastoreBroker::Answer(Connection& c, std::string_view message) {
  if (!c.token.empty()) {
    // Its execution may have ended since the last round (Unregister's change is applied at the
    // next one): a token is worth nothing from the moment it is unregistered.
    bool valid;
    {
      std::lock_guard lock(mutex_);
      valid = tokens_.contains(c.token);
    }
    if (!valid) {
      c.closed = true;
      return;
    }
  }
  BrokerAnswer a = AnswerRequest(context_, c.peer, message);
  if (!a.refusal.empty()) NoteRefusal(c, a.refusal);
  Send(c, a);
}

void DatastoreBroker::Send(Connection& c, const BrokerAnswer& a) {
  std::string out = a.message.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (out.size() > kBrokerMaxMessage) {
    Json too_big = {
        {"ok", false},
        {"error", "answer of " + std::to_string(out.size()) +
                      " bytes is over the broker's limit of " + std::to_string(kBrokerMaxMessage)}};
    if (a.message.contains("id")) too_big["id"] = a.message["id"];
    out = too_big.dump();
  }
  // Never waits: a peer that does not read its answers loses them.
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
  spdlog::warn("{}: refused {} datastore request(s) (logged once a minute), the last: {}",
               Describe(c.peer), c.refused_unlogged, c.last_refusal);
  c.refused_unlogged = 0;
  c.last_log = now;
}

}  // namespace gale::datastore
