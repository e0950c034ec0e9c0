// The node's side of the sensor hosts' datastore (broker_protocol.h): one thread answers every
// host's socket. It never blocks on a host: reads and answers are non-blocking, an answer a host
// does not read is dropped, and each host gets at most kBrokerRequestsPerSecond requests served
// (beyond that its socket is not read, so a flooding host only slows itself down).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "host/common/result.h"
#include "host/sensors/datastore_policy.h"
#include "host/store/store.h"

namespace gale::sensors {

inline constexpr int kBrokerRequestsPerSecond = 200;

class DatastoreBroker {
 public:
  DatastoreBroker(store::Store* store, std::string node);
  ~DatastoreBroker();  // stops the thread and closes every socket
  DatastoreBroker(const DatastoreBroker&) = delete;
  DatastoreBroker& operator=(const DatastoreBroker&) = delete;

  Status Start();
  void Stop();

  // A new socket pair for a host of `pack`: the node's end is served from now on (replacing
  // the pack's previous one), the host's end (close-on-exec) is returned for the caller to pass
  // to the host and then close.
  Result<int> Connect(const std::string& pack);
  // Stops serving `pack` (its host is gone) and closes the node's end.
  void Disconnect(const std::string& pack);

  // Requests refused for `pack` so far (policy or malformed), over every host it had.
  std::int64_t refused(const std::string& pack) const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Connection {
    BrokerPeer peer;
    int fd = -1;
    bool closed = false;  // the host's end is gone; not polled any more
    Clock::time_point window_start{};
    int served_in_window = 0;
    std::int64_t refused_unlogged = 0;
    Clock::time_point last_log{};
    std::string last_refusal;
  };
  // A change requested by another thread, applied by the broker's thread (the only one that
  // touches connections_, so no descriptor is closed under a poll or a read).
  struct Change {
    std::string pack;
    int fd = -1;  // -1: disconnect
  };

  void Loop();
  void ApplyChanges();
  // Serves up to a few messages of `c`; false when its socket is closed.
  void Serve(Connection& c, std::vector<char>& buffer);
  void Answer(Connection& c, std::string_view message);
  void NoteRefusal(Connection& c, const std::string& why);
  void Wake();

  store::Store* store_;
  std::string node_;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};

  mutable std::mutex mutex_;
  std::vector<Change> changes_;
  std::map<std::string, std::int64_t> refused_;

  std::map<std::string, Connection> connections_;  // broker thread only
};

}  // namespace gale::sensors
