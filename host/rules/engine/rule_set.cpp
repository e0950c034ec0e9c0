#include "host/rules/engine/rule_set.h"

#include <utility>

#include "host/packs/webhook_secret.h"
#include "host/requests/execution_request.h"

namespace gale::rules::engine {

std::shared_ptr<const RuleSet> RuleSet::FromCatalog(const packs::Catalog& catalog) {
  std::vector<packs::RuleMeta> rules;
  std::vector<packs::ActionMeta> actions;
  std::map<std::string, Json> configs;
  for (const auto& pack : catalog.packs()) {
    if (!pack.ok()) continue;
    rules.insert(rules.end(), pack.rules.begin(), pack.rules.end());
    actions.insert(actions.end(), pack.actions.begin(), pack.actions.end());
    configs.emplace(pack.ref, pack.config);
  }
  return FromMetadata(rules, actions, configs);
}

std::shared_ptr<const RuleSet> RuleSet::FromMetadata(
    const std::vector<packs::RuleMeta>& rules, const std::vector<packs::ActionMeta>& actions,
    const std::map<std::string, Json>& pack_configs) {
  std::unordered_map<std::string, std::shared_ptr<const requests::CompiledAction>> compiled_actions;
  for (const auto& a : actions) {
    if (compiled_actions.count(a.ref)) continue;
    auto config = pack_configs.find(a.pack);
    compiled_actions.emplace(
        a.ref,
        requests::CompileAction(a, config != pack_configs.end() ? config->second : Json::object()));
  }
  auto compiled = std::make_shared<std::vector<CompiledRule>>();
  auto by_trigger = std::make_shared<std::unordered_map<std::string, std::vector<size_t>>>();
  auto by_ref = std::make_shared<std::unordered_map<std::string, size_t>>();
  auto warnings = std::make_shared<std::vector<std::string>>();
  for (const auto& meta : rules) {
    if (by_ref->count(meta.ref)) {
      warnings->push_back(meta.ref + ": duplicate rule ref, ignored");
      continue;
    }
    CompiledRule r;
    r.ref = meta.ref;
    r.name = meta.name;
    r.trigger_type = meta.trigger_type;
    r.action_ref = meta.action_ref;
    r.enabled = meta.enabled;
    if (meta.trigger_parameters.is_object()) r.trigger_parameters = meta.trigger_parameters;
    // A webhook's secret guards the door (host/api), it is not something the trigger instance
    // carries: the instance has only {"url": NAME}, so matching must not ask for it.
    if (r.trigger_type == "core.st2.webhook") {
      for (auto it = r.trigger_parameters.begin(); it != r.trigger_parameters.end();) {
        it = packs::IsWebhookSecretParameter(it.key()) ? r.trigger_parameters.erase(it) : ++it;
      }
    }
    r.action_parameters =
        meta.action_parameters.is_null() ? Json::object() : meta.action_parameters;
    auto criteria = Criteria::Compile(meta.criteria);
    if (criteria.ok()) {
      for (const auto& w : criteria->warnings()) warnings->push_back(meta.ref + ": " + w);
      r.criteria = std::move(criteria).value();
    } else {
      r.criteria_error = criteria.message();
      warnings->push_back(meta.ref + ": " + r.criteria_error + " (the rule never matches)");
    }
    if (auto it = compiled_actions.find(meta.action_ref); it != compiled_actions.end()) {
      r.action = it->second;
      if (!r.action->schema_error.empty()) {
        warnings->push_back(meta.ref + ": action '" + meta.action_ref +
                            "' parameters schema: " + r.action->schema_error);
      }
    } else {
      warnings->push_back(meta.ref + ": action '" + meta.action_ref +
                          "' not found (its executions fail)");
    }
    size_t index = compiled->size();
    (*by_ref)[r.ref] = index;
    (*by_trigger)[r.trigger_type].push_back(index);
    compiled->push_back(std::move(r));
  }
  std::shared_ptr<RuleSet> set(new RuleSet());
  set->rules_ = std::move(compiled);
  set->by_trigger_ = std::move(by_trigger);
  set->by_ref_ = std::move(by_ref);
  set->warnings_ = std::move(warnings);
  return set;
}

std::vector<const CompiledRule*> RuleSet::ForTrigger(const std::string& trigger_type) const {
  std::vector<const CompiledRule*> out;
  auto it = by_trigger_->find(trigger_type);
  if (it == by_trigger_->end()) return out;
  for (size_t index : it->second) {
    const CompiledRule& r = (*rules_)[index];
    if (IsEnabled(r.ref)) out.push_back(&r);
  }
  return out;
}

const CompiledRule* RuleSet::Find(const std::string& ref) const {
  auto it = by_ref_->find(ref);
  return it == by_ref_->end() ? nullptr : &(*rules_)[it->second];
}

bool RuleSet::IsEnabled(const std::string& ref) const {
  const CompiledRule* r = Find(ref);
  if (r == nullptr) return false;
  auto it = overrides_.find(ref);
  return it == overrides_.end() ? r->enabled : it->second;
}

std::vector<std::string> RuleSet::Refs() const {
  std::vector<std::string> out;
  out.reserve(rules_->size());
  for (const auto& r : *rules_) out.push_back(r.ref);
  return out;
}

Result<std::shared_ptr<const RuleSet>> RuleSet::SetEnabled(const std::string& ref,
                                                           bool enabled) const {
  if (Find(ref) == nullptr) return Status::Error("no rule '" + ref + "'");
  auto copy = std::shared_ptr<RuleSet>(new RuleSet(*this));
  copy->overrides_[ref] = enabled;
  return std::shared_ptr<const RuleSet>(std::move(copy));
}

std::shared_ptr<const RuleSet> RuleSet::WithOverrides(
    const std::map<std::string, bool>& overrides) const {
  auto copy = std::shared_ptr<RuleSet>(new RuleSet(*this));
  for (const auto& [ref, enabled] : overrides) {
    if (Find(ref) != nullptr) copy->overrides_[ref] = enabled;
  }
  return copy;
}

}  // namespace gale::rules::engine
