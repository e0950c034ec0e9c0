// Gale's bus: Kafka topics carrying JSON messages (DESIGN.md, "Bus"). librdkafka producer and
// consumer wrappers, the embedded broker (librdkafka's mock cluster) used when no brokers are
// configured, topic setup, and inspection for `gale topics`.
//
// Nothing here throws. Every call that talks to a broker is bounded in time and fails with a
// one-line message that names the bootstrap servers; `Status::retryable()` is set for transient
// broker conditions (unreachable, timed out, leader moving, rebalance in progress) and unset for
// permanent ones (bad configuration, unknown property, fatal producer state).
//
// librdkafka's own log lines go to spdlog (prefix "kafka"), never to raw stderr.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::bus {

struct BusConfig {
  // Bootstrap servers, "host:port[,host:port...]". Required; for the embedded bus this is
  // EmbeddedBroker::bootstrap() (what `gale up` writes to $GALE_HOME/bus.addr).
  std::string brokers;
  // True when `brokers` is an EmbeddedBroker. Consumers then use fetch.wait.max.ms=5 (the mock
  // broker answers an empty fetch only after that wait, even when data arrives meanwhile; a
  // real broker answers at once, so 100 ms there costs no latency), and the group Admin API
  // calls it does not support are not sent (see DescribeGroup, ListGroups).
  bool embedded = false;
  std::string topic_prefix = "gale.";  // topics and consumer groups are prefix + suffix
  int partitions = 6;                  // for the topics EnsureTopics creates
  int replication_factor = 1;          // 3 on a 3-broker cluster
  std::string client_id = "gale";
  // Extra librdkafka properties, applied after Gale's defaults (so they override them). A key
  // "producer.X" sets X on producers only, "consumer.X" on consumer handles only (Consumer,
  // Tailer, DescribeGroup, ListGroups), any other key on every client. Unknown properties
  // fail Create().
  std::map<std::string, std::string> properties;
  // The deployment's bus key (32 bytes, from $GALE_HOME/keys/bus.key or bus.signing_key_file).
  // Producers sign every message with it; consumers and tailers mark a message whose
  // signature does not verify as not authentic (Message::authentic), and Gale's roles drop it.
  // Empty: nothing is signed or checked (tools that only read, tests of the transport).
  std::string signing_key;
};

// Topic suffixes (DESIGN.md, "Bus").
inline constexpr std::string_view kTriggers = "triggers";
inline constexpr std::string_view kExecutions = "executions";
inline constexpr std::string_view kExecutionEvents = "execution-events";
inline constexpr std::string_view kSensorOwners = "sensor-owners";
inline constexpr std::string_view kDeadLetters = "dead-letters";  // what a role gave up on
// Consumer group suffixes.
inline constexpr std::string_view kRulesGroup = "rules";                 // consumes triggers
inline constexpr std::string_view kRunnersGroup = "runners";             // consumes executions
inline constexpr std::string_view kSensorOwnersGroup = "sensor-owners";  // consumes sensor-owners

// prefix + suffix, e.g. "gale.triggers".
std::string Topic(const BusConfig& config, std::string_view suffix);
// prefix + suffix, e.g. "gale.rules".
std::string Group(const BusConfig& config, std::string_view suffix);

// Gale's own consumer groups and the topics each consumes: rules -> triggers,
// runners -> executions, sensor-owners -> sensor-owners (for `gale topics groups`).
struct GroupTopics {
  std::string group;
  std::vector<std::string> topics;
};
std::vector<GroupTopics> GaleGroups(const BusConfig& config);

// How much of an embedded partition's retention the messages not yet consumed use.
struct RetentionUse {
  std::string topic;
  int32_t partition = -1;
  int64_t unconsumed_bytes = 0;    // record batches at or after the lowest committed offset
  int64_t unconsumed_batches = 0;  // the mock counts batches, not messages
  // max(bytes / kLogMaxBytes, batches / kLogMaxBatches): at 1 the next message produced there
  // makes the broker drop one nobody consumed.
  double used_ratio = 0;
};

