#include "host/cli/execution_commands.h"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "host/api/http.h"
#include "host/cli/output.h"

namespace gale::cli {
namespace {

bool IsFinal(const std::string& status) {
  return status == "succeeded" || status == "failed" || status == "timeout" ||
         status == "abandoned" || status == "canceled";
}

std::string Colored(const std::string& status) {
  if (status == "succeeded") return Green(status);
  if (IsFinal(status)) return Red(status);
  return status;
}

std::string Duration(const Json& e) {
  const int64_t start = e.value("started_at", int64_t{0});
  const int64_t end = e.value("finished_at", int64_t{0});
  if (start == 0 || end == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fs", static_cast<double>(end - start) / 1000);
  return buf;
}

std::string When(int64_t ms) {
  if (ms == 0) return "-";
  std::time_t t = ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

// key=value arguments, typed by the action's parameter declarations (numbers, booleans, arrays
// and objects are parsed as JSON; everything else is a string).
Json ParseParameters(const std::string& verb, ApiClient& api, const std::string& action,
                     const std::vector<std::string>& args) {
  Json declared = Json::object();
  if (!args.empty()) {
    Json actions = Expect(verb, api.Call("GET", "/v1/actions"));
    for (const auto& a : actions) {
      if (a.value("ref", "") == action) declared = a.value("parameters", Json::object());
    }
  }
  Json params = Json::object();
  for (const auto& arg : args) {
    const size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0) {
      Fail(verb, "'" + arg + "' is not key=value");
    }
    const std::string name = arg.substr(0, eq), text = arg.substr(eq + 1);
    std::string type = "string";
    if (declared.contains(name) && declared[name].is_object()) {
      type = declared[name].value("type", "string");
    }
    if (type == "string") {
      params[name] = text;
      continue;
    }
    Json value = Json::parse(text, nullptr, false);
    if (value.is_discarded())
      Fail(verb, "parameter '" + name + "' (" + type + "): '" + text + "' is not valid JSON");
    params[name] = value;
  }
  return params;
}

void PrintExecution(const Json& e, ApiClient& api) {
  std::cout << Bold("id:       ") << e.value("id", "") << '\n'
            << Bold("action:   ") << e.value("action", "") << '\n'
            << Bold("status:   ") << Colored(e.value("status", "")) << '\n'
            << Bold("rule:     ") << (e.value("rule", "").empty() ? "-" : e.value("rule", ""))
            << '\n'
            << Bold("node:     ") << (e.value("node", "").empty() ? "-" : e.value("node", ""))
            << '\n'
            << Bold("started:  ") << When(e.value("started_at", int64_t{0})) << '\n'
            << (e.contains("parent") ? Bold("parent:   ") + e.value("parent", "") + " (task " +
                                           e.value("task", "") + ")\n"
                                     : std::string())
            << Bold("duration: ") << Duration(e) << '\n'
            << Bold("parameters: ") << e.value("parameters", Json::object()).dump() << '\n';
  if (!e.value("retry_of", "").empty()) {
    std::cout << Bold("retry:    ") << e.value("retry_attempt", 0) << " of "
              << e.value("retry_of", "") << '\n';
  }
  if (e.contains("retry_chain") && e["retry_chain"].is_array()) {
    // original -> retry 1 -> retry 2 ..., this one marked.
    std::cout << Bold("chain:") << '\n';
    for (const auto& link : e["retry_chain"]) {
      const std::string id = link.value("id", "");
      const int n = link.value("retry_attempt", 0);
      std::cout << "  " << (id == e.value("id", "") ? "* " : "  ")
                << (n == 0 ? std::string("original") : "retry " + std::to_string(n)) << "  " << id
                << "  " << Colored(link.value("status", "")) << '\n';
    }
  }
  std::cout << Bold("result:") << '\n' << e.value("result", Json()).dump(2) << '\n';
  if (e.contains("children")) {
    // A workflow's task tree: one row per task execution, in the order they ran.
    std::cout << Bold("tasks:") << '\n';
    for (const auto& c : e["children"]) {
      std::printf("  %-24s %-10s %8s  %s\n", c.value("task", "").c_str(),
                  c.value("status", "").c_str(), Duration(c).c_str(), c.value("id", "").c_str());
    }
  }
  auto output = api.Call("GET", "/v1/executions/" + api::UrlEncode(e.value("id", "")) + "/output");
  if (output.ok() && output->status == 200 && !output->body.empty()) {
    std::cout << Bold("output:") << '\n' << output->body;
    if (output->body.back() != '\n') std::cout << '\n';
  }
}

// Polls until the execution is final; shows elapsed time and status on a terminal.
Json Wait(const std::string& verb, ApiClient& api, const std::string& id) {
  const auto start = std::chrono::steady_clock::now();
  const bool tty = isatty(STDERR_FILENO);
  while (true) {
    Json e = Expect(verb, api.Call("GET", "/v1/executions/" + api::UrlEncode(id)));
    const std::string status = e.value("status", "");
    if (IsFinal(status)) {
      if (tty) std::cerr << "\r\033[K";
      return e;
    }
    if (tty) {
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::fprintf(stderr, "\r\033[K%s %s  %.1fs", id.c_str(), status.c_str(), elapsed);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// Waits (unless async) and prints; the exit code says whether it succeeded.
void Finish(const std::string& verb, ApiClient& api, const Json& created, bool async, bool json) {
  const std::string id = created.value("id", "");
  if (async) {
    if (json) {
      std::cout << created.dump(2) << '\n';
    } else {
      std::cout << id << '\n';
    }
    return;
  }
  Json e = Wait(verb, api, id);
  if (json) {
    std::cout << e.dump(2) << '\n';
  } else {
    PrintExecution(e, api);
  }
  if (e.value("status", "") != "succeeded") throw CLI::RuntimeError(1);
}

// Follows one task's output for `execution tail` of a workflow: each line prefixed with the
// task's name, whole lines at a time (tasks run in parallel write between each other's lines),
// then the task's status on stderr.
void FollowTask(const ApiFlags& flags, std::mutex& out_mu, const std::string& id,
                const std::string& task) {
  ApiClient api(flags);
  const std::string path = "/v1/executions/" + api::UrlEncode(id);
  const std::string prefix = "[" + task + "] ";
  std::string partial;
  auto status = api.Stream(path + "/output?follow=true", [&](const std::string& data) {
    partial += data;
    std::lock_guard<std::mutex> lock(out_mu);
    for (size_t nl = partial.find('\n'); nl != std::string::npos; nl = partial.find('\n')) {
      std::cout << prefix << partial.substr(0, nl + 1);
      partial.erase(0, nl + 1);
    }
    std::cout << std::flush;
    return true;
  });
  auto reply = api.Call("GET", path);
  std::lock_guard<std::mutex> lock(out_mu);
  if (!partial.empty()) std::cout << prefix << partial << '\n' << std::flush;
  if (!status.ok() || *status != 200) {
    std::cerr << "gale execution tail: task " << task << " (" << id << "): output not followed: "
              << (status.ok() ? "HTTP " + std::to_string(*status) : status.message()) << '\n';
  }
  if (reply.ok() && reply->status == 200) {
    std::cerr << "task " << task << " " << Colored(reply->json().value("status", "")) << '\n';
  }
}

// `execution tail` of a workflow: follows each task's output as the tasks start, until the
// workflow has ended and every task's output has been read.
Json TailWorkflow(const ApiFlags& flags, ApiClient& api, const std::string& id) {
  std::mutex out_mu;
  std::map<std::string, std::thread> followers;  // task execution id -> its follower
  Json e;
  while (true) {
    e = Expect("execution tail", api.Call("GET", "/v1/executions/" + api::UrlEncode(id)));
    // In the order the tasks were requested; a task that has ended is read to its end before
    // the next one is started, so tasks that ran one after the other print in that order (the
    // output of tasks still running side by side interleaves by line).
    for (const auto& c : e.value("children", Json::array())) {
      const std::string child = c.value("id", "");
      if (child.empty()) continue;
      auto it = followers.find(child);
      if (it == followers.end()) {
        it = followers
                 .emplace(child, std::thread(FollowTask, std::cref(flags), std::ref(out_mu), child,
                                             c.value("task", "")))
                 .first;
      }
      if (IsFinal(c.value("status", "")) && it->second.joinable()) it->second.join();
    }
    if (IsFinal(e.value("status", ""))) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (auto& [child, thread] : followers) {
    if (thread.joinable()) thread.join();
  }
  return e;
}

struct RunArgs {
  std::string action;
  std::vector<std::string> params;
  bool async = false;
  bool json = false;
};

}  // namespace

void AddExecutionCommands(CLI::App& app, std::shared_ptr<ApiFlags> flags) {
  auto run_args = std::make_shared<RunArgs>();
  auto* run = app.add_subcommand(
      "run", "Run an action and wait for its result (exit 1 unless it succeeded)");
  run->add_option("ACTION", run_args->action, "PACK.ACTION")->required();
  run->add_option("PARAMS", run_args->params, "key=value parameters");
  run->add_flag("--async", run_args->async, "Print the execution id and return at once");
  run->add_flag("--json", run_args->json, "Print the execution as JSON");
  run->callback([flags, run_args] {
    ApiClient api(*flags);
    Json body = {{"action", run_args->action},
                 {"parameters", ParseParameters("run", api, run_args->action, run_args->params)}};
    Json created = Expect("run", api.Call("POST", "/v1/executions", &body), 201);
    Finish("run", api, created, run_args->async, run_args->json);
  });

  auto* ex = app.add_subcommand("execution", "List, inspect, follow, cancel and re-run executions");
  ex->require_subcommand(1);

  auto q = std::make_shared<std::map<std::string, std::string>>();
  auto list_json = std::make_shared<bool>(false);
  auto* list = ex->add_subcommand("list", "Executions, newest first");
  list->add_option("--action", (*q)["action"], "Only this action (PACK.ACTION)");
  list->add_option("--status", (*q)["status"], "Only these statuses (comma-separated)");
  list->add_option("--rule", (*q)["rule"], "Only executions of this rule");
  list->add_option("--limit", (*q)["limit"], "At most this many (default 50)");
  list->add_option("--offset", (*q)["offset"], "Skip this many");
  list->add_flag("--json", *list_json, "Print JSON");
  list->callback([flags, q, list_json] {
    ApiClient api(*flags);
    std::string target = "/v1/executions";
    char sep = '?';
    for (const auto& [k, v] : *q) {
      if (v.empty()) continue;
      target += sep + k + "=" + api::UrlEncode(v);
      sep = '&';
    }
    Json all = Expect("execution list", api.Call("GET", target));
    if (*list_json) {
      std::cout << all.dump(2) << '\n';
      return;
    }
    Table table({"ID", "ACTION", "STATUS", "REQUESTED", "DURATION", "RULE"});
    for (const auto& e : all) {
      table.AddRow({e.value("id", ""), e.value("action", ""), e.value("status", ""),
                    When(e.value("requested_at", int64_t{0})), Duration(e),
                    e.value("rule", "").empty() ? "-" : e.value("rule", "")});
    }
    table.Print(std::cout);
  });

  auto id = std::make_shared<std::string>();
  auto get_json = std::make_shared<bool>(false);
  auto* get = ex->add_subcommand("get", "One execution: status, result and output");
  get->add_option("ID", *id, "Execution id")->required();
  get->add_flag("--json", *get_json, "Print JSON");
  get->callback([flags, id, get_json] {
    ApiClient api(*flags);
    Json e = Expect("execution get", api.Call("GET", "/v1/executions/" + api::UrlEncode(*id)));
    if (*get_json) {
      std::cout << e.dump(2) << '\n';
    } else {
      PrintExecution(e, api);
    }
  });

  auto* tail = ex->add_subcommand(
      "tail",
      "Follow an execution's output until it finishes (exit 1 unless it succeeded); for a "
      "workflow, each task's output as the tasks run, every line prefixed with [task]");
  tail->add_option("ID", *id, "Execution id")->required();
  tail->callback([flags, id] {
    ApiClient api(*flags);
    const std::string path = "/v1/executions/" + api::UrlEncode(*id);
    Json first = Expect("execution tail", api.Call("GET", path));
    if (first.contains("children")) {
      Json e = TailWorkflow(*flags, api, *id);
      std::cerr << "execution " << *id << " " << Colored(e.value("status", "")) << '\n';
      if (e.value("status", "") != "succeeded") throw CLI::RuntimeError(1);
      return;
    }
    auto status = api.Stream(path + "/output?follow=true", [](const std::string& data) {
      std::cout << data << std::flush;
      return true;
    });
    if (!status.ok()) Fail("execution tail", status.message());
    if (*status != 200) {
      Expect("execution tail", api.Call("GET", path));  // prints the API's reason
      Fail("execution tail", "HTTP " + std::to_string(*status));
    }
    Json e = Wait("execution tail", api, *id);
    std::cerr << "execution " << *id << " " << Colored(e.value("status", "")) << '\n';
    if (e.value("status", "") != "succeeded") throw CLI::RuntimeError(1);
  });

  auto* cancel = ex->add_subcommand("cancel", "Cancel a requested or running execution");
  cancel->add_option("ID", *id, "Execution id")->required();
  cancel->callback([flags, id] {
    ApiClient api(*flags);
    Json e =
        Expect("execution cancel", api.Call("DELETE", "/v1/executions/" + api::UrlEncode(*id)));
    std::cout << "execution " << *id << " " << e.value("status", "") << '\n';
  });

  // Pause and resume a workflow (StackStorm's `st2 execution pause|resume`).
  for (const bool pause : {true, false}) {
    const std::string verb = pause ? "pause" : "resume";
    auto* cmd = ex->add_subcommand(
        verb, pause ? "Pause a running workflow: no new task starts; it is paused once its "
                      "running task has ended"
                    : "Resume a paused workflow: its next task is requested and it runs on");
    cmd->add_option("ID", *id, "Workflow execution id")->required();
    cmd->callback([flags, id, pause, verb] {
      ApiClient api(*flags);
      Json body = {{"status", pause ? "pausing" : "resuming"}};
      Json e = Expect("execution " + verb,
                      api.Call("PUT", "/v1/executions/" + api::UrlEncode(*id), &body));
      std::cout << "execution " << *id << " " << e.value("status", "") << '\n';
    });
  }

  auto rerun_args = std::make_shared<RunArgs>();
  auto* rerun = ex->add_subcommand(
      "rerun", "Run an execution's action again with its parameters (key=value overrides)");
  rerun->add_option("ID", rerun_args->action, "Execution id")->required();
  rerun->add_option("PARAMS", rerun_args->params, "key=value overrides");
  rerun->add_flag("--async", rerun_args->async, "Print the new execution id and return at once");
  rerun->add_flag("--json", rerun_args->json, "Print the execution as JSON");
  rerun->callback([flags, rerun_args] {
    ApiClient api(*flags);
    const std::string path = "/v1/executions/" + api::UrlEncode(rerun_args->action);
    Json old = Expect("execution rerun", api.Call("GET", path));
    Json body = {{"parameters", ParseParameters("execution rerun", api, old.value("action", ""),
                                                rerun_args->params)}};
    Json created = Expect("execution rerun", api.Call("POST", path + "/re_run", &body), 201);
    Finish("execution rerun", api, created, rerun_args->async, rerun_args->json);
  });
}

}  // namespace gale::cli
