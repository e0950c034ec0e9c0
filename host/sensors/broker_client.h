// The sensor host's side of the datastore broker (broker_protocol.h): synchronous calls over the
// socket the node gave it. Thread-safe (sensor threads and the host's counter reports share it).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::sensors {

class BrokerClient {
 public:
  // Checks that `fd` is a SOCK_SEQPACKET socket and takes it over.
  static Result<std::unique_ptr<BrokerClient>> Adopt(int fd);
  ~BrokerClient();
  BrokerClient(const BrokerClient&) = delete;
  BrokerClient& operator=(const BrokerClient&) = delete;

  // How long get and set wait for the node (counters wait 2 s: they come again soon).
  std::chrono::milliseconds call_timeout = std::chrono::seconds(30);

  Result<std::optional<std::string>> Get(const std::string& name);
  Status Set(const std::string& name, const std::string& value);
  Status Counters(std::int64_t dispatched, std::int64_t rejected, std::int64_t undelivered);

  // Sends `request` (an "id" is added) and returns the answer's "value", or its "error".
  Result<Json> Call(Json request, std::chrono::milliseconds timeout);

 private:
  explicit BrokerClient(int fd);
  Status Send(const std::string& message, std::chrono::steady_clock::time_point deadline);

  std::mutex mutex_;
  int fd_;
  std::int64_t next_id_ = 1;
  std::vector<char> buffer_;
};

}  // namespace gale::sensors
