// librdkafka helpers for the tests against the real Kafka broker: topics via the Admin API, an
// idempotent producer that records acknowledgements, and a consumer-group member that polls in
// its own thread and commits synchronously.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "services_support.h"

namespace gale::test {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

inline rd_kafka_conf_t* make_conf(const std::map<std::string, std::string>& settings) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : settings) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("librdkafka setting " + k + ": " + err);
    }
  }
  return conf;
}

// Takes ownership of conf.
inline KafkaPtr make_client(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("rd_kafka_new: ") + err);
  }
  return KafkaPtr(rk);
}

// Creates `topic` with the Admin API; returns "" or the error.
inline std::string create_topic(rd_kafka_t* rk, const std::string& topic, int partitions,
                                int replication_factor,
                                const std::map<std::string, std::string>& configs = {}) {
  char err[512];
  rd_kafka_NewTopic_t* nt =
      rd_kafka_NewTopic_new(topic.c_str(), partitions, replication_factor, err, sizeof err);
  if (nt == nullptr) return std::string("NewTopic: ") + err;
  for (const auto& [k, v] : configs) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(opts, 30000, err, sizeof err);
  rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, err, sizeof err);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
  std::string result;
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 60000);
  if (ev == nullptr) {
    result = "CreateTopics: no answer in 60 s";
  } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    result = std::string("CreateTopics: ") + rd_kafka_event_error_string(ev);
  } else {
    size_t n = 0;
    const rd_kafka_topic_result_t** tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; ++i) {
      if (rd_kafka_topic_result_error(tr[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* s = rd_kafka_topic_result_error_string(tr[i]);
        result = std::string("CreateTopics ") + rd_kafka_topic_result_name(tr[i]) + ": " +
                 (s != nullptr ? s : rd_kafka_err2str(rd_kafka_topic_result_error(tr[i])));
      }
    }
  }
  if (ev != nullptr) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy(nt);
  return result;
}

struct PartitionInfo {
  int32_t id = -1;
  int32_t leader = -1;
  int replicas = 0;
  int isrs = 0;
};

struct TopicInfo {
  std::vector<PartitionInfo> partitions;
  std::map<int32_t, std::string> brokers;  // node id -> "host:port"
};

// One metadata request for `topic`; nullopt when it fails or the topic has an error.
inline std::optional<TopicInfo> topic_info(rd_kafka_t* rk, const std::string& topic) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || md == nullptr) return std::nullopt;
  std::optional<TopicInfo> info;
  if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    info.emplace();
    for (int i = 0; i < md->broker_cnt; ++i) {
      info->brokers[md->brokers[i].id] =
          std::string(md->brokers[i].host) + ":" + std::to_string(md->brokers[i].port);
    }
    for (int i = 0; i < md->topics[0].partition_cnt; ++i) {
      const auto& p = md->topics[0].partitions[i];
      info->partitions.push_back({p.id, p.leader, p.replica_cnt, p.isr_cnt});
    }
  }
  rd_kafka_metadata_destroy(md);
  return info;
}

// Waits until `topic` has `partitions` partitions, each with a leader.
inline bool wait_for_topic(rd_kafka_t* rk, const std::string& topic, int partitions,
                           std::chrono::milliseconds timeout) {
  return wait_until(
      timeout,
      [&] {
        auto info = topic_info(rk, topic);
        if (!info || static_cast<int>(info->partitions.size()) != partitions) return false;
        for (const auto& p : info->partitions) {
          if (p.leader < 0) return false;
        }
        return true;
      },
      std::chrono::milliseconds(200));
}

// An idempotent producer that records which message ids the cluster acknowledged.
class AckingProducer {
 public:
  AckingProducer(const std::string& brokers, const std::string& acks,
                 std::map<std::string, std::string> extra = {}) {
    extra["bootstrap.servers"] = brokers;
    extra["acks"] = acks;
    extra["enable.idempotence"] = "true";
    extra["broker.address.family"] = "v4";
    if (!extra.count("message.timeout.ms")) extra["message.timeout.ms"] = "120000";
    if (!extra.count("linger.ms")) extra["linger.ms"] = "5";
    rd_kafka_conf_t* conf = make_conf(extra);
    rd_kafka_conf_set_dr_msg_cb(conf, &AckingProducer::on_delivery);
    rd_kafka_conf_set_opaque(conf, this);
    rk_ = make_client(RD_KAFKA_PRODUCER, conf);
  }

  rd_kafka_t* handle() const { return rk_.get(); }

