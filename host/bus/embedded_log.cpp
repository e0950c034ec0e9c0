#include "host/bus/embedded_log.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

namespace gale::bus::internal {

void MockLog::AddTopic(const std::string& topic, int partitions) {
  std::lock_guard lock(mu_);
  for (int32_t p = 0; p < partitions; ++p) partitions_[{topic, p}];
}

void MockLog::OnDebugLine(std::string_view text) {
  // librdkafka 2.0's rdkafka_mock.c: "Broker 1: Log append t [0] 3 messages, 210 bytes at
  // offset 7 (log now 0..10, original start 0)" (after trimming the log to its limits) and
  // "Topic t [0] committing offset 10 for group g". Topic names never contain spaces.
  char topic[256];
  char group[256];
  int32_t partition = 0;
  size_t count = 0;
  int bytes = 0;
  int64_t first = 0, start = 0, end = 0, offset = 0;
  if (auto at = text.find("Log append "); at != std::string_view::npos) {
    const std::string line(text.substr(at));
    if (std::sscanf(line.c_str(),
                    "Log append %255s [%" SCNd32 "] %zu messages, %d bytes at offset %" SCNd64
                    " (log now %" SCNd64 "..%" SCNd64,
                    topic, &partition, &count, &bytes, &first, &start, &end) == 7 &&
        count > 0) {
      Append(topic, partition, first + static_cast<int64_t>(count) - 1, bytes, start);
    }
    return;
  }
  if (auto at = text.find("Topic ");
      at != std::string_view::npos && text.find(" committing offset ") != std::string_view::npos) {
    const std::string line(text.substr(at));
    if (std::sscanf(line.c_str(),
                    "Topic %255s [%" SCNd32 "] committing offset %" SCNd64 " for group %255s",
                    topic, &partition, &offset, group) == 4) {
      std::lock_guard lock(mu_);
      partitions_[{topic, partition}].committed[group] = offset;
    }
  }
}

void MockLog::Append(const std::string& topic, int32_t partition, int64_t last, int64_t bytes,
                     int64_t start) {
  std::function<void(const std::string&)> hold;
  {
    std::lock_guard lock(mu_);
    const Key key{topic, partition};
    Partition& p = partitions_[key];
    p.batches.push_back({last, bytes, (p.batches.empty() ? 0 : p.batches.back().total) + bytes});
    // The mock dropped every batch before `start` (retention), consumed or not.
    while (!p.batches.empty() && p.batches.front().last < start) p.batches.pop_front();
    p.start = start;
    if (hold_ && !watch_groups_.empty()) {
      auto use = UseOf(key, p, watch_groups_);
      if (use && use->used_ratio >= hold_at_) hold = hold_;
    }
  }
  if (hold) hold(topic);
}

void MockLog::Watch(std::vector<GroupTopics> groups, double hold_at,
                    std::function<void(const std::string& topic)> hold) {
  std::lock_guard lock(mu_);
  watch_groups_ = std::move(groups);
  hold_at_ = hold_at;
  hold_ = std::move(hold);
}

std::optional<RetentionUse> MockLog::UseOf(const Key& key, const Partition& p,
                                           const std::vector<GroupTopics>& groups) {
  std::optional<int64_t> from;  // lowest next offset to consume over the watching groups
  for (const auto& g : groups) {
    if (std::find(g.topics.begin(), g.topics.end(), key.first) == g.topics.end()) continue;
    auto c = p.committed.find(g.group);
    const int64_t next = c == p.committed.end() ? p.start : c->second;
    from = from ? std::min(*from, next) : next;
  }
  if (!from) return std::nullopt;
  RetentionUse use;
  use.topic = key.first;
  use.partition = key.second;
  // The first batch not wholly consumed, and the bytes from it to the end (batches are sorted).
  auto first = std::lower_bound(p.batches.begin(), p.batches.end(), *from,
                                [](const Batch& b, int64_t offset) { return b.last < offset; });
  if (first != p.batches.end()) {
    use.unconsumed_bytes = p.batches.back().total - first->total + first->bytes;
    use.unconsumed_batches = p.batches.end() - first;
  }
  use.used_ratio =
      std::max(static_cast<double>(use.unconsumed_bytes) / EmbeddedBroker::kLogMaxBytes,
               static_cast<double>(use.unconsumed_batches) / EmbeddedBroker::kLogMaxBatches);
  return use;
}

std::vector<RetentionUse> MockLog::Use(const std::vector<GroupTopics>& groups) const {
  std::vector<RetentionUse> out;
  std::lock_guard lock(mu_);
  for (const auto& [key, p] : partitions_) {
    if (auto use = UseOf(key, p, groups)) out.push_back(std::move(*use));
  }
  return out;
}

}  // namespace gale::bus::internal
