// Client configuration, error classification, logging and metadata helpers shared by the
// producer, consumer and inspection code.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <thread>

#include "host/bus/internal.h"

namespace gale::bus {

std::string Topic(const BusConfig& config, std::string_view suffix) {
  return config.topic_prefix + std::string(suffix);
}

std::string Group(const BusConfig& config, std::string_view suffix) {
  return config.topic_prefix + std::string(suffix);
}

std::vector<GroupTopics> GaleGroups(const BusConfig& config) {
  return {{Group(config, kRulesGroup), {Topic(config, kTriggers)}},
          {Group(config, kRunnersGroup), {Topic(config, kExecutions)}},
          {Group(config, kSensorOwnersGroup), {Topic(config, kSensorOwners)}}};
}

namespace internal {

void KafkaDeleter::operator()(rd_kafka_t* rk) const {
  rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

// librdkafka's syslog levels to spdlog. Connection failures come at LOG_ERR but are transient
// (librdkafka reconnects), so they are warnings for Gale.
void LogCallback(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
  try {
    spdlog::level::level_enum l = spdlog::level::debug;
    if (level <= 2) {
      l = spdlog::level::err;
    } else if (level <= 4) {
      l = spdlog::level::warn;
    } else if (level <= 6) {
      l = spdlog::level::info;
    }
    spdlog::log(l, "kafka {} {}: {}", rk ? rd_kafka_name(rk) : "-", facility, text);
  } catch (...) {
  }
}

namespace {

void ErrorCallback(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  if (opaque == nullptr) return;
  static_cast<HandleContext*>(opaque)->OnError(rk, err, reason);
}

}  // namespace

void HandleContext::OnError(rd_kafka_t* rk, int err, const char* reason) {
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  std::string text = reason ? reason : rd_kafka_err2str(code);
  std::optional<Status> severe;
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[512] = {0};
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
    text = std::string("fatal error: ") + buf + " (" + rd_kafka_err2name(orig) + ")";
    severe = Error(brokers_, "client must be recreated", text, false);
    spdlog::error("kafka {}: {}", rd_kafka_name(rk), text);
  } else if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    severe = Error(brokers_, "all brokers are down", text, true);
    spdlog::warn("kafka {}: all brokers are down: {}", rd_kafka_name(rk), text);
  } else if (code == RD_KAFKA_RESP_ERR__AUTHENTICATION || code == RD_KAFKA_RESP_ERR__SSL) {
    severe = Error(brokers_, "cannot connect", text, false);
  } else {
    spdlog::debug("kafka {}: {}", rd_kafka_name(rk), text);
  }
  std::lock_guard lock(mu_);
  // "1/1 brokers are down" says less than the connection error before it.
  if (code != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || last_error_.empty()) last_error_ = text;
  if (severe) severe_ = std::move(severe);
}

std::string HandleContext::LastErrorSuffix() const {
  std::lock_guard lock(mu_);
  if (last_error_.empty()) return "";
  return " (last broker error: " + last_error_ + ")";
}

std::optional<Status> HandleContext::TakeSevereError() {
  std::lock_guard lock(mu_);
  std::optional<Status> s = std::move(severe_);
  severe_.reset();
  return s;
}

Status Set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char errstr[512] = {0};
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
      RD_KAFKA_CONF_OK) {
    return Status::Error("bus: property " + name + "=" + value + ": " + errstr);
  }
  return Status::Ok();
}

ConfPtr LoggingConf() {
  ConfPtr conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
  return conf;
}

