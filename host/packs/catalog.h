// Every pack Gale can see: read from the packs paths, libraries inspected, references between
// rules, policies, trigger types and actions checked across packs.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "host/packs/metadata.h"

namespace gale::packs {

struct CatalogOptions {
  // Open each pack library to check its ABI version and exports. Turned off only by callers
  // that want metadata alone.
  bool inspect_libraries = true;
  // Where StackStorm-style pack configs live (ReadOptions::configs_dir); "" for none.
  std::string configs_dir;
};

class Catalog {
 public:
  // Packs are the sub-directories holding a pack.yaml, in path order then name order; the first
  // pack with a given ref wins and a later one is reported. One bad pack never stops the others.
  static Catalog Load(const std::vector<std::string>& packs_paths,
                      const CatalogOptions& options = {});

  // Checks one pack directory: its metadata, its library, and its rules against the packs found
  // in `context_paths` (read as metadata only; a pack there with the same ref is ignored).
  // With no context paths, only references into the pack itself (and core trigger types) are
  // checked: a node checks the others once, across all its active packs (Load). The result's
  // packs() holds the checked pack first.
  static Catalog LoadOne(const std::string& pack_dir, const std::vector<std::string>& context_paths,
                         const CatalogOptions& options = {});

  const std::vector<Pack>& packs() const { return packs_; }
  // Problems that belong to no single pack (a packs path that does not exist).
  const std::vector<std::string>& errors() const { return errors_; }

  const Pack* FindPack(const std::string& ref) const;
  // Only packs without errors count; core trigger types are always there.
  const TriggerType* FindTriggerType(const std::string& ref) const;
  const ActionMeta* FindAction(const std::string& ref) const;

 private:
  void Read(const std::vector<std::string>& packs_paths, const CatalogOptions& options,
            const std::set<std::string>& skip);
  // Refuses (Pack::refused) each rule whose trigger type or action is missing. With
  // `own_refs_only`, a reference into another pack is taken on trust.
  void CheckRules(bool own_refs_only = false);
  // Reads every action-chain action's chain (ActionMeta::chain); refuses those that cannot run.
  void CheckChains(bool own_refs_only = false);
  // Refuses each policy whose action is missing, or (action.concurrency.attr) one of whose
  // attributes is not a parameter of that action; `own_refs_only` as for CheckRules.
  void CheckPolicies(bool own_refs_only = false);

  std::vector<Pack> packs_;
  std::vector<std::string> errors_;
};

}  // namespace gale::packs
