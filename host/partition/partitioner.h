// Which sensors (and timers) this node runs: StackStorm's sensor partition providers, named and
// configured as in StackStorm (sensors.partition_provider, sensor_node_name), plus `auto`.
//   default  every sensor runs here (one node, or every node runs everything)
//   file     partition_file: a YAML map  node name -> [sensor refs]
//   kvstore  datastore key `<sensor_node_name>.sensor_partition` (system scope), "a.S1,b.S2"
//   hash     hash_ranges: "min..1024|2048..max" over StackStorm's 32-bit hash of the ref
//   auto     the ref's slot (one partition of gale.sensor-owners) is assigned to this node by
//            the gale.sensor-owners consumer group; a dead node's slots move to live ones
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "host/bus/bus.h"
#include "host/common/result.h"
#include "host/config/config.h"
#include "host/store/store.h"

namespace gale::partition {

class Partitioner {
 public:
  virtual ~Partitioner() = default;
  virtual std::string_view provider() const = 0;
  // Re-reads what the provider's assignment comes from (the kvstore key); the others keep what
  // they read at start, as StackStorm does. Errors keep the previous assignment.
  virtual Status Refresh() { return Status::Ok(); }
  // Whether `ref` (a sensor ref, or a timer's ref) runs on this node now.
  virtual bool Owns(const std::string& ref) const = 0;

  std::vector<std::string> Select(const std::vector<std::string>& refs) const;
};

// Called (on the provider's own thread) when the owned set may have changed. `revoking` is true
// while slots are being taken away: the callee must stop what it no longer owns before it
// returns, since only then may another node start it.
using OwnershipChanged = std::function<void(bool revoking)>;

struct PartitionerOptions {
  config::SensorsConfig config;   // provider, sensor_node_name, partition_file, hash_ranges
  store::Store* store = nullptr;  // kvstore; not owned
  bus::BusConfig bus;             // auto
  int slots = 64;                 // auto: partitions of gale.sensor-owners
  OwnershipChanged on_change;     // auto
};

// The configured provider, ready to answer Owns(). Bad settings are one line naming them:
// "sensors.partition_file /etc/gale/p.yaml:3: expected a list of sensor refs under 'node-1'".
Result<std::unique_ptr<Partitioner>> MakePartitioner(PartitionerOptions options);

// The `auto` slot of a ref (a stable hash modulo `slots`), the same on every node.
int SlotOf(std::string_view ref, int slots);

}  // namespace gale::partition
