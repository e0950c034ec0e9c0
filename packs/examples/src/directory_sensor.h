#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "plugin_api/sensor.h"

namespace examples {

// The seed's DirectorySensor: diffs a listing of the configured directories on every poll.
class DirectorySensor : public gale::plugin::PollingSensor {
 public:
  using PollingSensor::PollingSensor;
  void setup() override;
  void poll() override;

 private:
  // path -> modification time (ISO 8601) and size; a change in either is a modification.
  struct FileInfo {
    std::string time;
    std::uintmax_t size = 0;
    bool operator==(const FileInfo&) const = default;
  };
  using Listing = std::map<std::string, FileInfo>;

  Listing List();
  std::vector<std::string> Directories();  // from the pack config
  void Dispatch(const std::string& path, const std::string& time, const char* status);

  Listing cached_;
};

}  // namespace examples
