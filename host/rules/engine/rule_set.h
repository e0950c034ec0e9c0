// The rules the engine evaluates: every rule of every activated pack, compiled once (criteria,
// the target action's parameter schema) and indexed by trigger type. A RuleSet is immutable and
// shared: a pack reload builds a new one and the engine swaps it in atomically
// (RulesEngine::UpdateRules); enabling or disabling a rule at run time makes a copy that shares
// the compiled rules and differs only in its enabled overlay.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"
#include "host/packs/catalog.h"
#include "host/requests/execution_request.h"
#include "host/rules/criteria.h"
#include "host/schema/validator.h"

namespace gale::rules::engine {

struct CompiledRule {
  std::string ref;
  std::string name;  // action_context.rule.name
  std::string trigger_type;
  std::string action_ref;
  bool enabled = true;  // as loaded from the rule file
  // The rule's `trigger.parameters` (StackStorm's parameterised triggers, e.g. a webhook's
  // `url`): the rule only sees instances fired with these same parameters.
  Json trigger_parameters = Json::object();
  std::optional<Criteria> criteria;
  // Set when the criteria did not compile: the rule then never matches (see warnings()).
  std::string criteria_error;
  Json action_parameters = Json::object();
  // Null when the action is not in the catalog (every match then records a failed execution).
  std::shared_ptr<const requests::CompiledAction> action;
};

class RuleSet {
 public:
  // Every rule of every pack without errors (Pack::ok()), with its action looked up in the same
  // catalog. Rules whose criteria do not compile are kept (and never match) and reported in
  // warnings(), like criteria warnings (regexes that can never match, ...).
  static std::shared_ptr<const RuleSet> FromCatalog(const packs::Catalog& catalog);
  // The same from explicit metadata (tests, tools); `actions` are looked up by ref, and
  // `pack_configs` (pack ref -> config) give their templates' config_context.
  static std::shared_ptr<const RuleSet> FromMetadata(
      const std::vector<packs::RuleMeta>& rules, const std::vector<packs::ActionMeta>& actions,
      const std::map<std::string, Json>& pack_configs = {});

  // The rules of `trigger_type` that are enabled now (file setting overridden by SetEnabled),
  // in load order. The pointers live as long as this RuleSet.
  std::vector<const CompiledRule*> ForTrigger(const std::string& trigger_type) const;
  const CompiledRule* Find(const std::string& ref) const;
  // Enabled now (false for an unknown ref).
  bool IsEnabled(const std::string& ref) const;
  size_t size() const { return rules_->size(); }
  // Every rule ref, in load order.
  std::vector<std::string> Refs() const;
  // One line per load problem: "<rule ref>: ...".
  const std::vector<std::string>& warnings() const { return *warnings_; }

  // A copy with rule `ref` enabled or disabled; error when no rule has that ref.
  Result<std::shared_ptr<const RuleSet>> SetEnabled(const std::string& ref, bool enabled) const;
  // A copy with every override in `overrides` (ref -> enabled) applied; unknown refs ignored.
  std::shared_ptr<const RuleSet> WithOverrides(const std::map<std::string, bool>& overrides) const;

 private:
  RuleSet() = default;
  std::shared_ptr<const std::vector<CompiledRule>> rules_;
  std::shared_ptr<const std::unordered_map<std::string, std::vector<size_t>>> by_trigger_;
  std::shared_ptr<const std::unordered_map<std::string, size_t>> by_ref_;
  std::shared_ptr<const std::vector<std::string>> warnings_;
  std::map<std::string, bool> overrides_;
};

}  // namespace gale::rules::engine
