// Consumer group member. The position of each assigned partition (the next offset Poll()
// returns) is tracked here instead of being left to librdkafka's internals: every assignment
// starts at an explicit offset (committed, else earliest/latest, resolved in the rebalance
// callback), Poll() advances it, and Resume() seeks back to it before fetching restarts. So a
// message that slips past a Pause() made from another thread (librdkafka bumps the partition's
// version asynchronously) is held back and fetched again, never skipped or returned twice.
#include <spdlog/spdlog.h>

#include <cstring>
#include <map>

#include "host/bus/internal.h"

namespace gale::bus {

namespace {

using PartitionKey = std::pair<std::string, int32_t>;

std::vector<TopicPartition> ToVector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& e = list->elems[i];
    out.push_back({e.topic, e.partition, e.offset >= 0 ? e.offset : -1});
  }
  return out;
}

void SafeCall(const Consumer::PartitionsCallback& cb, const std::vector<TopicPartition>& parts,
              const char* what) {
  if (!cb) return;
  try {
    cb(parts);
  } catch (const std::exception& e) {
    spdlog::error("bus: {} callback threw: {}", what, e.what());
  } catch (...) {
    spdlog::error("bus: {} callback threw", what);
  }
}

std::string Describe(const rd_kafka_topic_partition_list_t* list) {
  std::string s;
  for (int i = 0; i < list->cnt; ++i) {
    if (i > 0) s += ", ";
    s += std::string(list->elems[i].topic) + "[" + std::to_string(list->elems[i].partition) + "]";
  }
  return s;
}

}  // namespace

struct Consumer::Impl : internal::HandleContext {
  Impl(std::string brokers, Options opts)
      : HandleContext(std::move(brokers)), options(std::move(opts)) {}

  ~Impl() override { rk.reset(); }

  std::string signing_key;  // empty: messages are not checked

