// The embedded broker: librdkafka's mock cluster, which speaks the Kafka protocol on loopback.
#include "host/bus/internal.h"  // rdkafka.h, which rdkafka_mock.h needs first
// clang-format off
#include <librdkafka/rdkafka_mock.h>
// clang-format on

#include <algorithm>

namespace gale::bus {

struct EmbeddedBroker::Impl {
  // The mock cluster runs on this handle's resources: it is created first, destroyed last.
  internal::KafkaPtr rk;
  rd_kafka_mock_cluster_t* cluster = nullptr;
  int brokers = 1;

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
  // The owning handle never connects anywhere; it only hosts the mock cluster's thread.
  internal::ConfPtr conf = internal::LoggingConf();
  if (Status s = internal::Set(conf.get(), "client.id", "gale-embedded-bus"); !s.ok()) return s;
  // Hides the notice that this handle has no bootstrap.servers (it needs none).
  if (Status s = internal::Set(conf.get(), "log_level", "4"); !s.ok()) return s;
  auto rk = internal::NewHandle(RD_KAFKA_PRODUCER, std::move(conf), "embedded");
  if (!rk.ok()) return rk.status();

  auto impl = std::make_unique<Impl>();
  impl->rk = std::move(*rk);
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
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
    return Status::Ok();
  }
  return internal::Error(bootstrap_, "cannot create topic " + name, err);
}

}  // namespace gale::bus
