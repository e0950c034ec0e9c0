// Topic setup (EnsureTopics) and listing.
#include <spdlog/spdlog.h>

#include <thread>

#include "host/bus/internal.h"

namespace gale::bus {

namespace {

struct Admin {
  internal::HandleContext context;
  internal::KafkaPtr rk;
  explicit Admin(std::string brokers) : context(std::move(brokers)) {}
};

Result<std::unique_ptr<Admin>> NewAdmin(const BusConfig& config, internal::Role role,
                                        rd_kafka_type_t type) {
  auto admin = std::make_unique<Admin>(config.brokers);
  GALE_ASSIGN_OR_RETURN(auto conf, internal::MakeConf(config, role, &admin->context));
  GALE_ASSIGN_OR_RETURN(auto rk, internal::NewHandle(type, std::move(conf), config.brokers));
  admin->rk = std::move(rk);
  return admin;
}

struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* t) const { rd_kafka_NewTopic_destroy(t); }
};
struct OptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};

// CreateTopics through the Admin API; topics that exist already are fine.
Status CreateTopics(Admin& admin, const std::vector<std::pair<std::string, int>>& topics,
                    int replication_factor, std::chrono::steady_clock::time_point deadline) {
  const std::string& brokers = admin.context.brokers();
  char errstr[512] = {0};
  std::vector<std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter>> owned;
  std::vector<rd_kafka_NewTopic_t*> raw;
  for (const auto& [name, partitions] : topics) {
    rd_kafka_NewTopic_t* t =
        rd_kafka_NewTopic_new(name.c_str(), partitions, replication_factor, errstr, sizeof(errstr));
    if (t == nullptr) return Status::Error("bus: topic " + name + ": " + errstr);
    owned.emplace_back(t);
    raw.push_back(t);
  }
  std::unique_ptr<rd_kafka_AdminOptions_t, OptionsDeleter> options(
      rd_kafka_AdminOptions_new(admin.rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
  int ms = std::max(1, internal::RemainingMs(deadline));
  rd_kafka_AdminOptions_set_request_timeout(options.get(), ms, errstr, sizeof(errstr));
  rd_kafka_AdminOptions_set_operation_timeout(options.get(), ms, errstr, sizeof(errstr));
  internal::QueuePtr queue(rd_kafka_queue_new(admin.rk.get()));
  rd_kafka_CreateTopics(admin.rk.get(), raw.data(), raw.size(), options.get(), queue.get());
  internal::EventPtr ev(rd_kafka_queue_poll(queue.get(), ms + 1000));
  rd_kafka_poll(admin.rk.get(), 0);  // serves the error callback, for LastErrorSuffix()
  if (!ev) {
    return internal::Error(
        brokers, "cannot create topics",
        "no answer within " + std::to_string(ms) + " ms" + admin.context.LastErrorSuffix(), true);
  }
  if (rd_kafka_resp_err_t err = rd_kafka_event_error(ev.get())) {
    return internal::Error(
        brokers, "cannot create topics",
        std::string(rd_kafka_event_error_string(ev.get())) + admin.context.LastErrorSuffix(),
        internal::IsRetryable(err));
  }
  size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &count);
  for (size_t i = 0; i < count; ++i) {
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      continue;
    }
    const char* text = rd_kafka_topic_result_error_string(results[i]);
    return internal::Error(
        brokers, std::string("cannot create topic ") + rd_kafka_topic_result_name(results[i]),
        std::string(text ? text : rd_kafka_err2str(err)) + " (" + rd_kafka_err2name(err) + ")",
        internal::IsRetryable(err));
  }
  return Status::Ok();
}

}  // namespace