  // Sets explicit start offsets on `list`: the committed offset, else the earliest or latest
  // one. Partitions it cannot resolve keep RD_KAFKA_OFFSET_INVALID (librdkafka then resolves
  // them itself and their position stays unknown).
  void ResolveStartOffsets(rd_kafka_t* handle, rd_kafka_topic_partition_list_t* list) {
    const auto deadline = std::chrono::steady_clock::now() + options.timeout;
    internal::ListPtr committed(rd_kafka_topic_partition_list_copy(list));
    rd_kafka_resp_err_t err =
        rd_kafka_committed(handle, committed.get(), internal::RemainingMs(deadline));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::warn("bus {}: group {}: cannot fetch committed offsets for {}: {}", brokers(),
                   options.group_id, Describe(list), rd_kafka_err2str(err));
      return;
    }
    internal::ListPtr missing(rd_kafka_topic_partition_list_new(list->cnt));
    for (int i = 0; i < list->cnt; ++i) {
      const rd_kafka_topic_partition_t& c = committed->elems[i];
      if (c.err == RD_KAFKA_RESP_ERR_NO_ERROR && c.offset >= 0) {
        list->elems[i].offset = c.offset;
      } else {
        rd_kafka_topic_partition_list_add(missing.get(), list->elems[i].topic,
                                          list->elems[i].partition)
            ->offset = options.from_beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
      }
    }
    if (missing->cnt == 0) return;
    err = rd_kafka_offsets_for_times(handle, missing.get(), internal::RemainingMs(deadline));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::warn("bus {}: group {}: cannot look up start offsets for {}: {}", brokers(),
                   options.group_id, Describe(missing.get()), rd_kafka_err2str(err));
      return;
    }
    for (int i = 0; i < missing->cnt; ++i) {
      const rd_kafka_topic_partition_t& m = missing->elems[i];
      if (m.err != RD_KAFKA_RESP_ERR_NO_ERROR || m.offset < 0) continue;
      if (rd_kafka_topic_partition_t* e =
              rd_kafka_topic_partition_list_find(list, m.topic, m.partition)) {
        e->offset = m.offset;
      }
    }
  }

  void OnAssign(rd_kafka_t* handle, rd_kafka_topic_partition_list_t* parts, bool cooperative) {
    internal::ListPtr list(rd_kafka_topic_partition_list_copy(parts));
    ResolveStartOffsets(handle, list.get());
    {
      std::lock_guard lock(mu);
      if (cooperative) {
        if (rd_kafka_error_t* e = rd_kafka_incremental_assign(handle, list.get())) {
          spdlog::error(
              "{}",
              internal::Error(brokers(),
                              "group " + options.group_id + ": cannot assign " + Describe(parts), e)
                  .message());
          return;
        }
      } else {
        rd_kafka_resp_err_t err = rd_kafka_assign(handle, list.get());
        positions.clear();
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          spdlog::error("{}",
                        internal::Error(
                            brokers(),
                            "group " + options.group_id + ": cannot assign " + Describe(parts), err)
                            .message());
          return;
        }
      }
      for (int i = 0; i < list->cnt; ++i) {
        const rd_kafka_topic_partition_t& e = list->elems[i];
        positions[{e.topic, e.partition}] = e.offset >= 0 ? e.offset : -1;
      }
      if (paused && list->cnt > 0) rd_kafka_pause_partitions(handle, list.get());
    }
    spdlog::debug("bus: group {}: assigned {}", options.group_id, Describe(list.get()));
    SafeCall(options.on_assigned, ToVector(list.get()), "on_assigned");
  }

  void OnRevoke(rd_kafka_t* handle, rd_kafka_topic_partition_list_t* parts, bool cooperative) {
    std::vector<TopicPartition> revoked;
    {
      std::lock_guard lock(mu);
      for (int i = 0; i < parts->cnt; ++i) {
        auto it = positions.find({parts->elems[i].topic, parts->elems[i].partition});
        revoked.push_back({parts->elems[i].topic, parts->elems[i].partition,
                           it == positions.end() ? -1 : it->second});
      }
    }
    spdlog::debug("bus: group {}: revoking {}{}", options.group_id, Describe(parts),
                  rd_kafka_assignment_lost(handle) ? " (lost)" : "");
    SafeCall(options.on_revoked, revoked, "on_revoked");
    std::lock_guard lock(mu);
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(handle, parts)) {
        spdlog::error(
            "{}",
            internal::Error(brokers(),
                            "group " + options.group_id + ": cannot unassign " + Describe(parts), e)
                .message());
      }
      for (const TopicPartition& tp : revoked) positions.erase({tp.topic, tp.partition});
    } else {
      rd_kafka_assign(handle, nullptr);
      positions.clear();
    }
  }

  static void OnRebalance(rd_kafka_t* handle, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<Impl*>(static_cast<internal::HandleContext*>(opaque));
    bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(handle), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->OnAssign(handle, parts, cooperative);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      self->OnRevoke(handle, parts, cooperative);
    } else {
      spdlog::warn("bus {}: group {}: rebalance failed: {}", self->brokers(),
                   self->options.group_id, rd_kafka_err2str(err));
      std::lock_guard lock(self->mu);
      rd_kafka_assign(handle, nullptr);
      self->positions.clear();
    }
  }

  // The assigned partitions. Requires mu.
  internal::ListPtr AssignedList() const {
    internal::ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(positions.size())));
    for (const auto& [key, pos] : positions) {
      rd_kafka_topic_partition_list_add(list.get(), key.first.c_str(), key.second);
    }
    return list;
  }

  // Restarts fetching `topic` [partition] at `offset`. Requires mu.
  void SeekTo(const std::string& topic, int32_t partition, int64_t offset) {
    internal::ListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = offset;
    if (rd_kafka_error_t* e =
            rd_kafka_seek_partitions(rk.get(), list.get(), internal::ToMs(options.timeout))) {
      spdlog::warn(
          "{}",
          internal::Error(brokers(),
                          "group " + options.group_id + ": cannot seek " + Describe(list.get()), e)
              .message());
    }
  }

  Status Closed() const {
    return Status::Error("bus " + brokers() + ": group " + options.group_id +
                         ": consumer is closed");
  }

  Options options;
  internal::KafkaPtr rk;       // reset by Close() (under mu)
  bool close_started = false;  // Poll thread only

  mutable std::mutex mu;
  bool paused = false;
  uint64_t resume_epoch = 0;  // bumped by every Resume()
  // Assigned partitions -> next offset Poll() returns (-1: unknown).
  std::map<PartitionKey, int64_t> positions;
};

Consumer::Consumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Consumer::~Consumer() {
  Status s = Close();
  if (!s.ok()) spdlog::warn("{}", s.message());
}

