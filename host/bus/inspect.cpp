// Consumer group inspection and the Tailer, for `gale topics groups|tail`.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <random>
#include <thread>

#include "host/bus/internal.h"

namespace gale::bus {

namespace {

struct Client {
  internal::HandleContext context;
  internal::KafkaPtr rk;
  explicit Client(std::string brokers) : context(std::move(brokers)) {}
};

// A consumer-type client; with `group_id` it can fetch that group's committed offsets without
// joining it (nothing is ever subscribed).
Result<std::unique_ptr<Client>> NewClient(const BusConfig& config, const std::string& group_id) {
  auto client = std::make_unique<Client>(config.brokers);
  GALE_ASSIGN_OR_RETURN(auto conf,
                        internal::MakeConf(config, internal::Role::kConsumer, &client->context));
  if (!group_id.empty()) {
    GALE_TRY(internal::Set(conf.get(), "group.id", group_id));
  }
  GALE_ASSIGN_OR_RETURN(auto rk,
                        internal::NewHandle(RD_KAFKA_CONSUMER, std::move(conf), config.brokers));
  client->rk = std::move(rk);
  return client;
}

struct OptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};

// Runs one Admin API call and waits for its result event (nullptr on timeout).
template <class Start>
internal::EventPtr AdminCall(rd_kafka_t* rk, rd_kafka_admin_op_t op,
                             std::chrono::steady_clock::time_point deadline, Start start) {
  char errstr[256] = {0};
  std::unique_ptr<rd_kafka_AdminOptions_t, OptionsDeleter> options(
      rd_kafka_AdminOptions_new(rk, op));
  int ms = std::max(1, internal::RemainingMs(deadline));
  rd_kafka_AdminOptions_set_request_timeout(options.get(), ms, errstr, sizeof(errstr));
  internal::QueuePtr queue(rd_kafka_queue_new(rk));
  start(options.get(), queue.get());
  return internal::EventPtr(rd_kafka_queue_poll(queue.get(), ms + 1000));
}

// ListConsumerGroups on `rk`.
Result<std::vector<std::string>> ListGroupsOn(rd_kafka_t* rk, const std::string& brokers,
                                              std::chrono::steady_clock::time_point deadline) {
  internal::EventPtr ev = AdminCall(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, deadline,
                                    [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                                      rd_kafka_ListConsumerGroups(rk, o, q);
                                    });
  rd_kafka_poll(rk, 0);  // serves the error callback, for LastErrorSuffix()
  if (!ev) {
    return internal::Error(brokers, "cannot list consumer groups", "no answer in time", true);
  }
  if (rd_kafka_resp_err_t err = rd_kafka_event_error(ev.get())) {
    return internal::Error(
        brokers, "cannot list consumer groups",
        std::string(rd_kafka_event_error_string(ev.get())) + " (" + rd_kafka_err2name(err) + ")",
        internal::IsRetryable(err));
  }
  const rd_kafka_ListConsumerGroups_result_t* result =
      rd_kafka_event_ListConsumerGroups_result(ev.get());
  size_t n_errors = 0;
  const rd_kafka_error_t** errors = rd_kafka_ListConsumerGroups_result_errors(result, &n_errors);
  size_t n = 0;
  const rd_kafka_ConsumerGroupListing_t** groups =
      rd_kafka_ListConsumerGroups_result_valid(result, &n);
  if (n == 0 && n_errors > 0) {
    rd_kafka_resp_err_t err = rd_kafka_error_code(errors[0]);
    return internal::Error(
        brokers, "cannot list consumer groups",
        std::string(rd_kafka_error_string(errors[0])) + " (" + rd_kafka_err2name(err) + ")",
        internal::IsRetryable(err));
  }
  for (size_t i = 0; i < n_errors; ++i) {
    spdlog::warn("bus {}: listing consumer groups: {}", brokers, rd_kafka_error_string(errors[i]));
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(rd_kafka_ConsumerGroupListing_group_id(groups[i]));
  std::sort(out.begin(), out.end());
  return out;
}

std::string RandomHex() {
  std::random_device rd;
  std::uniform_int_distribution<uint64_t> dist;
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(dist(rd)));
  return buf;
}

// The group's committed offsets on `topics`' partitions ((topic, partition) -> offset; absent:
// none). A real cluster answers ListConsumerGroupOffsets with the partitions the group committed
// (few); the embedded broker has no Admin API, and its groups read few topics, so it is asked
// for every partition of `topics` (OffsetFetch, whose answer librdkafka merges into the request
// with a search per partition: quadratic in partitions, which a cluster of many topics feels).
Result<std::map<std::pair<std::string, int32_t>, int64_t>> CommittedOffsets(
    Client& client, const BusConfig& config, const std::string& group,
    const std::vector<TopicInfo>& topics, std::chrono::steady_clock::time_point deadline) {
  rd_kafka_t* rk = client.rk.get();
  std::map<std::pair<std::string, int32_t>, int64_t> out;
  auto keep = [&](const rd_kafka_topic_partition_list_t* parts) {
    for (int i = 0; parts != nullptr && i < parts->cnt; ++i) {
      const rd_kafka_topic_partition_t& e = parts->elems[i];
      if (e.err == RD_KAFKA_RESP_ERR_NO_ERROR && e.offset >= 0) {
        out[{e.topic, e.partition}] = e.offset;
      }
    }
  };
  if (!config.embedded) {
    // One ListConsumerGroupOffsets; a retryable answer (the coordinator still loading, on a
    // broker just started) is asked again until the deadline, as rd_kafka_committed() does.
    auto fetch = [&]() -> Status {
      rd_kafka_ListConsumerGroupOffsets_t* request =
          rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), nullptr);
      internal::EventPtr ev = AdminCall(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, deadline,
                                        [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                                          rd_kafka_ListConsumerGroupOffsets(rk, &request, 1, o, q);
                                        });
      rd_kafka_ListConsumerGroupOffsets_destroy(request);
      const std::string what = "group " + group + ": cannot fetch offsets";
      if (!ev) return internal::Error(config.brokers, what, "no answer in time", true);
      if (rd_kafka_resp_err_t err = rd_kafka_event_error(ev.get())) {
        return internal::Error(config.brokers, what,
                               std::string(rd_kafka_event_error_string(ev.get())) + " (" +
                                   rd_kafka_err2name(err) + ")",
                               internal::IsRetryable(err));
      }
      size_t n = 0;
      const rd_kafka_group_result_t** groups = rd_kafka_ListConsumerGroupOffsets_result_groups(
          rd_kafka_event_ListConsumerGroupOffsets_result(ev.get()), &n);
      if (n == 1) {
        if (const rd_kafka_error_t* e = rd_kafka_group_result_error(groups[0])) {
          return internal::Error(config.brokers, what, rd_kafka_error_string(e),
                                 internal::IsRetryable(rd_kafka_error_code(e)));
        }
        keep(rd_kafka_group_result_partitions(groups[0]));
      }
      return Status::Ok();
    };
    for (;;) {
      Status s = fetch();
      if (s.ok()) return out;
      if (!s.retryable() || internal::RemainingMs(deadline) <= 100) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  internal::ListPtr list(rd_kafka_topic_partition_list_new(8));
  for (const TopicInfo& t : topics) {
    for (const PartitionInfo& p : t.partitions) {
      rd_kafka_topic_partition_list_add(list.get(), t.name.c_str(), p.id);
    }
  }
  if (list->cnt == 0) return out;
  rd_kafka_resp_err_t err = rd_kafka_committed(rk, list.get(), internal::RemainingMs(deadline));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_poll(rk, 0);  // serves the error callback, for LastErrorSuffix()
    Status s = internal::Error(config.brokers, "group " + group + ": cannot fetch offsets", err);
    return Status::Error(s.message() + client.context.LastErrorSuffix(), s.retryable());
  }
  keep(list.get());
  return out;
}

}  // namespace