// The in-process Kafka-protocol broker (librdkafka's mock cluster) listening on random loopback
// ports. Other processes (sensor hosts, the CLI, kcat) reach it through bootstrap(). It keeps
// nothing across restarts. It does not answer the Admin API's CreateTopics (use CreateTopic or
// EnsureTopics with it) nor ListGroups/DescribeGroups. Thread-safe.
class EmbeddedBroker {
 public:
  static Result<std::unique_ptr<EmbeddedBroker>> Start(int brokers = 1);
  ~EmbeddedBroker();  // closes the listeners; clients connected to it see the broker go down
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // "127.0.0.1:PORT[,127.0.0.1:PORT...]"
  const std::string& bootstrap() const { return bootstrap_; }
  // Creates `name` with `partitions` partitions (replicated on min(3, brokers) brokers).
  // An existing topic is left as it is and is not an error. With several brokers, each new
  // topic is led by the next broker in turn (all its partitions), so that HoldProduce on one
  // topic does not hold the producers of another while there are as many brokers as topics.
  Status CreateTopic(const std::string& name, int partitions);

  // Retention: the mock cluster keeps at most kLogMaxBytes of record batches and kLogMaxBatches
  // batches per partition and drops the oldest batch beyond either, consumed or not (librdkafka
  // 2.0 rdkafka_mock.c; rdkafka_mock.h cannot change it). Unconsumed use of every partition of
  // the topics `groups` consume (see RetentionUse), by topic and partition.
  static constexpr int64_t kLogMaxBytes = 5 * 1024 * 1024;
  static constexpr int64_t kLogMaxBatches = 100000;
  std::vector<RetentionUse> Retention(const std::vector<GroupTopics>& groups) const;
  // From now on, a message appended to a partition of the topics `groups` consume that brings
  // its used_ratio to `hold_at` calls HoldProduce at once, before the broker reads the next
  // request (a poller alone would react late to a fast producer). Empty groups: never.
  void WatchRetention(std::vector<GroupTopics> groups, double hold_at);
  // Holds back the producers of `topic`: the next Produce requests its leader broker receives
  // (for any topic it leads) are refused, after `delay`, with NOT_ENOUGH_REPLICAS, which
  // producers retry (the idempotent producer without loss, duplicates or reordering) until
  // their message.timeout.ms. The hold wears off by itself after a few requests: call again
  // at least every 50 ms to keep holding.
  void HoldProduce(const std::string& topic,
                   std::chrono::milliseconds delay = std::chrono::milliseconds(100));

 private:
  struct Impl;
  explicit EmbeddedBroker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string bootstrap_;
};