Status EnsureTopics(const BusConfig& config, EmbeddedBroker* embedded, int sensor_owner_slots,
                    std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (config.partitions < 1 || sensor_owner_slots < 1 || config.replication_factor < 1) {
    return Status::Error("bus: partitions, sensor owner slots and replication factor must be >= 1");
  }
  BusConfig c = config;
  if (embedded != nullptr && c.brokers.empty()) c.brokers = embedded->bootstrap();
  const std::vector<std::pair<std::string, int>> wanted = {
      {Topic(c, kTriggers), c.partitions},
      {Topic(c, kExecutions), c.partitions},
      {Topic(c, kExecutionEvents), c.partitions},
      {Topic(c, kSensorOwners), sensor_owner_slots},
      {Topic(c, kDeadLetters), 1},
  };
  GALE_ASSIGN_OR_RETURN(auto admin, NewAdmin(c, internal::Role::kAdmin, RD_KAFKA_PRODUCER));
  if (embedded != nullptr) {
    // Together: each CreateTopic waits for the mock cluster's thread to place its partitions.
    std::vector<Status> created(wanted.size(), Status::Ok());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < wanted.size(); ++i) {
      threads.emplace_back(
          [&, i] { created[i] = embedded->CreateTopic(wanted[i].first, wanted[i].second); });
    }
    for (auto& t : threads) t.join();
    for (const Status& s : created) {
      if (!s.ok()) return s;
    }
  } else {
    // Only what is missing is created: joining a deployment needs no create rights, and works
    // against brokers without the CreateTopics API (another node's embedded bus).
    std::vector<std::pair<std::string, int>> missing = wanted;
    std::vector<std::string> names;
    for (const auto& w : wanted) names.push_back(w.first);
    auto md = internal::Metadata(
        admin->rk.get(), c.brokers, names,
        std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(5)));
    if (md.ok()) {
      std::erase_if(missing, [&](const auto& w) {
        return std::any_of(md->begin(), md->end(), [&](const TopicInfo& t) {
          return t.name == w.first && !t.partitions.empty();
        });
      });
    }
    if (!missing.empty()) {
      GALE_TRY(CreateTopics(*admin, missing, c.replication_factor, deadline));
    }
  }

  // Wait until every topic is in the metadata with a leader for each partition, so that the
  // first produce does not race topic creation.
  std::vector<std::string> names;
  for (const auto& w : wanted) names.push_back(w.first);
  Status last = Status::Ok();
  for (;;) {
    auto md = internal::Metadata(admin->rk.get(), c.brokers, names, deadline);
    if (md.ok()) {
      std::string missing;
      for (const auto& [name, partitions] : wanted) {
        auto it = std::find_if(md->begin(), md->end(),
                               // Init-capture: clang before 16 cannot capture a binding.
                               [&topic = name](const TopicInfo& t) { return t.name == topic; });
        bool ready = it != md->end() && !it->partitions.empty() &&
                     std::all_of(it->partitions.begin(), it->partitions.end(),
                                 [](const PartitionInfo& p) { return p.leader >= 0; });
        if (!ready) {
          missing += (missing.empty() ? "" : ", ") + name;
        } else if (static_cast<int>(it->partitions.size()) != partitions) {
          spdlog::warn("bus {}: topic {} has {} partitions, configured {}; left as it is",
                       c.brokers, name, it->partitions.size(), partitions);
        }
      }
      if (missing.empty()) return Status::Ok();
      last = internal::Error(c.brokers,
                             "topics not ready within " + std::to_string(timeout.count()) + " ms",
                             missing, true);
    } else {
      last = md.status();
    }
    if (std::chrono::steady_clock::now() + std::chrono::milliseconds(100) >= deadline) {
      return last;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Result<std::vector<TopicInfo>> ListTopics(const BusConfig& config,
                                          std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  GALE_ASSIGN_OR_RETURN(auto admin, NewAdmin(config, internal::Role::kAdmin, RD_KAFKA_PRODUCER));
  GALE_ASSIGN_OR_RETURN(auto topics,
                        internal::Metadata(admin->rk.get(), config.brokers, {}, deadline));
  GALE_TRY(internal::Watermarks(admin->rk.get(), config.brokers, topics, deadline));
  return topics;
}

}  // namespace gale::bus
