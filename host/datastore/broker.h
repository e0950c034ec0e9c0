// The node's side of the datastore broker (protocol.h): one thread answers every peer's socket,
// sensor hosts' socketpairs (Connect) and the connections actions make to a listening socket
// (Listen, bound to an execution by their first message, a hello with its token). It never
// blocks on a peer: reads and answers are non-blocking, an answer a peer does not read is
// dropped, and each connection gets at most kBrokerRequestsPerSecond requests served (beyond
// that its socket is not read, so a flooding peer only slows itself down).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "host/common/result.h"
#include "host/datastore/policy.h"

namespace gale::datastore {

// Connections an execution's token may have open at once, and connections not yet bound.
inline constexpr int kConnectionsPerToken = 8;
inline constexpr int kUnboundConnections = 256;

class DatastoreBroker {
 public:
  DatastoreBroker(PolicyContext context, std::string node);
  ~DatastoreBroker();  // stops the thread, closes every socket and removes the listening one
  DatastoreBroker(const DatastoreBroker&) = delete;
  DatastoreBroker& operator=(const DatastoreBroker&) = delete;

  // Before Start: listen on `path` (replacing a stale socket there), mode 0660 with `group`
  // (the action user's group when the node is root) or 0600 without.
  Status Listen(const std::string& path, std::optional<gid_t> group);
  Status Start();
  void Stop();

  // A new socket pair for a sensor host of `pack`: the node's end is served from now on
  // (replacing the pack's previous one), the host's end (close-on-exec) is returned for the
  // caller to pass to the host and then close.
  Result<int> Connect(const std::string& pack);
  // Stops serving `pack` (its host is gone) and closes the node's end.
  void Disconnect(const std::string& pack);

  // A fresh token (32 hex digits, 128 random bits) that binds a listener connection to `peer`
  // until Unregister; its connections are closed then.
  Result<std::string> Register(Peer peer);
  void Unregister(const std::string& token);

  // Requests refused for `pack` so far (policy or malformed), over every peer it had.
  std::int64_t refused(const std::string& pack) const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Connection {
    Peer peer;
    int fd = -1;
    std::string pack_slot;  // Connect's pack; empty for a listener connection
    std::string token;      // a listener connection's, once bound by its hello
    bool closed = false;    // the peer's end is gone; closed at the end of the round
    Clock::time_point window_start{};
    int served_in_window = 0;
    std::int64_t refused_unlogged = 0;
    Clock::time_point last_log{};
    std::string last_refusal;
  };
  // A change requested by another thread, applied by the broker's thread (the only one that
  // touches connections_, so no descriptor is closed under a poll or a read).
  struct Change {
    std::string pack;   // Connect/Disconnect
    std::string token;  // Unregister
    int fd = -1;        // -1: disconnect
  };

  void Loop();
  void ApplyChanges();
  void Accept();
  // Serves up to a few messages of `c`.
  void Serve(Connection& c, std::vector<char>& buffer);
  void Answer(Connection& c, std::string_view message);
  // A listener connection's first message: the hello that binds it, or it is closed.
  void Hello(Connection& c, std::string_view message);
  void Send(Connection& c, const BrokerAnswer& a);
  void NoteRefusal(Connection& c, const std::string& why);
  void Wake();

  PolicyContext context_;
  std::string node_;
  int wake_fd_ = -1;
  int listen_fd_ = -1;
  std::string listen_path_;
  std::thread thread_;
  std::atomic<bool> stop_{false};

  mutable std::mutex mutex_;
  std::vector<Change> changes_;
  std::map<std::string, std::int64_t> refused_;
  std::map<std::string, Peer> tokens_;

  std::map<int, Connection> connections_;  // by descriptor; broker thread only
};

}  // namespace gale::datastore
