// Native actions: a function in the pack `.so` that Gale runs in a sandboxed `gale exec`
// subprocess, never inside a host process. Errors are values: return ActionResult::failure().
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "plugin_api/abi.h"
#include "plugin_api/json.h"

namespace gale::plugin {

struct ActionResult {
  bool ok = true;
  Json json;               // the result document recorded on the execution
  bool retryable = false;  // a failure that may succeed when retried (action retry policy)

  static ActionResult success(Json result = Json::object()) { return {true, std::move(result)}; }
  static ActionResult failure(std::string message, bool retryable = false) {
    return {false, Json{{"error", std::move(message)}}, retryable};
  }
};

class ActionService {
 public:
  explicit ActionService(ActionServiceAbi& abi) : abi_(abi) {}
  Json config() const {
    Json parsed = Json::parse(abi_.config_json(), nullptr, /*allow_exceptions=*/false);
    return parsed.is_object() ? parsed : Json::object();
  }
  void log(LogLevel level, std::string_view message) { abi_.log(level, message); }

 private:
  ActionServiceAbi& abi_;
};

class Action {
 public:
  explicit Action(ActionService& service) : service_(service) {}
  virtual ~Action() = default;
  // `parameters` have been validated against the action's parameter schema, defaults applied.
  virtual ActionResult run(const Json& parameters) = 0;

 protected:
  ActionService& action_service() { return service_; }

 private:
  ActionService& service_;
};

}  // namespace gale::plugin