Result<std::unique_ptr<Consumer>> Consumer::Create(const BusConfig& config, Options options) {
  if (options.group_id.empty()) return Status::Error("bus: consumer needs a group id");
  if (options.topics.empty()) return Status::Error("bus: consumer needs at least one topic");
  auto impl = std::make_unique<Impl>(config.brokers, std::move(options));
  impl->signing_key = config.signing_key;
  GALE_ASSIGN_OR_RETURN(auto conf,
                        internal::MakeConf(config, internal::Role::kConsumer, impl.get()));
  const Options& o = impl->options;
  GALE_TRY(internal::Set(conf.get(), "group.id", o.group_id));
  if (Status s =
          internal::Set(conf.get(), "auto.offset.reset", o.from_beginning ? "earliest" : "latest");
      !s.ok()) {
    return s;
  }
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::OnRebalance);
  GALE_ASSIGN_OR_RETURN(auto rk,
                        internal::NewHandle(RD_KAFKA_CONSUMER, std::move(conf), config.brokers));
  impl->rk = std::move(rk);
  // Error callbacks are served by Poll().
  rd_kafka_poll_set_consumer(impl->rk.get());

  internal::ListPtr topics(rd_kafka_topic_partition_list_new(static_cast<int>(o.topics.size())));
  for (const std::string& t : o.topics) {
    rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(impl->rk.get(), topics.get())) {
    return internal::Error(config.brokers, "group " + o.group_id + ": cannot subscribe", err);
  }
  return std::unique_ptr<Consumer>(new Consumer(std::move(impl)));
}

Result<std::optional<Message>> Consumer::Poll(std::chrono::milliseconds timeout) {
  Impl& c = *impl_;
  if (c.close_started) return c.Closed();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    uint64_t epoch = 0;
    {
      std::lock_guard lock(c.mu);
      epoch = c.resume_epoch;
    }
    rd_kafka_message_t* raw = rd_kafka_consumer_poll(c.rk.get(), internal::RemainingMs(deadline));
    if (raw == nullptr) {
      if (std::optional<Status> severe = c.TakeSevereError()) return *severe;
      return std::optional<Message>();
    }
    std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> rkm(
        raw, rd_kafka_message_destroy);
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
    if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::string where = rkm->rkt ? std::string(rd_kafka_topic_name(rkm->rkt)) : "";
      if (rkm->rkt && rkm->partition >= 0) where += " [" + std::to_string(rkm->partition) + "]";
      std::string what =
          "group " + c.options.group_id + ": cannot consume" + (where.empty() ? "" : " " + where);
      Status s = internal::Error(c.brokers(), what, rkm->err);
      std::string detail = rd_kafka_message_errstr(rkm.get());
      return Status::Error(s.message() + (detail.empty() ? "" : " - " + detail), s.retryable());
    }
    std::lock_guard lock(c.mu);
    auto it = c.positions.find({rd_kafka_topic_name(rkm->rkt), rkm->partition});
    if (it == c.positions.end()) continue;  // left over from a revoked partition
    if (c.paused) {
      // Fetched before the pause took effect: held back, Resume() seeks back to it.
      if (it->second < 0) it->second = rkm->offset;
      continue;
    }
    if (it->second >= 0 && rkm->offset < it->second) continue;  // never return an offset twice
    if (it->second >= 0 && rkm->offset > it->second && epoch != c.resume_epoch) {
      // Taken from the queue while a Resume() on another thread sought back to the position:
      // it may predate that seek, and the messages before it are fetched again. Seek to the
      // position once more so that they come first. (With the same epoch, a jump ahead is a
      // real gap in the log, e.g. a transaction marker.)
      c.SeekTo(rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "", rkm->partition, it->second);
      continue;
    }
    it->second = rkm->offset + 1;
    Message m = internal::ToMessage(rkm.get());
    internal::CheckSignature(c.signing_key, rkm.get(), &m);
    return std::optional<Message>(std::move(m));
  }
}

Status Consumer::Commit(const Message& m) {
  return CommitOffsets({{m.topic, m.partition, m.offset + 1}});
}

