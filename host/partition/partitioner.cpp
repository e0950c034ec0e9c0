#include "host/partition/partitioner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>

#include "host/common/yaml_json.h"
#include "host/partition/hash_ranges.h"
#include "host/partition/slot_owner.h"

namespace gale::partition {
namespace {

class DefaultPartitioner : public Partitioner {
 public:
  std::string_view provider() const override { return "default"; }
  bool Owns(const std::string&) const override { return true; }
};

// A fixed set of refs, read once (file) or re-read on Refresh kvstore.
class ListPartitioner : public Partitioner {
 public:
  ListPartitioner(std::string_view provider, std::set<std::string> refs)
      : provider_(provider), refs_(std::move(refs)) {}
  std::string_view provider() const override { return provider_; }
  bool Owns(const std::string& ref) const override {
    std::lock_guard lock(mu_);
    return refs_.contains(ref);
  }

 protected:
  void Set(std::set<std::string> refs) {
    std::lock_guard lock(mu_);
    refs_ = std::move(refs);
  }

 private:
  std::string_view provider_;
  mutable std::mutex mu_;
  std::set<std::string> refs_;
};

// StackStorm's FileBasedPartitioner: the refs listed under this node's name.
Result<std::unique_ptr<Partitioner>> FilePartitioner(const config::SensorsConfig& c) {
  const std::string where = "sensors.partition_file " + c.partition_file;
  if (c.partition_file.empty()) {
    return Status::Error("sensors.partition_provider file needs sensors.partition_file");
  }
  auto doc = LoadYamlFile(c.partition_file);
  if (!doc.ok()) return doc.status().WithContext("sensors.partition_file");
  if (!doc->json.is_object()) {
    return Status::Error(where + ": expected a map of node name -> list of sensor refs");
  }
  std::set<std::string> refs;
  if (doc->json.contains(c.sensor_node_name)) {
    const Json& list = doc->json[c.sensor_node_name];
    const std::string pointer = "/" + c.sensor_node_name;
    if (!list.is_array() && !list.is_null()) {
      return Status::Error(c.partition_file + ":" + std::to_string(doc->LineOf(pointer)) +
                           ": expected a list of sensor refs under '" + c.sensor_node_name + "'");
    }
    for (const Json& ref : list.is_array() ? list : Json::array()) {
      if (!ref.is_string()) {
        return Status::Error(c.partition_file + ":" + std::to_string(doc->LineOf(pointer)) +
                             ": sensor refs are strings (pack.SensorClass), got " + ref.dump());
      }
      refs.insert(ref.get<std::string>());
    }
  } else {
    spdlog::warn("{}: no entry for node '{}': no sensors run here", where, c.sensor_node_name);
  }
  return std::unique_ptr<Partitioner>(new ListPartitioner("file", std::move(refs)));
}

// StackStorm's KVStorePartitioner: `<sensor_node_name>.sensor_partition` = "a.S1, b.S2".
class KvStorePartitioner : public ListPartitioner {
 public:
  KvStorePartitioner(store::Store* store, std::string node)
      : ListPartitioner("kvstore", {}), store_(store), key_(node + ".sensor_partition") {}
  Status Refresh() override {
    auto got = store_->GetKey({key_, store::KeyScope::kSystem, ""}, store::NowMs());
    if (!got.ok()) return got.status().WithContext("sensor partition key " + key_);
    std::set<std::string> refs;
    if (got->has_value()) {
      const std::string& v = (*got)->value;
      size_t start = 0;
      while (start <= v.size()) {
        size_t comma = v.find(',', start);
        if (comma == std::string::npos) comma = v.size();
        std::string ref = v.substr(start, comma - start);
        ref.erase(0, ref.find_first_not_of(" \t"));
        ref.erase(ref.find_last_not_of(" \t") + 1);
        if (!ref.empty()) refs.insert(ref);
        start = comma + 1;
      }
    } else if (!warned_) {
      warned_ = true;
      spdlog::warn("datastore key {} (st2kv.system) is not set: no sensors run here", key_);
    }
    Set(std::move(refs));
    return Status::Ok();
  }

 private:
  store::Store* store_;
  std::string key_;
  bool warned_ = false;
};

class HashPartitioner : public Partitioner {
 public:
  explicit HashPartitioner(std::vector<HashRange> ranges) : ranges_(std::move(ranges)) {}
  std::string_view provider() const override { return "hash"; }
  bool Owns(const std::string& ref) const override { return InRanges(ranges_, St2SensorHash(ref)); }

 private:
  std::vector<HashRange> ranges_;
};

}  // namespace

std::vector<std::string> Partitioner::Select(const std::vector<std::string>& refs) const {
  std::vector<std::string> owned;
  std::copy_if(refs.begin(), refs.end(), std::back_inserter(owned),
               [&](const std::string& r) { return Owns(r); });
  return owned;
}

int SlotOf(std::string_view ref, int slots) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64
  for (unsigned char c : ref) h = (h ^ c) * 1099511628211ull;
  return static_cast<int>(h % static_cast<uint64_t>(std::max(1, slots)));
}

Result<std::unique_ptr<Partitioner>> MakePartitioner(PartitionerOptions options) {
  const config::SensorsConfig& c = options.config;
  const std::string& p = c.partition_provider;
  if (p.empty() || p == "default") return std::unique_ptr<Partitioner>(new DefaultPartitioner);
  if (p == "file") return FilePartitioner(c);
  if (p == "kvstore") {
    if (options.store == nullptr)
      return Status::Error("sensors.partition_provider kvstore: no store");
    auto kv = std::make_unique<KvStorePartitioner>(options.store, c.sensor_node_name);
    GALE_TRY(kv->Refresh());
    return std::unique_ptr<Partitioner>(std::move(kv));
  }
  if (p == "hash") {
    if (c.hash_ranges.empty()) {
      return Status::Error(
          "sensors.partition_provider hash needs sensors.hash_ranges "
          "(e.g. \"min..2147483648\")");
    }
    auto ranges = ParseHashRanges(c.hash_ranges);
    if (!ranges.ok()) return ranges.status().WithContext("sensors.hash_ranges");
    return std::unique_ptr<Partitioner>(new HashPartitioner(std::move(ranges).value()));
  }
  if (p == "auto") {
    GALE_ASSIGN_OR_RETURN(auto owner,
                          SlotOwner::Start(options.bus, options.slots, std::move(options.on_change),
                                           c.sensor_node_name));
    return std::unique_ptr<Partitioner>(std::move(owner));
  }
  return Status::Error("sensors.partition_provider: unknown provider '" + p +
                       "' (default, file, kvstore, hash, auto)");
}

}  // namespace gale::partition
