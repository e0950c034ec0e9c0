// Shared by the host/bus implementation files; not part of the public interface.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "host/bus/bus.h"

namespace gale::bus::internal {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

// Destroys a handle without the implicit consumer close (Consumer::Close does that itself).
struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const;
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;

struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

// What a client handle's error callback saw (the rd_kafka_t opaque points at one). Its owner
// outlives the handle.
class HandleContext {
 public:
  explicit HandleContext(std::string brokers) : brokers_(std::move(brokers)) {}
  virtual ~HandleContext() = default;

  const std::string& brokers() const { return brokers_; }
  // " (last broker error: ...)" or "".
  std::string LastErrorSuffix() const;
  // An error worth returning from Poll() (all brokers down, fatal, authentication), once.
  std::optional<Status> TakeSevereError();

  void OnError(rd_kafka_t* rk, int err, const char* reason);

 private:
  std::string brokers_;
  mutable std::mutex mu_;
  std::string last_error_;
  std::optional<Status> severe_;
};

enum class Role { kProducer, kConsumer, kAdmin };

// A configuration for `role`: Gale's defaults, then config.properties (role-filtered). Logs go
// to spdlog; errors to `context` (which becomes the handle's opaque).
Result<ConfPtr> MakeConf(const BusConfig& config, Role role, HandleContext* context);
// An empty configuration whose logs go to spdlog.
ConfPtr LoggingConf();
// The log callback LoggingConf installs.
void LogCallback(const rd_kafka_t* rk, int level, const char* facility, const char* text);
// Sets one property, e.g. group.id.
Status Set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value);
// Creates the handle (the conf is consumed on success).
Result<KafkaPtr> NewHandle(rd_kafka_type_t type, ConfPtr conf, const std::string& brokers);

// Transient broker conditions that may go away by themselves.
bool IsRetryable(rd_kafka_resp_err_t err);
// "bus <brokers>: <what>: <librdkafka's text>"
Status Error(const std::string& brokers, const std::string& what, rd_kafka_resp_err_t err);
// Same for an rd_kafka_error_t, which it destroys.
Status Error(const std::string& brokers, const std::string& what, rd_kafka_error_t* error);
Status Error(const std::string& brokers, const std::string& what, const std::string& detail,
             bool retryable);

int ToMs(std::chrono::milliseconds d);
// Milliseconds left until `deadline` (>= 0).
int RemainingMs(std::chrono::steady_clock::time_point deadline);

// Topic metadata for `topics` (all when empty) as sorted TopicInfo with low = high = -1.
// A requested topic that does not exist is missing from the result.
Result<std::vector<TopicInfo>> Metadata(rd_kafka_t* rk, const std::string& brokers,
                                        const std::vector<std::string>& topics,
                                        std::chrono::steady_clock::time_point deadline);
// Fills low and/or high watermarks of every partition in `topics`.
Status Watermarks(rd_kafka_t* rk, const std::string& brokers, std::vector<TopicInfo>& topics,
                  std::chrono::steady_clock::time_point deadline);

Message ToMessage(const rd_kafka_message_t* rkm);

// The header carrying a message's signature, and its value: "v1=" + hex HMAC-SHA256 under
// `signing_key` of the topic, the key and the value.
inline constexpr const char* kSignatureHeader = "gale-sig";
std::string Signature(std::string_view signing_key, std::string_view topic, std::string_view key,
                      std::string_view value);
// With a key, marks `m` (read from rkm) not authentic unless its signature verifies; a message
// refused is counted (RejectedMessageCounts) and logged at most once a minute per partition.
void CheckSignature(std::string_view signing_key, const rd_kafka_message_t* rkm, Message* m);
// The same check given the header's value (nullopt: the message has none); test/fuzz calls it.
void CheckSignatureHeader(std::string_view signing_key, std::optional<std::string_view> header,
                          Message* m);

}  // namespace gale::bus::internal
