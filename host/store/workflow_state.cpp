#include "host/store/workflow_state.h"

#include "host/common/uuid.h"

namespace gale::store {

std::string StateKey(const std::string& workflow_id) {
  return "workflow/" + workflow_id;
}

Json ListedTasks(const std::string& workflow_id, const Json& tasks) {
  if (!tasks.is_array()) return tasks;
  Json listed = Json::array();
  for (const auto& t : tasks) {
    if (!t.is_object() || !t.contains("items")) {
      listed.push_back(t);
      continue;
    }
    const std::string name = t.value("name", "");
    const int64_t occurrence = t.value("occurrence", int64_t{0});
    const int64_t first = t.value("first", int64_t{0});
    const int64_t items = t.value("items", int64_t{0});
    for (int64_t i = first; i < first + items; ++i) {
      listed.push_back(
          {{"name", name},
           {"execution_id", OrquestaExecutionId(workflow_id, occurrence, name, i, 0)}});
    }
  }
  return listed;
}

Result<std::optional<Json>> LoadState(Store& store, const std::string& workflow_id) {
  KeyRef ref{StateKey(workflow_id), KeyScope::kGale, ""};
  GALE_ASSIGN_OR_RETURN(auto kv, store.GetKey(ref, NowMs()));
  if (!kv) return std::optional<Json>();
  Json state = Json::parse(kv->value, nullptr, false);
  if (state.is_discarded() || !state.is_object()) {
    return Status::Error("workflow " + workflow_id + ": its state document is not JSON");
  }
  if (state.contains("tasks")) state["tasks"] = ListedTasks(workflow_id, state["tasks"]);
  return std::optional<Json>(std::move(state));
}

Status SaveState(Store& store, const std::string& workflow_id, const Json& state) {
  KeyValue kv;
  kv.name = StateKey(workflow_id);
  kv.scope = KeyScope::kGale;
  kv.value = state.dump(-1, ' ', false, Json::error_handler_t::replace);
  return store.SetKey(kv, NowMs()).WithContext("workflow " + workflow_id + ": state");
}

Result<std::optional<StoredState>> LoadStoredState(Store& store, const std::string& workflow_id) {
  KeyRef ref{StateKey(workflow_id), KeyScope::kGale, ""};
  GALE_ASSIGN_OR_RETURN(auto kv, store.GetKey(ref, NowMs()));
  if (!kv) return std::optional<StoredState>();
  Json state = Json::parse(kv->value, nullptr, false);
  if (state.is_discarded() || !state.is_object()) {
    return Status::Error("workflow " + workflow_id + ": its state document is not JSON");
  }
  return std::optional<StoredState>(StoredState{std::move(state), std::move(kv->value)});
}

Result<bool> SwapState(Store& store, const std::string& workflow_id, const Json& state,
                       const std::optional<std::string>& expected, std::string* text) {
  KeyValue kv;
  kv.name = StateKey(workflow_id);
  kv.scope = KeyScope::kGale;
  kv.value = state.dump(-1, ' ', false, Json::error_handler_t::replace);
  auto swapped = store.SwapKey(kv, expected, NowMs());
  if (!swapped.ok()) return swapped.status().WithContext("workflow " + workflow_id + ": state");
  if (*swapped && text != nullptr) *text = std::move(kv.value);
  return *swapped;
}

std::string TaskExecutionId(const std::string& workflow_id, int64_t step, const std::string& task) {
  return UuidV5(kGaleNamespace,
                "workflow/" + workflow_id + "/" + std::to_string(step) + "/" + task);
}

std::string OrquestaExecutionId(const std::string& workflow_id, int64_t occurrence,
                                const std::string& task, int64_t item, int attempt) {
  return TaskExecutionId(workflow_id, occurrence,
                         task + "/" + std::to_string(item) + "/" + std::to_string(attempt));
}

}  // namespace gale::store
