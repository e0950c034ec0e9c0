// StackStorm's ActionChain definitions (runner_type `action-chain`): a `chain` of links, each an
// action `ref` with `parameters`, `on-success`/`on-failure` (the next link's name) and `publish`;
// top-level `default` (the first link; the chain's first when absent) and `vars`. Read and
// checked when the pack loads, so a chain that cannot run is refused with file:line.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::packs {

struct ChainLink {
  std::string name;
  std::string ref;
  Json parameters = Json::object();  // Jinja templates, rendered when the link starts
  std::string on_success;            // empty: the chain ends there
  std::string on_failure;
  Json publish = Json::object();  // name -> template, rendered after the link
  int line = 0;                   // of the link in the file
  int ref_line = 0;
};

struct ActionChain {
  std::string file;
  std::string default_link;  // the first link to run
  Json vars = Json::object();
  std::vector<ChainLink> links;

  const ChainLink* Find(const std::string& name) const;
};

// Reads and checks `path` (a chain file): structure, link names (unique; on-success,
// on-failure and default naming a link) and every template's syntax. Problems are appended to
// *errors as "path:line: ..." lines, all of them; the chain is returned as far as it was read
// (the caller refuses it when any were added), an error only when there is no chain to read.
// Action refs are checked by the catalog (CheckChains).
Result<std::shared_ptr<const ActionChain>> ReadActionChain(const std::string& path,
                                                           std::vector<std::string>* errors);

}  // namespace gale::packs