Result<ConfPtr> MakeConf(const BusConfig& config, Role role, HandleContext* context) {
  if (config.brokers.empty()) {
    return Status::Error(
        "bus: no brokers configured (bus.brokers, GALE_KAFKA_BROKERS or the "
        "embedded broker's bus.addr)");
  }
  ConfPtr conf = LoggingConf();
  std::map<std::string, std::string> props = {
      {"bootstrap.servers", config.brokers},
      {"client.id", config.client_id},
      {"socket.nagle.disable", "true"},
      // Idle connections closed by the broker are normal; librdkafka reconnects.
      {"log.connection.close", "false"},
  };
  switch (role) {
    case Role::kProducer:
      props["enable.idempotence"] = "true";
      props["acks"] = "all";
      props["linger.ms"] = "1";
      props["message.timeout.ms"] = "30000";
      break;
    case Role::kConsumer:
      props["enable.auto.commit"] = "false";
      props["enable.auto.offset.store"] = "false";
      props["enable.partition.eof"] = "false";
      props["fetch.wait.max.ms"] = config.embedded ? "5" : "100";
      props["session.timeout.ms"] = "10000";
      props["heartbeat.interval.ms"] = "1000";
      break;
    case Role::kAdmin:
      break;
  }
  for (const auto& [key, value] : config.properties) {
    static constexpr std::string_view kProducerPrefix = "producer.";
    static constexpr std::string_view kConsumerPrefix = "consumer.";
    std::string_view k = key;
    if (k.starts_with(kProducerPrefix)) {
      if (role == Role::kProducer) props[std::string(k.substr(kProducerPrefix.size()))] = value;
    } else if (k.starts_with(kConsumerPrefix)) {
      if (role == Role::kConsumer) props[std::string(k.substr(kConsumerPrefix.size()))] = value;
    } else {
      props[key] = value;
    }
  }
  for (const auto& [key, value] : props) {
    GALE_TRY(Set(conf.get(), key, value));
  }
  rd_kafka_conf_set_error_cb(conf.get(), ErrorCallback);
  rd_kafka_conf_set_opaque(conf.get(), context);
  return conf;
}

Result<KafkaPtr> NewHandle(rd_kafka_type_t type, ConfPtr conf, const std::string& brokers) {
  char errstr[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    return Status::Error("bus " + brokers + ": cannot create client: " + errstr);
  }
  conf.release();  // now owned by rk
  return KafkaPtr(rk);
}

bool IsRetryable(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__NODE_UPDATE:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__WAIT_CACHE:
    case RD_KAFKA_RESP_ERR__OUTDATED:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_FETCH_SESSION_ID_NOT_FOUND:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
      return true;
    default:
      return false;
  }
}

Status Error(const std::string& brokers, const std::string& what, const std::string& detail,
             bool retryable) {
  return Status::Error("bus " + brokers + ": " + what + ": " + detail, retryable);
}

Status Error(const std::string& brokers, const std::string& what, rd_kafka_resp_err_t err) {
  return Error(brokers, what,
               std::string(rd_kafka_err2str(err)) + " (" + rd_kafka_err2name(err) + ")",
               IsRetryable(err));
}

Status Error(const std::string& brokers, const std::string& what, rd_kafka_error_t* error) {
  rd_kafka_resp_err_t code = rd_kafka_error_code(error);
  bool retryable = rd_kafka_error_is_retriable(error) || IsRetryable(code);
  if (rd_kafka_error_is_fatal(error)) retryable = false;
  std::string text =
      std::string(rd_kafka_error_string(error)) + " (" + rd_kafka_err2name(code) + ")";
  rd_kafka_error_destroy(error);
  return Error(brokers, what, text, retryable);
}

int ToMs(std::chrono::milliseconds d) {
  if (d.count() < 0) return 0;
  if (d.count() > 24LL * 3600 * 1000) return 24 * 3600 * 1000;
  return static_cast<int>(d.count());
}

int RemainingMs(std::chrono::steady_clock::time_point deadline) {
  return ToMs(std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now()));
}

Result<std::vector<TopicInfo>> Metadata(rd_kafka_t* rk, const std::string& brokers,
                                        const std::vector<std::string>& topics,
                                        std::chrono::steady_clock::time_point deadline) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &md, RemainingMs(deadline));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_poll(rk, 0);  // serves the error callback, for LastErrorSuffix()
    auto* ctx = static_cast<HandleContext*>(rd_kafka_opaque(rk));
    Status s = Error(brokers, "cannot read topic metadata", err);
    return ctx ? Status::Error(s.message() + ctx->LastErrorSuffix(), s.retryable()) : s;
  }
  std::vector<TopicInfo> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    std::string name = t.topic;
    if (topics.empty() ? name.starts_with("__")
                       : std::find(topics.begin(), topics.end(), name) == topics.end()) {
      continue;
    }
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) continue;
    TopicInfo info{name, {}};
    for (int p = 0; p < t.partition_cnt; ++p) {
      info.partitions.push_back({t.partitions[p].id, t.partitions[p].leader, -1, -1});
    }
    std::sort(info.partitions.begin(), info.partitions.end(),
              [](const PartitionInfo& a, const PartitionInfo& b) { return a.id < b.id; });
    out.push_back(std::move(info));
  }
  rd_kafka_metadata_destroy(md);
  std::sort(out.begin(), out.end(),
            [](const TopicInfo& a, const TopicInfo& b) { return a.name < b.name; });
  return out;
}