// DescribeGroup on `client` (a consumer handle with the group's id) and `topics` listed already.
static Result<GroupInfo> DescribeOn(Client& client, const BusConfig& config,
                                    const std::string& group, const std::vector<TopicInfo>& topics,
                                    std::chrono::steady_clock::time_point deadline) {
  rd_kafka_t* rk = client.rk.get();

  GroupInfo info{group, "", -1, {}};
  GALE_ASSIGN_OR_RETURN(auto committed, CommittedOffsets(client, config, group, topics, deadline));
  for (const TopicInfo& t : topics) {
    for (const PartitionInfo& p : t.partitions) {
      auto it = committed.find({t.name, p.id});
      const int64_t at = it == committed.end() ? -1 : it->second;
      const int64_t from = at >= 0 ? std::max(at, p.low) : p.low;
      info.partitions.push_back({t.name, p.id, at, p.high, std::max<int64_t>(0, p.high - from)});
    }
  }

  // State and members: the Admin API, which the embedded broker does not support. There
  // librdkafka 2.0.2 leaks an object per ListConsumerGroups and hangs in rd_kafka_destroy()
  // after a DescribeConsumerGroups, so neither is sent to a broker marked `embedded`, and
  // DescribeConsumerGroups only after ListConsumerGroups worked.
  if (config.embedded) return info;
  auto listed = ListGroupsOn(rk, config.brokers, deadline);
  if (!listed.ok()) {
    spdlog::debug("{}", listed.message());
    return info;
  }
  const char* groups[] = {group.c_str()};
  internal::EventPtr ev = AdminCall(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, deadline,
                                    [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                                      rd_kafka_DescribeConsumerGroups(rk, groups, 1, o, q);
                                    });
  if (!ev) {
    spdlog::debug("bus {}: group {}: DescribeConsumerGroups timed out", config.brokers, group);
  } else if (rd_kafka_event_error(ev.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::debug("bus {}: group {}: DescribeConsumerGroups: {}", config.brokers, group,
                  rd_kafka_event_error_string(ev.get()));
  } else {
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t** d = rd_kafka_DescribeConsumerGroups_result_groups(
        rd_kafka_event_DescribeConsumerGroups_result(ev.get()), &n);
    if (n == 1 && rd_kafka_ConsumerGroupDescription_error(d[0]) == nullptr) {
      info.state =
          rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(d[0]));
      info.members = static_cast<int>(rd_kafka_ConsumerGroupDescription_member_count(d[0]));
    } else if (n == 1) {
      spdlog::debug("bus {}: group {}: DescribeConsumerGroups: {}", config.brokers, group,
                    rd_kafka_error_string(rd_kafka_ConsumerGroupDescription_error(d[0])));
    }
  }
  return info;
}