Status Consumer::CommitOffsets(const std::vector<TopicPartition>& offsets) {
  Impl& c = *impl_;
  if (c.close_started && !c.rk) return c.Closed();
  if (offsets.empty()) return Status::Ok();
  internal::ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const TopicPartition& tp : offsets) {
    if (tp.offset < 0) {
      return Status::Error("bus: cannot commit offset " + std::to_string(tp.offset) + " for " +
                           tp.topic + " [" + std::to_string(tp.partition) + "]");
    }
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset =
        tp.offset;
  }
  const std::string what =
      "group " + c.options.group_id + ": cannot commit " + Describe(list.get());
  internal::QueuePtr queue(rd_kafka_queue_new(c.rk.get()));
  if (rd_kafka_resp_err_t err =
          rd_kafka_commit_queue(c.rk.get(), list.get(), queue.get(), nullptr, nullptr)) {
    return internal::Error(c.brokers(), what, err);
  }
  internal::EventPtr ev(rd_kafka_queue_poll(queue.get(), internal::ToMs(c.options.timeout)));
  if (!ev) {
    return internal::Error(c.brokers(), what,
                           "not confirmed within " + std::to_string(c.options.timeout.count()) +
                               " ms" + c.LastErrorSuffix(),
                           true);
  }
  if (rd_kafka_resp_err_t err = rd_kafka_event_error(ev.get())) {
    Status s = internal::Error(c.brokers(), what, err);
    return Status::Error(s.message() + c.LastErrorSuffix(), s.retryable());
  }
  if (const rd_kafka_topic_partition_list_t* r = rd_kafka_event_topic_partition_list(ev.get())) {
    for (int i = 0; i < r->cnt; ++i) {
      if (r->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return internal::Error(c.brokers(), what, r->elems[i].err);
      }
    }
  }
  return Status::Ok();
}

Status Consumer::Pause() {
  Impl& c = *impl_;
  std::lock_guard lock(c.mu);
  if (!c.rk) return c.Closed();
  c.paused = true;
  internal::ListPtr list = c.AssignedList();
  if (list->cnt == 0) return Status::Ok();
  if (rd_kafka_resp_err_t err = rd_kafka_pause_partitions(c.rk.get(), list.get())) {
    return internal::Error(c.brokers(), "group " + c.options.group_id + ": cannot pause", err);
  }
  return Status::Ok();
}

Status Consumer::Resume() {
  Impl& c = *impl_;
  std::lock_guard lock(c.mu);
  if (!c.rk) return c.Closed();
  // Still paused until every step succeeded: a failed seek (a timeout under load) must leave
  // the caller seeing paused() and retrying, not believing it polls partitions that are stopped.
  const std::string what = "group " + c.options.group_id + ": cannot resume";
  internal::ListPtr seek(rd_kafka_topic_partition_list_new(static_cast<int>(c.positions.size())));
  for (const auto& [key, pos] : c.positions) {
    if (pos < 0) continue;
    rd_kafka_topic_partition_list_add(seek.get(), key.first.c_str(), key.second)->offset = pos;
  }
  if (seek->cnt > 0) {
    // While still paused: fetching restarts at exactly these offsets.
    if (rd_kafka_error_t* e =
            rd_kafka_seek_partitions(c.rk.get(), seek.get(), internal::ToMs(c.options.timeout))) {
      return internal::Error(c.brokers(), what, e);
    }
    for (int i = 0; i < seek->cnt; ++i) {
      if (seek->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return internal::Error(c.brokers(),
                               what + " " + seek->elems[i].topic + " [" +
                                   std::to_string(seek->elems[i].partition) + "]",
                               seek->elems[i].err);
      }
    }
  }
  internal::ListPtr list = c.AssignedList();
  if (list->cnt > 0) {
    if (rd_kafka_resp_err_t err = rd_kafka_resume_partitions(c.rk.get(), list.get())) {
      return internal::Error(c.brokers(), what, err);
    }
  }
  ++c.resume_epoch;
  c.paused = false;
  return Status::Ok();
}

bool Consumer::paused() const {
  std::lock_guard lock(impl_->mu);
  return impl_->paused;
}

std::vector<TopicPartition> Consumer::Assignment() const {
  std::lock_guard lock(impl_->mu);
  std::vector<TopicPartition> out;
  for (const auto& [key, pos] : impl_->positions) out.push_back({key.first, key.second, pos});
  return out;
}

Status Consumer::Close() {
  Impl& c = *impl_;
  if (c.close_started) return Status::Ok();
  c.close_started = true;
  // Runs the revoke callback, then leaves the group.
  rd_kafka_resp_err_t err = rd_kafka_consumer_close(c.rk.get());
  {
    std::lock_guard lock(c.mu);
    c.positions.clear();
    c.rk.reset();
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return internal::Error(c.brokers(), "group " + c.options.group_id + ": cannot leave cleanly",
                           err);
  }
  return Status::Ok();
}

}  // namespace gale::bus
