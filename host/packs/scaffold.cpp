#include "host/packs/scaffold.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>

namespace gale::packs {
namespace fs = std::filesystem;
namespace {

// Templates: @NAME@ is the pack ref, @GALE_HINT@ the find_package hint.
constexpr const char* kPackYaml = R"(---
ref: @NAME@
name: @NAME@
description: A Gale pack scaffolded by `gale pack init`.
version: 0.1.0
author: you
)";

constexpr const char* kConfigYaml = R"(---
# Read by the sensor and the action through their service's config().
message: hello from @NAME@
log: /tmp/@NAME@.log
)";

constexpr const char* kSensorYaml = R"(---
class_name: TickSensor
entry_point: lib@NAME@.so
description: Fires @NAME@.tick on every poll.
poll_interval: 10
trigger_types:
  - name: tick
    description: One poll of TickSensor.
    payload_schema:
      type: object
      properties:
        count:
          type: integer
        message:
          type: string
      required: [count, message]
)";

constexpr const char* kActionYaml = R"(---
name: write_line
pack: @NAME@
runner_type: native
entry_point: write_line
description: Appends `line` to the file named by the pack config's `log`.
enabled: true
parameters:
  line:
    type: string
    required: true
)";

constexpr const char* kRuleYaml = R"(---
name: on_tick
pack: @NAME@
description: Write a line for every tick.
enabled: true
trigger:
  type: @NAME@.tick
criteria:
  trigger.count:
    type: greaterthan
    pattern: 0
action:
  ref: @NAME@.write_line
  parameters:
    line: "{{ trigger.message }} #{{ trigger.count }}"
)";

constexpr const char* kPackCpp = R"(// The @NAME@ pack: one polling sensor and one native action.
#include <fstream>

#include "plugin_api/pack.h"

namespace {

using gale::plugin::ActionResult;
using gale::plugin::Json;

// Called by Gale every poll_interval seconds (sensors/tick_sensor.yaml).
class TickSensor : public gale::plugin::PollingSensor {
 public:
  using PollingSensor::PollingSensor;
  void poll() override {
    Json config = sensor_service().config();
    sensor_service().dispatch("@NAME@.tick",
                              {{"count", ++count_}, {"message", config.value("message", "tick")}});
  }

 private:
  long long count_ = 0;
};

// Runs in a sandboxed subprocess; parameters are validated against actions/write_line.yaml.
class WriteLine : public gale::plugin::Action {
 public:
  using Action::Action;
  ActionResult run(const Json& parameters) override {
    std::string path = action_service().config().value("log", "");
    if (path.empty()) return ActionResult::failure("set `log` in config.yaml");
    std::ofstream out(path, std::ios::app);
    out << parameters.value("line", "") << '\n';
    if (!out) return ActionResult::failure("cannot write " + path);
    return ActionResult::success({{"written_to", path}});
  }
};

void RegisterPack(gale::plugin::PackRegistry& pack) {
  pack.sensor<TickSensor>("TickSensor");
  pack.action<WriteLine>("write_line");
}

}  // namespace

GALE_PACK(RegisterPack)
)";

constexpr const char* kCMakeLists = R"(cmake_minimum_required(VERSION 3.20)
project(@NAME@_pack LANGUAGES CXX)

# Gale's CMake package gives Gale::plugin_api and gale_add_pack(). Elsewhere, point
# CMAKE_PREFIX_PATH (or Gale_DIR) at an installed Gale.
find_package(Gale REQUIRED HINTS "@GALE_HINT@")

# Assembles <build>/packs/@NAME@/ (YAML + lib@NAME@.so): run `gale pack list --packs <build>/packs`.
gale_add_pack(@NAME@ SOURCES src/pack.cpp)
)";

constexpr const char* kReadme = R"(# @NAME@

A Gale pack. Build it and check that Gale loads it:

    cmake -S . -B build -G Ninja && cmake --build build
    gale pack list --packs build/packs

Then copy `build/packs/@NAME@` into a directory on the node's `packs.paths`.
)";

std::string ReplaceAll(std::string text, std::string_view from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
    text.replace(at, from.size(), to);
    at += to.size();
  }
  return text;
}

std::string Fill(std::string text, const ScaffoldOptions& o) {
  text = ReplaceAll(std::move(text), "@NAME@", o.name);
  return ReplaceAll(std::move(text), "@GALE_HINT@", o.gale_cmake_dir);
}

// [a-z][a-z0-9_]*
bool IsPackName(const std::string& name) {
  if (name.empty() || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

}  // namespace

Result<std::string> ScaffoldPack(const ScaffoldOptions& options) {
  if (!IsPackName(options.name)) {
    return Status::Error("invalid pack name '" + options.name +
                         "': use lower-case letters, digits and underscores, starting with a "
                         "letter");
  }
  const fs::path dir = fs::path(options.parent.empty() ? "." : options.parent) / options.name;
  std::error_code ec;
  if (fs::exists(dir, ec)) return Status::Error(dir.string() + ": already exists");
  const std::pair<const char*, const char*> files[] = {
      {"pack.yaml", kPackYaml},
      {"config.yaml", kConfigYaml},
      {"sensors/tick_sensor.yaml", kSensorYaml},
      {"actions/write_line.yaml", kActionYaml},
      {"rules/on_tick.yaml", kRuleYaml},
      {"src/pack.cpp", kPackCpp},
      {"CMakeLists.txt", kCMakeLists},
      {"README.md", kReadme},
  };
  for (const auto& [name, text] : files) {
    const fs::path path = dir / name;
    fs::create_directories(path.parent_path(), ec);
    if (ec) return Status::Error(path.parent_path().string() + ": cannot create: " + ec.message());
    std::ofstream out(path);
    out << Fill(text, options);
    if (!out) return Status::Error(path.string() + ": cannot write: " + std::strerror(errno));
  }
  return dir.string();
}

}  // namespace gale::packs