Result<GroupInfo> DescribeGroup(const BusConfig& config, const std::string& group,
                                const std::vector<std::string>& topics,
                                std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (group.empty()) return Status::Error("bus: DescribeGroup needs a group id");
  GALE_ASSIGN_OR_RETURN(auto client, NewClient(config, group));  // one handle for all of it
  std::vector<TopicInfo> listed;
  if (!topics.empty()) {
    GALE_ASSIGN_OR_RETURN(listed,
                          internal::Metadata(client->rk.get(), config.brokers, topics, deadline));
    GALE_TRY(internal::Watermarks(client->rk.get(), config.brokers, listed, deadline));
  }
  return DescribeOn(*client, config, group, listed, deadline);
}

Result<GroupInfo> DescribeGroup(const BusConfig& config, const std::string& group,
                                const std::vector<TopicInfo>& topics,
                                std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (group.empty()) return Status::Error("bus: DescribeGroup needs a group id");
  GALE_ASSIGN_OR_RETURN(auto client, NewClient(config, group));
  return DescribeOn(*client, config, group, topics, deadline);
}

Result<std::vector<std::string>> ListGroups(const BusConfig& config,
                                            std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (config.embedded) {
    return Status::Error("bus " + config.brokers +
                         ": the embedded broker cannot list consumer groups");
  }
  GALE_ASSIGN_OR_RETURN(auto client, NewClient(config, ""));
  auto groups = ListGroupsOn(client->rk.get(), config.brokers, deadline);
  if (!groups.ok() && groups.status().retryable()) {
    return Status::Error(groups.message() + client->context.LastErrorSuffix(), true);
  }
  return groups;
}

// ---- Tailer ------------------------------------------------------------------------------------

struct Tailer::Impl {
  std::unique_ptr<Client> client;
  std::string topic;
  std::string signing_key;  // empty: messages are not checked
};

Tailer::Tailer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tailer::~Tailer() = default;

Result<std::unique_ptr<Tailer>> Tailer::Create(const BusConfig& config, const std::string& topic,
                                               bool from_beginning,
                                               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // librdkafka needs a group id to assign partitions; this one is never joined or committed.
  GALE_ASSIGN_OR_RETURN(auto client,
                        NewClient(config, config.topic_prefix + "tail-" + RandomHex()));
  rd_kafka_t* rk = client->rk.get();
  GALE_ASSIGN_OR_RETURN(auto md, internal::Metadata(rk, config.brokers, {topic}, deadline));
  if (md.empty()) {
    return Status::Error("bus " + config.brokers + ": topic " + topic + " does not exist");
  }
  if (!from_beginning) {
    // Resolve "now" up front so that a message produced right after Create() is seen.
    GALE_TRY(internal::Watermarks(rk, config.brokers, md, deadline));
  }
  internal::ListPtr list(rd_kafka_topic_partition_list_new(8));
  for (const PartitionInfo& p : md.front().partitions) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p.id)->offset =
        from_beginning ? RD_KAFKA_OFFSET_BEGINNING : p.high;
  }
  if (rd_kafka_resp_err_t err = rd_kafka_assign(rk, list.get())) {
    return internal::Error(config.brokers, "cannot read " + topic, err);
  }
  rd_kafka_poll_set_consumer(rk);  // Next() serves the error callback
  auto impl = std::make_unique<Impl>();
  impl->client = std::move(client);
  impl->topic = topic;
  impl->signing_key = config.signing_key;
  return std::unique_ptr<Tailer>(new Tailer(std::move(impl)));
}

Result<std::optional<Message>> Tailer::Next(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  rd_kafka_t* rk = impl_->client->rk.get();
  for (;;) {
    rd_kafka_message_t* raw = rd_kafka_consumer_poll(rk, internal::RemainingMs(deadline));
    if (raw == nullptr) {
      if (std::optional<Status> severe = impl_->client->context.TakeSevereError()) return *severe;
      return std::optional<Message>();
    }
    std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> rkm(
        raw, rd_kafka_message_destroy);
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
    if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return internal::Error(impl_->client->context.brokers(), "cannot read " + impl_->topic,
                             rkm->err);
    }
    Message m = internal::ToMessage(rkm.get());
    internal::CheckSignature(impl_->signing_key, rkm.get(), &m);
    return std::optional<Message>(std::move(m));
  }
}

}  // namespace gale::bus
