// StackStorm's Orquesta workflow definitions (runner_type `orquesta`, workflow language version
// 1.0): `input`, `vars`, `output` and `tasks`, each task an `action` with `input`, `next`
// transitions ({when, publish, do}), `join`, `with` items, `retry` and `delay`. Read and checked
// when the pack loads (every expression parsed, every `do` naming a task or an engine command),
// so a workflow that cannot run is refused with file:line. docs/workflows.md, "Orquesta".
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "host/common/json.h"
#include "host/common/result.h"

namespace gale::packs {

// One `next` entry. Expressions are kept as their source; the engine evaluates them.
struct OrquestaTransition {
  std::string when;                                   // empty: always taken
  std::vector<std::pair<std::string, Json>> publish;  // in order
  std::vector<std::string> targets;                   // task names and engine commands
  int line = 0;
};

struct OrquestaTask {
  std::string name;
  std::string action;           // ref; empty: a task without an action (succeeds at once)
  Json input = Json::object();  // the `input` map, plus the action line's inline parameters
  std::vector<OrquestaTransition> next;
  int join = 0;  // 0: none, -1: all, N: that many inbound transitions
  // with: `items` ("<% ... %>" or "x, y in <% ... %>") and `concurrency` (null: unbounded).
  bool with_items = false;
  std::vector<std::string> item_names;  // empty: item() is the whole item
  std::string items;
  Json concurrency;
  // retry: `when` (empty: on failure), `count`, `delay` (seconds; numbers or expressions).
  bool has_retry = false;
  std::string retry_when;
  Json retry_count = 0;
  Json retry_delay = 0;
  Json delay;  // seconds before the task's action is requested; null: none
  int line = 0;
  int action_line = 0;
};

struct OrquestaWorkflow {
  std::string file;
  std::vector<std::pair<std::string, Json>> input;  // name -> default (null when none)
  std::vector<std::pair<std::string, Json>> vars;
  std::vector<std::pair<std::string, Json>> output;
  std::vector<OrquestaTask> tasks;  // in the file's order (names sorted: YAML maps)

  const OrquestaTask* Find(const std::string& name) const;
  // How many transitions (of any task) name `task`: 0 for the tasks the workflow starts with.
  int Inbound(const std::string& task) const;
};

// The engine commands a `do` may hold besides task names.
bool IsOrquestaCommand(const std::string& target);

// Splits an action line with inline parameters ("core.local cmd=<% ctx(x) %> timeout=5") into
// the ref and the parameters; an error names what does not parse.
Status SplitInlineAction(const std::string& line, std::string* ref, Json* parameters);

// Reads and checks `path` (an Orquesta workflow file). Problems are appended to *errors as
// "path:line: ..." lines, all of them; an error return only when there is nothing to read.
// Action refs are checked by the catalog.
Result<std::shared_ptr<const OrquestaWorkflow>> ReadOrquestaWorkflow(
    const std::string& path, std::vector<std::string>* errors);

}  // namespace gale::packs