Status Watermarks(rd_kafka_t* rk, const std::string& brokers, std::vector<TopicInfo>& topics,
                  std::chrono::steady_clock::time_point deadline) {
  // ListOffsets with the special timestamps -2 (earliest) and -1 (latest): one request per
  // leader for all partitions instead of two per partition. A partition whose leader is moving
  // (e.g. a topic just created) answers NOT_LEADER for a moment: retried until the deadline,
  // after which such partitions keep -1 rather than failing the whole listing.
  for (int64_t which : {RD_KAFKA_OFFSET_BEGINNING, RD_KAFKA_OFFSET_END}) {
    std::map<std::pair<std::string, int32_t>, int64_t> found;
    for (;;) {
      ListPtr list(rd_kafka_topic_partition_list_new(8));
      for (const TopicInfo& t : topics) {
        for (const PartitionInfo& p : t.partitions) {
          if (found.count({t.name, p.id})) continue;
          rd_kafka_topic_partition_list_add(list.get(), t.name.c_str(), p.id)->offset = which;
        }
      }
      if (list->cnt == 0) break;
      rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, list.get(), RemainingMs(deadline));
      rd_kafka_resp_err_t first = err;
      for (int i = 0; i < list->cnt; ++i) {
        const rd_kafka_topic_partition_t& e = list->elems[i];
        if (e.err == RD_KAFKA_RESP_ERR_NO_ERROR && e.offset >= 0) {
          found[{e.topic, e.partition}] = e.offset;
        } else if (first == RD_KAFKA_RESP_ERR_NO_ERROR) {
          first = e.err != RD_KAFKA_RESP_ERR_NO_ERROR ? e.err : RD_KAFKA_RESP_ERR__NO_OFFSET;
        }
      }
      if (first == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (first == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        // A topic deleted after the metadata was read (another tool's, or a test's) fails the
        // whole request on every retry: read the metadata again and list only what still exists.
        std::vector<std::string> names;
        for (const TopicInfo& t : topics) names.push_back(t.name);
        auto now = Metadata(rk, brokers, names, deadline);
        if (now.ok() && now->size() < topics.size()) {
          std::erase_if(topics, [&](const TopicInfo& t) {
            return std::none_of(now->begin(), now->end(),
                                [&](const TopicInfo& n) { return n.name == t.name; });
          });
          continue;
        }
      }
      const bool time_left =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(100) < deadline;
      if (!IsRetryable(first) || !time_left) {
        if (found.empty()) return Error(brokers, "cannot read partition offsets", first);
        spdlog::warn("bus {}: offsets of {} partition(s) unknown: {}", brokers,
                     list->cnt - static_cast<int>(found.size()), rd_kafka_err2str(first));
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (TopicInfo& t : topics) {
      for (PartitionInfo& p : t.partitions) {
        auto it = found.find({t.name, p.id});
        if (it == found.end()) continue;
        (which == RD_KAFKA_OFFSET_BEGINNING ? p.low : p.high) = it->second;
      }
    }
  }
  return Status::Ok();
}

Message ToMessage(const rd_kafka_message_t* rkm) {
  Message m;
  if (rkm->rkt) m.topic = rd_kafka_topic_name(rkm->rkt);
  m.partition = rkm->partition;
  m.offset = rkm->offset;
  if (rkm->key) m.key.assign(static_cast<const char*>(rkm->key), rkm->key_len);
  if (rkm->payload) m.value.assign(static_cast<const char*>(rkm->payload), rkm->len);
  rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  int64_t ts = rd_kafka_message_timestamp(rkm, &type);
  m.timestamp_ms = type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? 0 : ts;
  return m;
}

}  // namespace internal
}  // namespace gale::bus
