#include "host/packs/orquesta_spec.h"

#include <cctype>
#include <set>

#include "host/common/json_pointer.h"
#include "host/common/yaml_json.h"
#include "host/expr/workflow_expr.h"

namespace gale::packs {

const OrquestaTask* OrquestaWorkflow::Find(const std::string& name) const {
  for (const auto& t : tasks) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

int OrquestaWorkflow::Inbound(const std::string& task) const {
  int n = 0;
  for (const auto& t : tasks) {
    for (const auto& next : t.next) {
      for (const auto& target : next.targets) n += target == task ? 1 : 0;
    }
  }
  return n;
}

bool IsOrquestaCommand(const std::string& target) {
  return target == "fail" || target == "noop" || target == "retry" || target == "continue";
}

// Named, not anonymous: unity builds join this file with its neighbours.
namespace orquesta_spec_internal {

std::string OrqTrim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// A plain inline value as YAML reads a plain scalar: numbers and booleans typed, else text.
Json OrqPlainValue(const std::string& text) {
  auto parsed = ParseYaml("v: " + text, "inline");
  if (parsed.ok() && parsed->json.is_object() && parsed->json.contains("v") &&
      !parsed->json["v"].is_null()) {
    const Json& v = parsed->json["v"];
    if (v.is_primitive()) return v;
  }
  return text;
}

class OrqReader {
 public:
  OrqReader(const std::string& path, const YamlDocument& doc, std::vector<std::string>* errors)
      : path_(path), doc_(doc), errors_(errors) {}

  std::string At(const std::string& pointer, int extra_lines = 0) const {
    return path_ + ":" + std::to_string(doc_.LineOf(pointer) + extra_lines) + ": ";
  }
  void Error(const std::string& pointer, const std::string& message) {
    errors_->push_back(At(pointer) + message);
  }
  int Line(const std::string& pointer) const { return doc_.LineOf(pointer); }

  // Every string under `value` must parse as a workflow expression (or be plain text).
  void CheckExpressions(const Json& value, const std::string& pointer) {
    if (value.is_string()) {
      CheckExpression(value.get<std::string>(), pointer);
    } else if (value.is_object()) {
      for (const auto& [k, v] : value.items()) {
        CheckExpression(k, pointer + PointerStep(k));
        CheckExpressions(v, pointer + PointerStep(k));
      }
    } else if (value.is_array()) {
      for (size_t i = 0; i < value.size(); ++i) {
        CheckExpressions(value[i], pointer + "/" + std::to_string(i));
      }
    }
  }
  void CheckExpression(const std::string& text, const std::string& pointer) {
    if (!expr::HasWorkflowExpression(text)) return;
    expr::SourcePosition pos;
    auto parsed = expr::WorkflowExpression::Parse(text, &pos);
    if (!parsed.ok()) errors_->push_back(At(pointer, pos.line - 1) + parsed.message());
  }

  // `input`, `vars`, `output`, `publish`: a list of names or one-key maps, or a map.
  std::vector<std::pair<std::string, Json>> Pairs(const Json& value, const std::string& pointer,
                                                  const std::string& what, bool names_allowed) {
    std::vector<std::pair<std::string, Json>> out;
    if (value.is_null()) return out;
    if (value.is_object()) {
      for (const auto& [k, v] : value.items()) {
        CheckExpressions(v, pointer + PointerStep(k));
        out.emplace_back(k, v);
      }
      return out;
    }
    if (!value.is_array()) {
      Error(pointer, what + " must be a list");
      return out;
    }
    for (size_t i = 0; i < value.size(); ++i) {
      const std::string p = pointer + "/" + std::to_string(i);
      const Json& item = value[i];
      if (names_allowed && item.is_string()) {
        out.emplace_back(item.get<std::string>(), Json());
      } else if (item.is_object() && item.size() == 1) {
        const auto it = item.begin();
        CheckExpressions(it.value(), p + PointerStep(it.key()));
        out.emplace_back(it.key(), it.value());
      } else {
        Error(p, what + (names_allowed ? " items must be names or one-key maps"
                                       : " items must be one-key maps"));
      }
    }
    return out;
  }

  // A number of seconds or a count: a non-negative number or an expression.
  Json NumberOrExpression(const Json& value, const std::string& pointer, const std::string& what) {
    if (value.is_number() && value.get<double>() >= 0) return value;
    if (value.is_string() && expr::HasWorkflowExpression(value.get<std::string>())) {
      CheckExpression(value.get<std::string>(), pointer);
      return value;
    }
    Error(pointer, what + " must be a non-negative number or an expression");
    return Json();
  }

  void ReadWith(OrquestaTask& task, const Json& with, const std::string& p) {
    task.with_items = true;
    Json items;
    if (with.is_string()) {
      items = with;
    } else if (with.is_object()) {
      for (const auto& [k, v] : with.items()) {
        if (k == "items") {
          items = v;
        } else if (k == "concurrency") {
          task.concurrency = NumberOrExpression(v, p + "/concurrency", "with.concurrency");
        } else {
          Error(p + PointerStep(k),
                "task '" + task.name + "': unknown key 'with." + k + "' (items, concurrency)");
        }
      }
    }
    if (!items.is_string()) {
      Error(p, "task '" + task.name + "': with needs items: an expression, or 'x in <% ... %>'");
      return;
    }
    std::string text = items.get<std::string>();
    // "x, y in <% expr %>": the names before the first expression's " in ".
    const size_t open = std::min(text.find("<%"), text.find("{{"));
    const size_t in = text.rfind(" in ", open);
    if (open != std::string::npos && in != std::string::npos) {
      std::string names = text.substr(0, in);
      text = OrqTrim(text.substr(in + 4));
      size_t start = 0;
      while (start <= names.size()) {
        size_t comma = names.find(',', start);
        std::string name = OrqTrim(names.substr(start, comma - start));
        bool ok = !name.empty();
        for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
        if (!ok) Error(p, "task '" + task.name + "': with items: bad item name '" + name + "'");
        task.item_names.push_back(name);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    if (!expr::HasWorkflowExpression(text)) {
      Error(p, "task '" + task.name + "': with items must be an expression: '" + text + "'");
    }
    CheckExpression(text, with.is_object() ? p + "/items" : p);
    task.items = text;
  }

  void ReadRetry(OrquestaTask& task, const Json& retry, const std::string& p) {
    task.has_retry = true;
    if (!retry.is_object()) {
      Error(p, "task '" + task.name + "': retry must be a mapping (when, count, delay)");
      return;
    }
    for (const auto& [k, v] : retry.items()) {
      const std::string kp = p + PointerStep(k);
      if (k == "when") {
        if (!v.is_string()) {
          Error(kp, "task '" + task.name + "': retry.when must be an expression");
        } else {
          task.retry_when = v.get<std::string>();
          CheckExpression(task.retry_when, kp);
        }
      } else if (k == "count") {
        task.retry_count = NumberOrExpression(v, kp, "retry.count");
      } else if (k == "delay") {
        task.retry_delay = NumberOrExpression(v, kp, "retry.delay");
      } else {
        Error(kp, "task '" + task.name + "': unknown key 'retry." + k + "' (when, count, delay)");
      }
    }
    if (!retry.contains("count")) Error(p, "task '" + task.name + "': retry needs a count");
  }

  void ReadNext(OrquestaTask& task, const Json& next, const std::string& p) {
    if (!next.is_array()) {
      Error(p, "task '" + task.name + "': next must be a list of {when, publish, do}");
      return;
    }
    for (size_t i = 0; i < next.size(); ++i) {
      const std::string np = p + "/" + std::to_string(i);
      const Json& n = next[i];
      if (!n.is_object()) {
        Error(np, "task '" + task.name + "': a next entry must be a mapping (when, publish, do)");
        continue;
      }
      OrquestaTransition t;
      t.line = Line(np);
      for (const auto& [k, v] : n.items()) {
        const std::string kp = np + PointerStep(k);
        if (k == "when") {
          if (!v.is_string()) {
            Error(kp, "task '" + task.name + "': when must be an expression");
          } else {
            t.when = v.get<std::string>();
            if (!expr::HasWorkflowExpression(t.when)) {
              Error(kp, "task '" + task.name + "': when must be an expression: '" + t.when + "'");
            }
            CheckExpression(t.when, kp);
          }
        } else if (k == "publish") {
          t.publish = Pairs(v, kp, "publish", false);
        } else if (k == "do") {
          if (v.is_string()) {
            std::string s = v.get<std::string>();
            size_t start = 0;
            while (start <= s.size()) {
              size_t comma = s.find(',', start);
              std::string name = OrqTrim(s.substr(start, comma - start));
              if (!name.empty()) t.targets.push_back(name);
              if (comma == std::string::npos) break;
              start = comma + 1;
            }
          } else if (v.is_array()) {
            for (const auto& d : v) {
              if (d.is_string()) {
                t.targets.push_back(d.get<std::string>());
              } else {
                Error(kp, "task '" + task.name + "': do lists task names");
              }
            }
          } else {
            Error(kp, "task '" + task.name + "': do must be a task name or a list of them");
          }
        } else {
          Error(kp,
                "task '" + task.name + "': unknown key '" + k + "' in next (when, publish, do)");
        }
      }
      task.next.push_back(std::move(t));
    }
  }

  OrquestaTask ReadTask(const std::string& name, const Json& spec, const std::string& p) {
    OrquestaTask task;
    task.name = name;
    task.line = Line(p);
    if (!spec.is_object()) {
      if (!spec.is_null()) Error(p, "task '" + name + "' must be a mapping");
      return task;
    }
    for (const auto& [k, v] : spec.items()) {
      const std::string kp = p + PointerStep(k);
      if (k == "action") {
        task.action_line = Line(kp);
        if (!v.is_string()) {
          Error(kp, "task '" + name + "': action must be an action ref");
          continue;
        }
        Json inline_params = Json::object();
        Status s = SplitInlineAction(v.get<std::string>(), &task.action, &inline_params);
        if (!s.ok()) Error(kp, "task '" + name + "': " + s.message());
        for (const auto& [pk, pv] : inline_params.items()) {
          if (pv.is_string()) CheckExpression(pv.get<std::string>(), kp);
          task.input[pk] = pv;
        }
      } else if (k == "input") {
        if (!v.is_object()) {
          Error(kp, "task '" + name + "': input must be a mapping");
          continue;
        }
        CheckExpressions(v, kp);
        for (const auto& [ik, iv] : v.items()) task.input[ik] = iv;
      } else if (k == "next") {
        ReadNext(task, v, kp);
      } else if (k == "join") {
        if (v == "all") {
          task.join = -1;
        } else if (v.is_number_integer() && v.get<int64_t>() > 0) {
          task.join = static_cast<int>(v.get<int64_t>());
        } else {
          Error(kp, "task '" + name + "': join must be 'all' or a positive count");
        }
      } else if (k == "with") {
        ReadWith(task, v, kp);
      } else if (k == "retry") {
        ReadRetry(task, v, kp);
      } else if (k == "delay") {
        task.delay = NumberOrExpression(v, kp, "delay");
      } else {
        Error(kp, "task '" + name + "': unknown key '" + k +
                      "' (action, input, next, join, with, retry, delay)");
      }
    }
    if (task.action.empty() && task.with_items) {
      Error(p, "task '" + name + "': with items needs an action");
    }
    // Not supported (rather than ignored): retrying a with-items task, by retry or do: retry.
    if (task.with_items && task.has_retry) {
      Error(p + "/retry", "task '" + name + "': retry on a with-items task is not supported");
    }
    for (size_t i = 0; task.with_items && i < task.next.size(); ++i) {
      for (const auto& target : task.next[i].targets) {
        if (target == "retry") {
          Error(p + "/next/" + std::to_string(i) + "/do",
                "task '" + name + "': do: retry on a with-items task is not supported");
        }
      }
    }
    return task;
  }

 private:
  const std::string& path_;
  const YamlDocument& doc_;
  std::vector<std::string>* errors_;
};

}  // namespace orquesta_spec_internal

using namespace orquesta_spec_internal;

Status SplitInlineAction(const std::string& line, std::string* ref, Json* parameters) {
  size_t i = 0;
  const size_t n = line.size();
  auto space = [&](size_t k) { return std::isspace(static_cast<unsigned char>(line[k])) != 0; };
  while (i < n && space(i)) ++i;
  size_t start = i;
  while (i < n && !space(i)) ++i;
  *ref = line.substr(start, i - start);
  while (true) {
    while (i < n && space(i)) ++i;
    if (i >= n) return Status::Ok();
    size_t eq = line.find('=', i);
    if (eq == std::string::npos) {
      return Status::Error("inline parameter without '=': '" + line.substr(i) + "'");
    }
    std::string key = line.substr(i, eq - i);
    for (char c : key) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
        return Status::Error("bad inline parameter name '" + key + "'");
      }
    }
    i = eq + 1;
    std::string value;
    auto until = [&](const std::string& close, size_t skip) -> bool {
      size_t end = line.find(close, i + skip);
      if (end == std::string::npos) return false;
      value = line.substr(i, end + close.size() - i);
      i = end + close.size();
      return true;
    };
    if (line.compare(i, 2, "<%") == 0) {
      if (!until("%>", 2)) return Status::Error("unterminated '<%' in inline parameter " + key);
      (*parameters)[key] = value;
    } else if (line.compare(i, 2, "{{") == 0) {
      if (!until("}}", 2)) return Status::Error("unterminated '{{' in inline parameter " + key);
      (*parameters)[key] = value;
    } else if (i < n && (line[i] == '"' || line[i] == '\'')) {
      const std::string quote(1, line[i]);
      if (!until(quote, 1)) return Status::Error("unterminated quote in inline parameter " + key);
      (*parameters)[key] = value.substr(1, value.size() - 2);
    } else {
      size_t s = i;
      while (i < n && !space(i)) ++i;
      (*parameters)[key] = OrqPlainValue(line.substr(s, i - s));
    }
  }
}

Result<std::shared_ptr<const OrquestaWorkflow>> ReadOrquestaWorkflow(
    const std::string& path, std::vector<std::string>* errors) {
  auto loaded = LoadYamlFile(path);
  if (!loaded.ok()) {
    errors->push_back(loaded.message());
    return loaded.status();
  }
  const YamlDocument& doc = *loaded;
  OrqReader r(path, doc, errors);
  auto wf = std::make_shared<OrquestaWorkflow>();
  wf->file = path;
  const Json& j = doc.json;
  if (!j.is_object() || !j.contains("tasks") || !j["tasks"].is_object() || j["tasks"].empty()) {
    errors->push_back(r.At("") + "an Orquesta workflow needs a non-empty `tasks:` mapping");
    return Status::Error(errors->back());
  }
  for (const auto& [key, value] : j.items()) {
    static const std::set<std::string> kKnown{"version", "description", "input",
                                              "vars",    "output",      "tasks"};
    if (!kKnown.contains(key)) {
      r.Error(PointerStep(key), "unknown key '" + key +
                                    "' (an Orquesta workflow has version, description, "
                                    "input, vars, output and tasks)");
    }
  }
  const Json version = j.value("version", Json());
  if (!(version == "1.0" || version == 1.0 || version == 1)) {
    r.Error(j.contains("version") ? "/version" : "",
            "version must be 1.0 (Orquesta's workflow language version)");
  }
  if (j.contains("input")) wf->input = r.Pairs(j["input"], "/input", "input", true);
  if (j.contains("vars")) wf->vars = r.Pairs(j["vars"], "/vars", "vars", false);
  if (j.contains("output")) wf->output = r.Pairs(j["output"], "/output", "output", false);
  for (const auto& [name, spec] : j["tasks"].items()) {
    if (IsOrquestaCommand(name)) {
      r.Error("/tasks" + PointerStep(name),
              "a task may not be named '" + name + "' (an engine command)");
    }
    wf->tasks.push_back(r.ReadTask(name, spec, "/tasks" + PointerStep(name)));
  }
  for (const auto& task : wf->tasks) {
    for (size_t i = 0; i < task.next.size(); ++i) {
      for (const auto& target : task.next[i].targets) {
        if (IsOrquestaCommand(target) || wf->Find(target)) continue;
        r.Error("/tasks" + PointerStep(task.name) + "/next/" + std::to_string(i) + "/do",
                "task '" + task.name + "': do names no task: '" + target + "'");
      }
    }
    if (task.join != 0 && wf->Inbound(task.name) == 0) {
      r.Error("/tasks" + PointerStep(task.name) + "/join",
              "task '" + task.name + "': join, but no transition leads to it");
    }
  }
  bool any_start = false;
  for (const auto& task : wf->tasks) any_start = any_start || wf->Inbound(task.name) == 0;
  if (!any_start) r.Error("/tasks", "every task has an inbound transition: none starts");
  return std::shared_ptr<const OrquestaWorkflow>(std::move(wf));
}

}  // namespace gale::packs
