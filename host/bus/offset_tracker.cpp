#include "host/bus/offset_tracker.h"

#include <iterator>

namespace gale::bus {

void OffsetTracker::Take(const Message& m) {
  partitions_[{m.topic, m.partition}].open.emplace(m.offset, false);
}

void OffsetTracker::Done(const Message& m) {
  auto p = partitions_.find({m.topic, m.partition});
  if (p == partitions_.end()) return;
  auto it = p->second.open.find(m.offset);
  if (it == p->second.open.end() || it->second) return;
  it->second = true;
  ++done_since_commit_;
  auto& open = p->second.open;
  while (!open.empty() && open.begin()->second) {
    p->second.committable = open.begin()->first + 1;
    open.erase(open.begin());
  }
}

std::vector<TopicPartition> OffsetTracker::Committable() const {
  std::vector<TopicPartition> offsets;
  for (const auto& [tp, p] : partitions_) {
    if (p.committable >= 0) offsets.push_back({tp.first, tp.second, p.committable});
  }
  return offsets;
}

void OffsetTracker::Committed() {
  for (auto it = partitions_.begin(); it != partitions_.end();) {
    it->second.committable = -1;
    it = it->second.open.empty() ? partitions_.erase(it) : std::next(it);
  }
  done_since_commit_ = 0;
}

void OffsetTracker::Forget(const std::vector<TopicPartition>& partitions) {
  for (const auto& tp : partitions) partitions_.erase({tp.topic, tp.partition});
}

size_t OffsetTracker::in_flight() const {
  size_t n = 0;
  for (const auto& [tp, p] : partitions_) {
    for (const auto& [offset, done] : p.open) n += done ? 0 : 1;
  }
  return n;
}

}  // namespace gale::bus
