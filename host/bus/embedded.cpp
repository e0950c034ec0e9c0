// The embedded broker: librdkafka's mock cluster, which speaks the Kafka protocol on loopback.
#include "host/bus/internal.h"  // rdkafka.h, which rdkafka_mock.h needs first
// clang-format off
#include <librdkafka/rdkafka_mock.h>
// clang-format on

#include <algorithm>
#include <cstring>
#include <thread>

#include "host/bus/embedded_log.h"

namespace gale::bus {

namespace {

constexpr int16_t kProduceApiKey = 0;  // Kafka's ProduceRequest

// The mock cluster's debug lines feed its MockLog (the handle's opaque); other lines go to
// spdlog from warnings up, as before debug was on.
void MockLogCallback(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
  if (level >= 7) {
    if (std::strcmp(facility, "MOCK") == 0) {
      static_cast<internal::MockLog*>(rd_kafka_opaque(rk))->OnDebugLine(text);
    }
    return;
  }
  if (level <= 4) internal::LogCallback(rk, level, facility, text);
}

}  // namespace

struct EmbeddedBroker::Impl {
  internal::MockLog log;  // outlives rk, whose log callback writes to it
  // The mock cluster runs on this handle's resources: it is created first, destroyed last.
  internal::KafkaPtr rk;
  rd_kafka_mock_cluster_t* cluster = nullptr;
  int brokers = 1;

  // Never held across a call that waits for the mock cluster's thread, which calls
  // HoldProduce from its log callback (MockLog::Watch).
  std::mutex mu;
  std::map<std::string, int32_t> leaders;  // topic -> broker id (all its partitions)
  int topics_created = 0;
  std::mutex hold_mu;
  std::map<int32_t, size_t> hold_left;  // broker id -> its Produce errors left after HoldProduce

  ~Impl() {
    if (cluster != nullptr) rd_kafka_mock_cluster_destroy(cluster);
  }
};

EmbeddedBroker::EmbeddedBroker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(impl_->cluster);
}

EmbeddedBroker::~EmbeddedBroker() = default;

Result<std::unique_ptr<EmbeddedBroker>> EmbeddedBroker::Start(int brokers) {
  if (brokers < 1) return Status::Error("embedded bus: need at least one broker");
  auto impl = std::make_unique<Impl>();
  // The owning handle never connects anywhere; it only hosts the mock cluster's thread. Its
  // "mock" debug lines are how Retention() learns what each partition retains.
  internal::ConfPtr conf = internal::LoggingConf();
  rd_kafka_conf_set_log_cb(conf.get(), MockLogCallback);
  rd_kafka_conf_set_opaque(conf.get(), &impl->log);
  GALE_TRY(internal::Set(conf.get(), "client.id", "gale-embedded-bus"));
  GALE_TRY(internal::Set(conf.get(), "debug", "mock"));
  GALE_ASSIGN_OR_RETURN(auto rk,
                        internal::NewHandle(RD_KAFKA_PRODUCER, std::move(conf), "embedded"));

  impl->rk = std::move(rk);
  impl->brokers = brokers;
  impl->cluster = rd_kafka_mock_cluster_new(impl->rk.get(), brokers);
  if (impl->cluster == nullptr) {
    return Status::Error("embedded bus: cannot start the mock cluster (see the kafka log)");
  }
  return std::unique_ptr<EmbeddedBroker>(new EmbeddedBroker(std::move(impl)));
}

Status EmbeddedBroker::CreateTopic(const std::string& name, int partitions) {
  if (partitions < 1) {
    return Status::Error("embedded bus: topic " + name + ": partitions must be >= 1");
  }
  rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(impl_->cluster, name.c_str(), partitions,
                                                       std::min(3, impl_->brokers));
  if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) return Status::Ok();
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return internal::Error(bootstrap_, "cannot create topic " + name, err);
  }
  int32_t leader = 1;
  {
    std::lock_guard lock(impl_->mu);
    leader = impl_->topics_created++ % impl_->brokers + 1;
    impl_->leaders[name] = leader;
  }
  if (impl_->brokers > 1) {
    // Each call waits for the mock cluster's thread, which in librdkafka 2.0 may serve it only
    // at its next timer (up to 1 s): one thread per partition, so that they wait together.
    std::vector<rd_kafka_resp_err_t> errs(partitions, RD_KAFKA_RESP_ERR_NO_ERROR);
    std::vector<std::thread> threads;
    for (int32_t p = 0; p < partitions; ++p) {
      threads.emplace_back([&, p] {
        errs[p] = rd_kafka_mock_partition_set_leader(impl_->cluster, name.c_str(), p, leader);
      });
    }
    for (auto& t : threads) t.join();
    for (rd_kafka_resp_err_t e : errs) {
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return internal::Error(bootstrap_, "cannot place topic " + name, e);
      }
    }
  }
  impl_->log.AddTopic(name, partitions);
  return Status::Ok();
}

std::vector<RetentionUse> EmbeddedBroker::Retention(const std::vector<GroupTopics>& groups) const {
  return impl_->log.Use(groups);
}

void EmbeddedBroker::WatchRetention(std::vector<GroupTopics> groups, double hold_at) {
  impl_->log.Watch(std::move(groups), hold_at,
                   [this](const std::string& topic) { HoldProduce(topic); });
}

void EmbeddedBroker::HoldProduce(const std::string& topic, std::chrono::milliseconds delay) {
  int32_t broker = 0;
  {
    std::lock_guard lock(impl_->mu);
    auto leader = impl_->leaders.find(topic);
    if (leader == impl_->leaders.end()) return;
    broker = leader->second;
  }
  // The mock functions below take only the cluster's own lock, never wait for its thread.
  std::lock_guard lock(impl_->hold_mu);
  size_t left = 0;
  if (rd_kafka_mock_broker_error_stack_cnt(impl_->cluster, broker, kProduceApiKey, &left) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    left = 0;
  }
  // Refill to twice what producers used since the last call (at least 16), so that the errors
  // do not run out between calls, and few are left to delay producers once the hold ends.
  size_t& last = impl_->hold_left[broker];
  const size_t used = last > left ? last - left : 0;
  const size_t want = std::max<size_t>(16, 2 * used);
  for (; left < want; ++left) {
    rd_kafka_mock_broker_push_request_error_rtts(impl_->cluster, broker, kProduceApiKey, 1,
                                                 RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                                 static_cast<int>(delay.count()));
  }
  last = left;
}

}  // namespace gale::bus