// Creates Gale's five topics if missing, with config.partitions partitions (sensor-owners gets
// `sensor_owner_slots`, one partition per ownership slot; dead-letters one, to keep their order)
// and config.replication_factor: through `embedded` when given, else with the Admin API's
// CreateTopics (a topic that already exists is left as it is). Returns once the broker's metadata
// lists all four, or an error after `timeout`. An existing topic with a different partition count
// is logged, not changed.
Status EnsureTopics(const BusConfig& config, EmbeddedBroker* embedded, int sensor_owner_slots = 64,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

struct Message {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string key;  // empty: the message has no key
  std::string value;
  int64_t timestamp_ms = 0;  // ms since the Unix epoch (producer create time); 0 if unknown
  // False when the reader has a signing key and the message is unsigned or its signature does
  // not verify: it was not produced by this deployment. Readers commit past such a message
  // without acting on it (it is already counted and logged).
  bool authentic = true;
};

// Messages refused for their signature since the process started, by topic and reason
// ("unsigned", "bad signature"), for /metrics.
struct RejectedMessages {
  std::string topic;
  std::string reason;
  uint64_t count = 0;
};
std::vector<RejectedMessages> RejectedMessageCounts();

// `status` is ok when the broker acknowledged the message (all in-sync replicas); then
// `message` carries its partition and offset.
using DeliveryCallback = std::function<void(const Status& status, const Message& message)>;

// An idempotent producer (enable.idempotence=true, acks=all): retries never duplicate or
// reorder messages within a partition. Thread-safe. A background thread serves delivery
// reports; callbacks run on that thread or on a thread inside Flush(), must not block long and
// must not throw. Messages are partitioned by key (murmur2-compatible with the Java client);
// an empty key means no key (spread over partitions).
class Producer {
 public:
  static Result<std::unique_ptr<Producer>> Create(const BusConfig& config);
  // Waits up to 5 s for queued messages; whatever is left is dropped and its delivery
  // callbacks get an error. Call Flush() first to know the outcome.
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Queues one message (copied) and returns. When the local queue is full it waits for room
  // (up to 30 s) instead of dropping; it fails only if the message cannot be queued (queue
  // still full, message too large, fatal producer error). Delivery is reported to
  // `on_delivery` and to the next Flush().
  Status Produce(const std::string& topic, std::string_view key, std::string_view value,
                 DeliveryCallback on_delivery = {});
  // Waits until every message queued so far is acknowledged. Returns the first delivery error
  // seen since the previous Flush() (from any thread), or a retryable error naming how many
  // messages are still in flight when `timeout` passes.
  Status Flush(std::chrono::milliseconds timeout);
  // Produce and wait for this message's acknowledgement. On timeout (retryable error) the
  // message may still be delivered later.
  Result<Message> ProduceSync(const std::string& topic, std::string_view key,
                              std::string_view value, std::chrono::milliseconds timeout);

 private:
  struct Impl;
  explicit Producer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct TopicPartition {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;  // meaning depends on the call; -1: none / unknown
};

// One member of a consumer group; offsets are committed only by Commit()/CommitOffsets() (no
// auto-commit). Poll(), Commit(), CommitOffsets() and Close() belong to one thread (the
// rebalance callbacks run inside Poll() and Close()); Pause(), Resume(), paused() and
// Assignment() may be called from any thread. Keep calling Poll() while paused: it serves
// rebalances, and a member that does not poll for max.poll.interval.ms (5 min) is dropped.
class Consumer {
 public:
  using PartitionsCallback = std::function<void(const std::vector<TopicPartition>&)>;
  struct Options {
    std::string group_id;             // e.g. Group(config, kRulesGroup)
    std::vector<std::string> topics;  // subscribed; need not exist yet
    // Where a partition with no committed offset starts: the earliest retained message
    // (true) or the next message produced after assignment (false).
    bool from_beginning = true;
    // Called inside Poll()/Close() on a rebalance. on_assigned gets the partitions added, with
    // `offset` = where consumption starts. on_revoked gets the partitions being taken away,
    // with `offset` = the next offset Poll() would have returned; it runs BEFORE they are
    // given up, so no other member gets them until it returns (a node can stop its sensors
    // before another node starts them). Commit() may be called from on_revoked. With the
    // default (eager) assignors a rebalance revokes every partition, then assigns the new set.
    PartitionsCallback on_assigned;
    PartitionsCallback on_revoked;
    // Bound for the blocking calls: Commit() and the offset lookups of a rebalance.
    std::chrono::milliseconds timeout = std::chrono::seconds(10);
  };

  static Result<std::unique_ptr<Consumer>> Create(const BusConfig& config, Options options);
  ~Consumer();  // Close()
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // The next message, or nullopt when none arrived within `timeout`. Errors (retryable unless
  // fatal): all brokers down, a subscribed topic that does not exist, ... ; the consumer keeps
  // working after an error, so callers log it and poll again.
  Result<std::optional<Message>> Poll(std::chrono::milliseconds timeout);

  // Synchronous commit of `m.offset + 1` for m's partition: a member that gets the partition
  // next starts after `m`.
  Status Commit(const Message& m);
  // Synchronous commit of explicit offsets (`offset` = the next offset to consume).
  Status CommitOffsets(const std::vector<TopicPartition>& offsets);

  // Backpressure. Pause(): from now on Poll() returns nothing from the assigned partitions
  // (messages librdkafka had already fetched are held back, not returned) and fetching stops;
  // partitions assigned by a later rebalance are paused too. Resume(): fetching restarts at
  // the offset after the last message Poll() returned for each partition (or where the
  // partition's consumption started), so nothing is skipped or returned twice.
  Status Pause();
  Status Resume();
  bool paused() const;

  // The partitions assigned now, with `offset` = the next offset Poll() returns for each.
  std::vector<TopicPartition> Assignment() const;

  // Leaves the group cleanly (on_revoked runs first); takes at most about session.timeout.ms.
  // Idempotent; later calls to other methods fail.
  Status Close();

 private:
  struct Impl;
  explicit Consumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- inspection (`gale topics`) --------------------------------------------------------------

struct PartitionInfo {
  int32_t id = -1;
  int32_t leader = -1;  // broker id; -1 while no leader is elected
  int64_t low = -1;     // earliest offset retained
  int64_t high = -1;    // offset the next message gets (high watermark)
};
struct TopicInfo {
  std::string name;
  std::vector<PartitionInfo> partitions;  // by id
};
// Every topic on the cluster except internal ones ("__..."), sorted by name.
Result<std::vector<TopicInfo>> ListTopics(const BusConfig& config,
                                          std::chrono::milliseconds timeout);

struct GroupPartitionLag {
  std::string topic;
  int32_t partition = -1;
  int64_t committed = -1;  // -1: nothing committed
  int64_t high = -1;
  // Messages not yet consumed: high - committed, or high - low when nothing is committed.
  int64_t lag = 0;
};
struct GroupInfo {
  std::string group;
  std::string state;  // "Stable", "Empty", ...; "" when the broker cannot tell (embedded)
  int members = -1;   // -1 when the broker cannot tell (embedded)
  std::vector<GroupPartitionLag> partitions;  // every partition of `topics`
};
// Committed offsets (OffsetFetch) and lag for `group` on every partition of `topics`, plus
// state and member count from the Admin API where the broker supports it (not the embedded
// broker). Does not join the group.
Result<GroupInfo> DescribeGroup(const BusConfig& config, const std::string& group,
                                const std::vector<std::string>& topics,
                                std::chrono::milliseconds timeout);
// The same on topics listed already (ListTopics: partitions and watermarks), so that describing
// every group of a cluster with many topics costs one OffsetFetch per group, not metadata and
// ListOffsets of every topic per group.
Result<GroupInfo> DescribeGroup(const BusConfig& config, const std::string& group,
                                const std::vector<TopicInfo>& listed,
                                std::chrono::milliseconds timeout);
// Every consumer group on the cluster (Admin API ListGroups), sorted. The embedded broker does
// not support it (an error that is not retryable, returned without asking when
// config.embedded): callers show GaleGroups() instead.
Result<std::vector<std::string>> ListGroups(const BusConfig& config,
                                            std::chrono::milliseconds timeout);

// Reads a topic without joining a consumer group (all partitions assigned, nothing committed).
// Single-threaded.
class Tailer {
 public:
  // Fails if `topic` does not exist. from_beginning=false: only messages produced from now on.
  static Result<std::unique_ptr<Tailer>> Create(
      const BusConfig& config, const std::string& topic, bool from_beginning,
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~Tailer();
  Tailer(const Tailer&) = delete;
  Tailer& operator=(const Tailer&) = delete;

  // The next message (per partition in offset order), or nullopt when none within `timeout`.
  Result<std::optional<Message>> Next(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  explicit Tailer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- message schemas -------------------------------------------------------------------------

// Names of the schemas in schemas/bus/ (gale::schemas::Find("bus/" + name)). Times in bus
// messages are integers: milliseconds since the Unix epoch, UTC.
inline constexpr std::string_view kTriggerInstanceSchema = "trigger_instance";    // gale.triggers
inline constexpr std::string_view kExecutionRequestSchema = "execution_request";  // gale.executions
inline constexpr std::string_view kExecutionEventSchema = "execution_event";  // execution-events
inline constexpr std::string_view kDeadLetterSchema = "dead_letter";          // dead-letters

// Validates a message value against schemas/bus/<schema_name>.json (each schema is compiled
// once). The error lists every violation on one line, "<path>: <reason>; ...", with the
// JSON pointer of each offending value ("/" for the document itself).
Status ValidateMessage(std::string_view schema_name, std::string_view json_text);
// Same for a parsed document (no re-parse when the producer built it as Json).
Status ValidateDocument(std::string_view schema_name, const Json& document);

}  // namespace gale::bus