  // Produces id as key "key-<id>" and value "<id>"; partitioned by key.
  void produce(const std::string& topic, int id) {
    const std::string key = "key-" + std::to_string(id);
    const std::string value = std::to_string(id);
    for (;;) {
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          rk_.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
          RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<intptr_t>(id))), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(err));
      }
      rd_kafka_poll(rk_.get(), 100);
    }
  }

  // Serves delivery reports until nothing is in flight or the timeout passes.
  bool flush(std::chrono::milliseconds timeout) {
    return rd_kafka_flush(rk_.get(), static_cast<int>(timeout.count())) ==
           RD_KAFKA_RESP_ERR_NO_ERROR;
  }

  std::set<int> acked() const {
    std::lock_guard lock(mu_);
    return acked_;
  }
  std::map<int, std::string> failed() const {
    std::lock_guard lock(mu_);
    return failed_;
  }
  std::set<int32_t> partitions_used() const {
    std::lock_guard lock(mu_);
    return partitions_;
  }

 private:
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<AckingProducer*>(opaque);
    const int id = static_cast<int>(reinterpret_cast<intptr_t>(m->_private));
    std::lock_guard lock(self->mu_);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      self->acked_.insert(id);
      self->partitions_.insert(m->partition);
    } else {
      self->failed_[id] = rd_kafka_err2str(m->err);
    }
  }

  mutable std::mutex mu_;
  std::set<int> acked_;
  std::map<int, std::string> failed_;
  std::set<int32_t> partitions_;
  KafkaPtr rk_;
};

// What a group member saw: one record per message handed to the application.
struct Seen {
  int32_t partition;
  int64_t offset;
  int id;
  bool after_takeover;  // seen after the test called mark_phase()
};

// A consumer-group member polling in its own thread. Auto-commit is off: the member commits
// synchronously after processing (every `commit_every` messages, when idle, when partitions are
// revoked, and before it leaves), as Gale's consumers do.
class GroupMember {
 public:
  GroupMember(std::string name, const std::string& brokers, const std::string& group,
              const std::string& topic, int commit_every = 100)
      : name_(std::move(name)), commit_every_(commit_every) {
    rd_kafka_conf_t* conf = make_conf({{"bootstrap.servers", brokers},
                                       {"group.id", group},
                                       {"client.id", name_},
                                       {"enable.auto.commit", "false"},
                                       {"auto.offset.reset", "earliest"},
                                       {"broker.address.family", "v4"},
                                       {"session.timeout.ms", "30000"},
                                       {"heartbeat.interval.ms", "1000"},
                                       {"partition.assignment.strategy", "range"}});
    rd_kafka_conf_set_rebalance_cb(conf, &GroupMember::on_rebalance);
    rd_kafka_conf_set_opaque(conf, this);
    rk_ = make_client(RD_KAFKA_CONSUMER, conf);
    rd_kafka_poll_set_consumer(rk_.get());
    rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
    const rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_.get(), topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error(std::string("subscribe: ") + rd_kafka_err2str(err));
    }
    thread_ = std::thread([this] { run(); });
  }

  ~GroupMember() { leave(); }
  GroupMember(const GroupMember&) = delete;
  GroupMember& operator=(const GroupMember&) = delete;

  // Commits what it processed and leaves the group (rd_kafka_consumer_close); idempotent.
  void leave() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  void mark_phase() { after_takeover_ = true; }

  std::set<int32_t> assignment() const {
    std::lock_guard lock(mu_);
    return assignment_;
  }
  std::vector<Seen> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  size_t seen_count() const {
    std::lock_guard lock(mu_);
    return seen_.size();
  }
  std::vector<std::string> commit_errors() const {
    std::lock_guard lock(mu_);
    return commit_errors_;
  }
  const std::string& name() const { return name_; }

 private:
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<GroupMember*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      {
        std::lock_guard lock(self->mu_);
        self->assignment_.clear();
        for (int i = 0; i < parts->cnt; ++i) self->assignment_.insert(parts->elems[i].partition);
      }
      rd_kafka_assign(rk, parts);
    } else {
      // eager protocol: everything is revoked; commit the processed work first so the next
      // owner of these partitions starts after it
      self->commit();
      {
        std::lock_guard lock(self->mu_);
        self->assignment_.clear();
      }
      rd_kafka_assign(rk, nullptr);
    }
  }

  void commit() {
    if (uncommitted_ == 0) return;
    const rd_kafka_resp_err_t err = rd_kafka_commit(rk_.get(), nullptr, 0);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) {
      uncommitted_ = 0;
    } else {
      std::lock_guard lock(mu_);
      commit_errors_.push_back(rd_kafka_err2str(err));
    }
  }

  void run() {
    while (!stop_) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), 100);
      if (m == nullptr) {
        commit();
        continue;
      }
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const std::string value(static_cast<const char*>(m->payload), m->len);
        std::lock_guard lock(mu_);
        seen_.push_back({m->partition, m->offset, std::stoi(value), after_takeover_.load()});
      }
      rd_kafka_message_destroy(m);
      if (++uncommitted_ >= commit_every_) commit();
    }
    commit();
    rd_kafka_consumer_close(rk_.get());
    rk_.reset();
  }

  std::string name_;
  int commit_every_;
  KafkaPtr rk_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> after_takeover_{false};
  int uncommitted_ = 0;  // only touched by the polling thread (and its rebalance callback)
  mutable std::mutex mu_;
  std::set<int32_t> assignment_;
  std::vector<Seen> seen_;
  std::vector<std::string> commit_errors_;
};

}  // namespace gale::test
