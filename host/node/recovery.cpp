#include "host/node/recovery.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "host/bus/messages.h"
#include "host/requests/execution_request.h"
#include "host/requests/trigger_record.h"

namespace gale::node {
namespace {

// Every item of a newest-first listing, oldest first.
template <class T, class Query, class List>
Result<std::vector<T>> AllOldestFirst(Query q, List list) {
  std::vector<T> all;
  q.limit = store::kMaxPageSize;
  while (true) {
    GALE_ASSIGN_OR_RETURN(auto page, list(q));
    for (auto& item : page.items) all.push_back(std::move(item));
    if (page.next_cursor.empty()) break;
    q.cursor = page.next_cursor;
  }
  std::reverse(all.begin(), all.end());
  return all;
}

}  // namespace

Result<Replayed> ReplayPending(store::Store& store, const bus::BusConfig& bus) {
  store::TriggerInstanceQuery pending;
  pending.statuses = {store::TriggerStatus::kPending};
  auto triggers = AllOldestFirst<store::TriggerInstance>(
      pending, [&](const auto& q) { return store.ListTriggerInstances(q); });
  if (!triggers.ok()) return triggers.status().WithContext("pending trigger instances");
  store::ExecutionQuery requested;
  requested.statuses = {store::ExecStatus::kRequested};
  auto executions = AllOldestFirst<store::Execution>(
      requested, [&](const auto& q) { return store.ListExecutions(q); });
  if (!executions.ok()) return executions.status().WithContext("requested executions");

  Replayed replayed;
  if (triggers->empty() && executions->empty()) return replayed;
  GALE_ASSIGN_OR_RETURN(auto producer, bus::Producer::Create(bus));
  const std::string triggers_topic = bus::Topic(bus, bus::kTriggers);
  for (const auto& t : *triggers) {
    Status s = producer->Produce(triggers_topic, t.id, bus::Encode(requests::TriggerMessageOf(t)));
    if (!s.ok()) return s.WithContext("trigger instance " + t.id);
    replayed.triggers++;
  }
  const std::string executions_topic = bus::Topic(bus, bus::kExecutions);
  for (const auto& e : *executions) {
    Status s =
        producer->Produce(executions_topic, e.id, bus::Encode(requests::ExecutionRequestOf(e)));
    if (!s.ok()) return s.WithContext("execution " + e.id);
    replayed.executions++;
  }
  GALE_TRY(producer->Flush(std::chrono::seconds(30)));
  return replayed;
}

}  // namespace gale::node
