#include "directory_sensor.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <system_error>

namespace examples {
namespace fs = std::filesystem;

namespace {

std::string IsoTime(fs::file_time_type t) {
  auto sys = std::chrono::file_clock::to_sys(t);
  auto secs = std::chrono::floor<std::chrono::seconds>(sys);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(sys - secs).count();
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06lldZ", buf, static_cast<long long>(micros));
  return out;
}

}  // namespace

void DirectorySensor::setup() {
  // Missing watched directories are created, so they belong to the user sensors and actions
  // run as (output_context then may write its log beside them, as in the README's quickstart).
  for (const auto& dir : Directories()) {
    std::error_code ec;
    fs::create_directories(dir, ec);
  }
  cached_ = List();
}

std::vector<std::string> DirectorySensor::Directories() {
  std::vector<std::string> out;
  gale::plugin::Json config = sensor_service().config();
  // StackStorm's mypack nests the list under `sensor:`; accept both spellings.
  gale::plugin::Json dirs = config.value("directories", gale::plugin::Json());
  if (dirs.is_null() && config.contains("sensor"))
    dirs = config["sensor"].value("directories", gale::plugin::Json());
  if (!dirs.is_array()) return out;
  for (const auto& dir : dirs) {
    if (dir.is_string()) out.push_back(dir.get<std::string>());
  }
  return out;
}

void DirectorySensor::poll() {
  Listing current = List();
  for (const auto& [path, info] : cached_) {
    if (!current.contains(path)) Dispatch(path, info.time, "deleted");
  }
  for (const auto& [path, info] : current) {
    auto old = cached_.find(path);
    if (old == cached_.end()) {
      Dispatch(path, info.time, "created");
    } else if (!(old->second == info)) {
      Dispatch(path, info.time, "modified");
    }
  }
  cached_ = std::move(current);
}

DirectorySensor::Listing DirectorySensor::List() {
  Listing listing;
  for (const auto& dir : Directories()) {
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code fec;
      if (!it->is_regular_file(fec)) continue;
      auto mtime = it->last_write_time(fec);
      if (fec) continue;  // removed between listing and stat: the next poll reports it
      listing[it->path().string()] = FileInfo{IsoTime(mtime), it->file_size(fec)};
    }
  }
  return listing;
}

void DirectorySensor::Dispatch(const std::string& path, const std::string& time,
                               const char* status) {
  gale::plugin::Json payload = {{"path", path}, {"time", time}, {"status", status}};
#ifdef GALE_EXAMPLES_BUILD_TAG
  // Set only by the live-reload test, which swaps in a rebuilt library and looks for this field.
  payload["build"] = GALE_EXAMPLES_BUILD_TAG;
#endif
  sensor_service().dispatch("examples.changed_file", payload);
}

}  // namespace examples
