#include "host/node/node.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "host/api/api_keys.h"
#include "host/api/api_server.h"
#include "host/bus/bus.h"
#include "host/bus/retention_guard.h"
#include "host/common/key_file.h"
#include "host/node/machine.h"
#include "host/node/pack_snapshots.h"
#include "host/node/pack_watcher.h"
#include "host/node/python_env.h"
#include "host/node/recovery.h"
#include "host/packs/catalog.h"
#include "host/partition/partitioner.h"
#include "host/requests/execution_request.h"
#include "host/requests/trigger_fire.h"
#include "host/rules/engine/rules_engine.h"
#include "host/runner/runner_service.h"
#include "host/sensors/supervisor.h"
#include "host/store/key_cipher.h"
#include "host/store/open.h"
#include "host/store/rule_overrides.h"
#include "host/timers/timer_service.h"
#include "host/workflow/workflow_service.h"

namespace gale::node {
namespace fs = std::filesystem;
namespace {

// The enabled rules of every active pack whose trigger is one of `pack`'s trigger types: what a
// Python sensor's add_trigger() receives ({rule, type, parameters} each). A rule enabled or
// disabled through the API (`overrides`, as stored) counts as such.
Json RuleTriggersFor(const ActivePack& pack, const std::vector<ActivePack>& active,
                     const std::map<std::string, bool>& overrides) {
  std::set<std::string> types;
  for (const auto& t : pack.description.value("trigger_types", Json::array())) {
    types.insert(t.value("ref", ""));
  }
  Json triggers = Json::array();
  for (const auto& other : active) {
    for (const auto& r : other.description.value("rules", Json::array())) {
      const auto overridden = overrides.find(r.value("ref", ""));
      const bool enabled =
          overridden != overrides.end() ? overridden->second : r.value("enabled", true);
      if (!enabled || !types.contains(r.value("trigger", ""))) continue;
      triggers.push_back({{"rule", r.value("ref", "")},
                          {"type", r.value("trigger", "")},
                          {"parameters", r.value("trigger_parameters", Json::object())}});
    }
  }
  return triggers;
}

// What this node's sensor hosts run: each active pack's sensors that the partition provider
// gives this node, with the pack's config as the catalog resolved it (`configs`, by pack ref:
// packs.configs_path over the pack's config.yaml). The version covers the pack without its
// rules/, that set and the config, so a change of any restarts the host; a change of rules, and
// of the rule triggers Python sensors are given, does not (the supervisor sends the host the
// add/update/remove_trigger calls instead).
std::vector<sensors::PackSpec> Specs(const PackSnapshots& snapshots,
                                     const partition::Partitioner& owner,
                                     const std::map<std::string, Json>& configs,
                                     const std::map<std::string, bool>& overrides) {
  std::vector<sensors::PackSpec> specs;
  const std::vector<ActivePack> active = snapshots.Active();
  for (const auto& p : active) {
    std::vector<std::string> owned = owner.Select(p.sensors);
    bool python = false;  // whether an owned sensor is a Python one (its host starts Python)
    for (const auto& s : p.description.value("sensors", Json::array())) {
      python = python || (s.value("runtime", "") == "python" &&
                          std::find(owned.begin(), owned.end(), s.value("ref", "")) != owned.end());
    }
    sensors::PackSpec spec{p.ref, p.dir, owned,
                           fmt::format("{}|{}", p.sensor_version, fmt::join(owned, ",")), python};
    if (python) spec.rule_triggers = RuleTriggersFor(p, active, overrides);
    if (auto config = configs.find(p.ref); config != configs.end()) spec.config = config->second;
    spec.version += "|" + std::to_string(std::hash<std::string>{}(spec.config.dump()));
    specs.push_back(std::move(spec));
  }
  return specs;
}

// The sensors these specs run on this node (for `gale node list`).
std::vector<std::string> SensorsOf(const std::vector<sensors::PackSpec>& specs) {
  std::vector<std::string> owned;
  for (const auto& spec : specs) {
    owned.insert(owned.end(), spec.sensors.begin(), spec.sensors.end());
  }
  return owned;
}

// The active pack copies (already validated; libraries not reopened). Rules are checked here
// across all of them (a validation child checks its own pack only): a rule whose trigger type or
// action no active pack has is refused and logged, and the rest of its pack stays.
packs::Catalog ActiveCatalog(const PackSnapshots& snapshots, const std::string& configs_dir) {
  std::vector<std::string> paths;
  const std::vector<ActivePack> active = snapshots.Active();
  for (const auto& p : active) paths.push_back(fs::path(p.dir).parent_path().string());
  packs::Catalog catalog =
      packs::Catalog::Load(paths, {.inspect_libraries = false, .configs_dir = configs_dir});
  for (const auto& pack : catalog.packs()) {
    auto it = std::find_if(active.begin(), active.end(),
                           [&](const ActivePack& a) { return a.ref == pack.ref; });
    if (it == active.end()) continue;
    for (const auto& r : pack.refused) {
      // Those the validation refused were logged when the pack was activated.
      const std::string file = fs::path(r.file).lexically_relative(pack.dir).string();
      bool logged = false;
      for (const auto& v : it->description.value("refused", Json::array())) {
        logged = logged || v.value("file", "") == file;
      }
      if (logged) continue;
      spdlog::warn("pack {}: {} {} refused (the pack loads without it): {}", pack.ref, r.kind,
                   r.ref, r.errors.empty() ? "invalid" : r.errors[0]);
    }
  }
  return catalog;
}

// Each pack's config as the catalog resolved it, what its actions get as self.config.
std::map<std::string, Json> ConfigsOf(const packs::Catalog& catalog) {
  std::map<std::string, Json> configs;
  for (const auto& pack : catalog.packs()) configs[pack.ref] = pack.config;
  return configs;
}

std::set<std::string> PackDirs(const std::vector<std::string>& paths) {
  std::set<std::string> dirs;
  for (const auto& root : paths) {
    std::error_code ec;
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_directory(ec) && fs::exists(it->path() / "pack.yaml", ec)) {
        dirs.insert(fs::absolute(it->path()).lexically_normal().string());
      }
    }
  }
  return dirs;
}

// Validation children run this many at a time: each is mostly one process start and a little
// YAML, so one or two per core keep start-up with many packs short without swamping the machine.
size_t RefreshParallelism() {
  return std::max(2u, std::thread::hardware_concurrency());
}

void Refresh(PackSnapshots& snapshots, const std::set<std::string>& dirs) {
  const std::vector<std::string> list(dirs.begin(), dirs.end());
  std::vector<std::string> whys;
  const std::vector<RefreshResult> results =
      snapshots.RefreshMany(list, &whys, RefreshParallelism());
  for (size_t i = 0; i < list.size(); ++i) {
    switch (results[i]) {
      case RefreshResult::kActivated:
        spdlog::info("pack {}: loaded", list[i]);
        break;
      case RefreshResult::kRefused:
        spdlog::error("pack {}: refused: {}; the running version (if any) keeps running", list[i],
                      whys[i]);
        break;
      case RefreshResult::kRemoved:
      case RefreshResult::kUnchanged:
        break;
    }
  }
}

std::chrono::milliseconds Seconds(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// A file the node publishes in GALE_HOME for its CLI (bus.addr, api.addr, api.token), removed
// when the node stops.
class PublishedFile {
 public:
  PublishedFile() = default;
  explicit PublishedFile(fs::path path) : path_(std::move(path)) {}
  PublishedFile(PublishedFile&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  PublishedFile& operator=(PublishedFile&& other) noexcept {
    std::swap(path_, other.path_);
    return *this;
  }
  ~PublishedFile() {
    std::error_code ec;
    if (!path_.empty()) fs::remove(path_, ec);
  }

 private:
  fs::path path_;
};

// GALE_HOME/node.lock, held for the node's life: one node per home, since the embedded bus
// address and the store are per home.
class HomeLock {
 public:
  static Result<HomeLock> Take(const std::string& home) {
    const std::string path = (fs::path(home) / "node.lock").string();
    HomeLock lock;
    lock.fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock.fd_ < 0 || flock(lock.fd_, LOCK_EX | LOCK_NB) != 0) {
      return Status::Error(
          fmt::format("another gale node is running with GALE_HOME {} (lock {})", home, path));
    }
    return lock;
  }
  HomeLock() = default;
  HomeLock(HomeLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  HomeLock& operator=(HomeLock&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~HomeLock() {
    if (fd_ >= 0) close(fd_);
  }

 private:
  int fd_ = -1;
};

// One node: its store, bus, packs and roles. Members are destroyed bottom-up, so they are
// declared in the reverse of the order they must stop in: first what brings work in (the pack
// watcher, the API), then what produces triggers (timers, sensor hosts, the sensor ownership
// they hold), then the consumers (rules engine, runner), and last the bus and the store they
// all write to. A start that fails part way leaves the members already started to stop the same
// way, so there is no teardown to keep in step by hand.
class Node {
 public:
  Node(const config::Config& config, std::string gale_binary)
      : config_(config), gale_binary_(std::move(gale_binary)) {}
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Everything the configured roles need, in dependency order; the error is one line.
  Status Start();
  // Every 2 s: the heartbeat (`gale node list`, sensor ownership from the kvstore) and rule
  // enable/disable stored through any node's API.
  void Beat();

 private:
  Status PrepareMachine();
  Status OpenStore();
  Status StartBus();
  Status GuardRetention();
  void LoadPacks();
  Status StartSensors(const packs::Catalog& catalog);
  // Specs() of this node, with the stored rule overrides; under reload_mu_.
  std::vector<sensors::PackSpec> SensorSpecs();
  // Has the supervisor run `specs`, and keeps the pack copies its hosts still run; under
  // reload_mu_.
  void ApplySensors(const std::vector<sensors::PackSpec>& specs);
  Status StartTimers(const packs::Catalog& catalog);
  Status StartRulesEngine(const packs::Catalog& catalog);
  Status StartRunner(const packs::Catalog& catalog);
  // An action's `dispatch` through the datastore (core.inject_trigger): checked against the
  // active trigger types, then fired as the API's webhooks fire.
  Result<Json> DispatchForAction(const datastore::Peer& peer,
                                 const datastore::DispatchRequest& request);
  Status StartApi(const packs::Catalog& catalog);
  void StartWatcher();
  void AnnounceUp();

  // Sensors, rules and actions of a changed pack switch to its new copy together. Called by the
  // watcher's thread and by the API's reload.
  void Reload(const std::set<std::string>& changed);
  // Called on the partitioner's thread when the sensors this node owns may have changed.
  void OnOwnershipChange();
  void ApplyRuleOverrides();
  api::ApiHooks ApiHooksForNode();

  const config::Config& config_;
  const std::string gale_binary_;
  sandbox::Settings sandbox_;
  ActionUser action_user_{};
  std::string gale_for_actions_;
  // The Python shim's directory for Python actions and sensor hosts ("" when missing).
  std::string python_shim_;
  std::optional<store::KeyCipher> cipher_;
  bus::BusConfig bus_;
  store::NodeInfo self_;

  HomeLock lock_;
  store::StorePtr store_;
  std::unique_ptr<bus::EmbeddedBroker> embedded_;
  PublishedFile bus_addr_;
  std::unique_ptr<bus::RetentionGuard> retention_guard_;
  std::optional<PythonEnvs> python_envs_;  // used by snapshots_, so it outlives them
  std::optional<PackSnapshots> snapshots_;
  std::string snapshot_root_;
  // Each active pack's resolved config (ConfigsOf the last catalog), for its sensor host; under
  // reload_mu_.
  std::map<std::string, Json> pack_configs_;
  // What actions' dispatch fires with; swapped on reload (under dispatch_mu_). The producer
  // outlives the runner, which dispatches through it until its last execution ended.
  std::mutex dispatch_mu_;
  std::shared_ptr<const requests::PayloadValidators> trigger_types_;
  std::unique_ptr<bus::Producer> dispatch_producer_;
  // Held by whoever changes what runs here: the pack watcher, the API's reload, sensor
  // ownership changes (auto partitioning) and the heartbeat.
  std::mutex reload_mu_;
  // Declared before the runner, which hands it workflows: stopped after the runner.
  std::unique_ptr<workflow::WorkflowService> workflow_;
  std::unique_ptr<runner::RunnerService> runner_;
  std::unique_ptr<rules::engine::RulesEngine> rules_engine_;
  // Leaves gale.sensor-owners only after the sensor hosts below have stopped: until then no
  // other node may start their sensors.
  std::unique_ptr<partition::Partitioner> partitioner_;
  // Destroyed under reload_mu_ (see SupervisorSlot): the partitioner's thread may call
  // OnOwnershipChange while the hosts stop, and must then wait for them, then find none.
  struct SupervisorSlot {
    std::mutex* mu = nullptr;
    std::unique_ptr<sensors::Supervisor> supervisor;
    ~SupervisorSlot() {
      if (!mu) return;
      std::lock_guard lock(*mu);
      supervisor.reset();
    }
  } sensors_;
  std::unique_ptr<timers::TimerService> timers_;
  std::unique_ptr<api::ApiServer> api_;
  PublishedFile api_addr_;
  PublishedFile api_token_;
  std::unique_ptr<PackWatcher> watcher_;
};

Status Node::Start() {
  GALE_TRY(PrepareMachine());
  // Packs are staged and validated (child processes) while the store and the bus start: neither
  // needs the other, and with many packs each takes about as long. A failed start waits for it
  // (the future's destructor) before the members go.
  auto packs_loaded = std::async(std::launch::async, [this] { LoadPacks(); });
  GALE_TRY(OpenStore());
  GALE_TRY(StartBus());
  GALE_TRY(GuardRetention());
  packs_loaded.get();
  // Rules and actions of the active packs, read once for every role.
  const packs::Catalog catalog = ActiveCatalog(*snapshots_, config_.packs_configs_path);
  if (config_.HasRole("sensors")) {
    GALE_TRY(StartSensors(catalog));
    GALE_TRY(StartTimers(catalog));
  }
  if (config_.HasRole("rules")) GALE_TRY(StartRulesEngine(catalog));
  if (config_.HasRole("runner")) GALE_TRY(StartRunner(catalog));
  ApplyRuleOverrides();
  if (config_.HasRole("api")) GALE_TRY(StartApi(catalog));
  StartWatcher();
  AnnounceUp();
  return Status::Ok();
}

Status Node::PrepareMachine() {
  SetInputLimits(config_.limits);
  // Everything the node writes (store, keys, addresses, logs) is its own alone.
  umask(077);
  std::error_code ec;
  fs::create_directories(config_.home, ec);
  if (ec) return Status::Error("cannot create GALE_HOME " + config_.home + ": " + ec.message());
  chmod(config_.home.c_str(), 0700);
  RaiseDescriptorLimit();
  const sandbox::IsolationReport isolation = sandbox::ProbeIsolation();
  SayWhatIsolationIsMissing(isolation);
  sandbox_ = NodeSandbox(config_);
  sandbox_.namespaces = sandbox_.namespaces && isolation.namespaces;
  GALE_ASSIGN_OR_RETURN(auto user, ResolveActionUser(sandbox_));
  action_user_ = user;
  gale_for_actions_ = GaleForActions(gale_binary_, action_user_);
  python_shim_ = PythonShimForActions(gale_binary_);
  GALE_ASSIGN_OR_RETURN(auto lock, HomeLock::Take(config_.home));
  lock_ = std::move(lock);
  return Status::Ok();
}

Status Node::OpenStore() {
  store::StoreOptions options;
  options.write_concern = config_.write_concern;
  auto store = store::OpenStoreWithRetry(config_.store_url, options, std::chrono::seconds(60),
                                         [](const std::string& line) { spdlog::warn("{}", line); });
  if (!store.ok()) return Status::Error("cannot open the store: " + store.message());
  store_ = std::move(store).value();
  // Secret action parameters are sealed into execution records with the datastore key.
  if (auto loaded = store::KeyCipher::LoadOrCreate(config_.encryption_key_path); loaded.ok()) {
    cipher_ = *loaded;
  } else {
    spdlog::warn("datastore key unavailable (decrypt_kv and secret parameters fail): {}",
                 loaded.message());
  }
  return Status::Ok();
}

Status Node::StartBus() {
  bus_.brokers = config_.brokers;
  bus_.topic_prefix = config_.topic_prefix;
  bus_.partitions = config_.partitions > 0 ? config_.partitions : config_.brokers.empty() ? 24 : 6;
  bus_.replication_factor = config_.replication_factor;
  bus_.properties = config_.bus_properties;
  // Every message this node produces is signed, and none it reads is acted on unless signed:
  // without the key, any client that reaches the brokers could fire triggers.
  GALE_ASSIGN_OR_RETURN(auto key,
                        LoadOrCreateKeyFile(config_.bus_signing_key_file, "the bus signing key",
                                            "bus.signing_key_file"));
  bus_.signing_key.assign(reinterpret_cast<const char*>(key.data()), key.size());
  if (bus_.brokers.empty()) {
    // One broker per Gale topic (EmbeddedBroker::CreateTopic places them in turn), so that the
    // retention guard holds the producers of one topic only.
    auto started = bus::EmbeddedBroker::Start(5);
    if (!started.ok()) return Status::Error("cannot start the embedded bus: " + started.message());
    embedded_ = std::move(started).value();
    bus_.brokers = embedded_->bootstrap();
    bus_.embedded = true;
    // Small batches: a batch already sent when the retention guard starts holding lands whole.
    if (!bus_.properties.contains("batch.size")) {
      bus_.properties.try_emplace("producer.batch.size", "65536");
    }
    const fs::path addr = fs::path(config_.home) / "bus.addr";
    GALE_TRY(WriteFileAtomic(addr, bus_.brokers));
    bus_addr_ = PublishedFile(addr);
  }
  if (Status s = bus::EnsureTopics(bus_, embedded_.get()); !s.ok()) {
    return Status::Error("cannot create the bus topics: " + s.message());
  }
  return Status::Ok();
}

// A fresh embedded bus holds nothing: what the store says is still waiting goes back on it, and
// the retention guard starts. Nothing to do on an external bus.
Status Node::GuardRetention() {
  if (!embedded_) return Status::Ok();
  auto replayed = ReplayPending(*store_, bus_);
  if (!replayed.ok()) {
    return Status::Error("cannot replay what the last run left pending: " + replayed.message());
  }
  if (replayed->triggers + replayed->executions > 0) {
    spdlog::info("replayed {} pending trigger instance(s) and {} requested execution(s)",
                 replayed->triggers, replayed->executions);
  }
  // Replayed before the guard starts: no consumer runs yet, so a held producer would wait for
  // nothing. A replay larger than a partition's retention is not expected (it is what the guard
  // kept unconsumed when the node went down).
  // The work queues; the sensor-owners group only divides partitions and commits nothing.
  auto groups = bus::GaleGroups(bus_);
  std::erase_if(groups, [&](const bus::GroupTopics& g) {
    return g.group == bus::Group(bus_, bus::kSensorOwnersGroup);
  });
  retention_guard_ = std::make_unique<bus::RetentionGuard>(
      embedded_.get(), bus::RetentionGuard::Options{.groups = std::move(groups)});
  return Status::Ok();
}

void Node::LoadPacks() {
  snapshot_root_ = SnapshotRoot(config_);
  const std::string& root = snapshot_root_;
  const bool root_node = geteuid() == 0;
  snapshots_.emplace(root, gale_binary_, config_.packs_configs_path,
                     root_node ? std::optional<gid_t>(action_user_.gid) : std::nullopt);
  // Beside the snapshot root, which is emptied at every start: venvs outlast a restart.
  PythonEnvOptions venv_options;
  if (root_node) {
    venv_options.build_as = action_user_;
    venv_options.share_gid = action_user_.gid;
  }
  python_envs_.emplace((fs::path(root).parent_path() / "venvs").string(), root, venv_options);
  snapshots_->UsePythonEnvs(&*python_envs_);
  Refresh(*snapshots_, PackDirs(config_.packs_paths));
  python_envs_->CollectUnused();
}

std::vector<sensors::PackSpec> Node::SensorSpecs() {
  auto overrides = store::ReadRuleOverrides(*store_);
  if (!overrides.ok()) spdlog::warn("rule overrides unreadable: {}", overrides.message());
  return Specs(*snapshots_, *partitioner_, pack_configs_,
               overrides.ok() ? *overrides : std::map<std::string, bool>{});
}

void Node::ApplySensors(const std::vector<sensors::PackSpec>& specs) {
  sensors_.supervisor->Apply(specs);
  snapshots_->KeepInUse(sensors_.supervisor->RunningDirs());
}

Status Node::StartSensors(const packs::Catalog& catalog) {
  std::lock_guard lock(reload_mu_);
  pack_configs_ = ConfigsOf(catalog);
  partition::PartitionerOptions owner_options;
  owner_options.config = config_.sensors;
  owner_options.store = store_.get();
  owner_options.bus = bus_;
  owner_options.on_change = [this](bool) { OnOwnershipChange(); };
  auto made = partition::MakePartitioner(std::move(owner_options));
  if (!made.ok()) return Status::Error("cannot partition sensors: " + made.message());
  partitioner_ = std::move(made).value();
  sensors::SupervisorOptions options;
  options.gale_binary = gale_for_actions_;
  options.brokers = bus_.brokers;
  options.bus_properties = bus_.properties;
  options.bus_signing_key = bus_.signing_key;
  options.topic_prefix = config_.topic_prefix;
  options.node = config_.node_name;
  options.policy = config_.sensors;
  options.user = sandbox_.user;  // sensor hosts run pack code too
  options.python_shim = python_shim_;
  options.cipher = cipher_;
  sensors_.mu = &reload_mu_;
  sensors_.supervisor = std::make_unique<sensors::Supervisor>(options, store_.get());
  ApplySensors(SensorSpecs());
  sensors_.supervisor->Start();
  return Status::Ok();
}

// Timer triggers of the active rules, fired by whichever node owns them (sensors role).
Status Node::StartTimers(const packs::Catalog& catalog) {
  timers::TimerServiceOptions options;
  options.bus = bus_;
  options.store = store_.get();
  options.node = config_.node_name;
  options.owner = partitioner_.get();
  auto started = timers::TimerService::Start(options);
  if (!started.ok()) return Status::Error("cannot start the timers: " + started.message());
  timers_ = std::move(started).value();
  timers_->Update(timers::TimersOf(catalog));
  return Status::Ok();
}

Status Node::StartRulesEngine(const packs::Catalog& catalog) {
  rules::engine::RulesEngineOptions options;
  options.bus = bus_;
  options.store = store_.get();
  options.node_name = config_.node_name;
  options.system_user = config_.system_user;
  // decrypt_kv needs the deployment's key; without it only that filter fails, with the reason.
  options.cipher = cipher_;
  if (cipher_) {
    options.decrypt = requests::DatastoreDecrypt(*cipher_, config_.system_user);
  } else {
    options.decrypt = [](const std::optional<expr::KvKey>&,
                         const std::string&) -> Result<std::string> {
      return Status::Error("the datastore key is not available (see the node's log at start)");
    };
  }
  auto created =
      rules::engine::RulesEngine::Create(options, rules::engine::RuleSet::FromCatalog(catalog));
  Status started = created.ok() ? (*created)->Start() : created.status();
  if (!started.ok()) return Status::Error("cannot start the rules engine: " + started.message());
  rules_engine_ = std::move(created).value();
  return Status::Ok();
}

Status Node::StartRunner(const packs::Catalog& catalog) {
  runner::RunnerOptions options;
  options.bus = bus_;
  options.store = store_.get();
  options.node_name = config_.node_name;
  options.gale_binary = gale_for_actions_;
  options.python_shim = python_shim_;
  options.cipher = cipher_;
  options.max_concurrency = config_.max_concurrency;
  options.lease = Seconds(config_.lease_timeout);
  options.shutdown_grace = Seconds(config_.shutdown_grace);
  // The actions' datastore socket, next to the pack copies: a root node's are reachable by the
  // action group only (pack_snapshots.cpp), an unprivileged node's actions run as the node.
  options.datastore_socket = (fs::path(snapshot_root_).parent_path() / "datastore.sock").string();
  if (geteuid() == 0) options.datastore_group = action_user_.gid;
  options.system_user = config_.system_user;
  auto producer = bus::Producer::Create(bus_);
  if (!producer.ok()) return Status::Error("cannot start the runner: " + producer.message());
  dispatch_producer_ = std::move(producer).value();
  {
    std::lock_guard lock(dispatch_mu_);
    trigger_types_ =
        std::make_shared<const requests::PayloadValidators>(requests::PayloadValidatorsOf(catalog));
  }
  options.dispatch = [this](const datastore::Peer& peer, const datastore::DispatchRequest& d) {
    return DispatchForAction(peer, d);
  };
  // The workflow engine runs beside the runner, which hands it workflow actions.
  workflow::WorkflowOptions wopts{.bus = bus_,
                                  .store = store_.get(),
                                  .node_name = config_.node_name,
                                  .cipher = cipher_,
                                  .system_user = config_.system_user,
                                  .api_url = "http://" + config_.api_listen + "/v1"};
  auto workflows =
      workflow::WorkflowService::Create(wopts, runner::ActionIndex::FromCatalog(catalog, sandbox_));
  Status engine = workflows.ok() ? (*workflows)->Start() : workflows.status();
  if (!engine.ok()) return Status::Error("cannot start the workflow engine: " + engine.message());
  workflow_ = std::move(workflows).value();
  options.start_workflow = [w = workflow_.get()](const store::Execution& e,
                                                 const runner::RunnableAction& a) {
    w->StartWorkflow(e, a);
  };
  auto created =
      runner::RunnerService::Create(options, runner::ActionIndex::FromCatalog(catalog, sandbox_));
  Status started = created.ok() ? (*created)->Start() : created.status();
  if (!started.ok()) return Status::Error("cannot start the runner: " + started.message());
  runner_ = std::move(created).value();
  return Status::Ok();
}

Result<Json> Node::DispatchForAction(const datastore::Peer& peer,
                                     const datastore::DispatchRequest& request) {
  std::shared_ptr<const requests::PayloadValidators> types;
  {
    std::lock_guard lock(dispatch_mu_);
    types = trigger_types_;
  }
  GALE_TRY(requests::CheckTriggerPayload(*types, request.trigger, request.payload));
  auto instance = bus::TriggerInstanceMessage::New(request.trigger, request.payload, peer.action,
                                                   config_.node_name);
  if (!request.trace_tag.empty()) instance.trace_id = request.trace_tag;
  GALE_TRY(requests::FireTrigger(*store_, *dispatch_producer_, bus::Topic(bus_, bus::kTriggers),
                                 instance));
  return Json{{"id", instance.id}, {"trigger", instance.trigger}, {"trace_id", instance.trace_id}};
}

Status Node::StartApi(const packs::Catalog& catalog) {
  // A new token each start: the admin credential of whoever can read GALE_HOME (the CLI of the
  // node's user reads it), so the API needs no anonymous door, loopback included.
  const fs::path token_path = fs::path(config_.home) / "api.token";
  auto token = api::WriteNodeToken(token_path.string());
  if (!token.ok()) return Status::Error("cannot write the API token: " + token.message());
  api_token_ = PublishedFile(token_path);
  api::ApiOptions options;
  options.server.listen = config_.api_listen;
  options.server.request_timeout = Seconds(config_.api_request_timeout);
  options.node_name = config_.node_name;
  options.bus = bus_;
  options.store = store_.get();
  options.key_file = config_.encryption_key_path;
  options.system_user = config_.system_user;
  options.node_token = *token;
  options.anonymous_loopback = config_.api_anonymous_loopback;
  options.server.max_connections =
      static_cast<size_t>(std::max<int64_t>(0, config_.api_max_connections));
  options.server.max_streams_per_client =
      static_cast<size_t>(std::max<int64_t>(1, config_.api_max_streams_per_client));
  options.hostnames = config_.api_hostnames;
  options.cors_origins = config_.api_cors_origins;
  auto started = api::ApiServer::Start(options, ApiHooksForNode(), catalog);
  if (!started.ok()) return Status::Error("cannot start the API: " + started.message());
  api_ = std::move(started).value();
  const fs::path addr = fs::path(config_.home) / "api.addr";
  if (Status s = WriteFileAtomic(addr, "http://" + api_->address()); !s.ok()) {
    spdlog::warn("{}", s.message());
  }
  api_addr_ = PublishedFile(addr);
  return Status::Ok();
}

api::ApiHooks Node::ApiHooksForNode() {
  api::ApiHooks hooks;
  hooks.set_rule_enabled = [this](const std::string& ref, bool enabled) -> Status {
    {
      // Python sensors' add/remove_trigger for it at once (other nodes: at their next beat).
      std::lock_guard lock(reload_mu_);
      if (sensors_.supervisor && partitioner_) ApplySensors(SensorSpecs());
    }
    if (!rules_engine_) return Status::Ok();  // stored; nodes with the rules role apply it
    return rules_engine_->SetRuleEnabled(ref, enabled);
  };
  hooks.reload_packs = [this] {
    auto dirs = PackDirs(config_.packs_paths);
    {
      std::lock_guard lock(reload_mu_);
      for (const auto& p : snapshots_->Active()) dirs.insert(p.source);
    }
    Reload(dirs);
    std::lock_guard lock(reload_mu_);
    return snapshots_->Active().size();
  };
  hooks.node_metrics = [this] {
    Json m = Json::object();
    if (runner_) {
      m["runner_slots_busy"] = runner_->running();
      m["runner_slots"] = config_.max_concurrency;
    }
    if (rules_engine_) m["rules_triggers_malformed"] = rules_engine_->stats().malformed;
    if (workflow_) {
      const auto w = workflow_->stats();
      m["workflows_started"] = w.started;
      m["workflow_transitions"] = w.transitions;
      m["workflows_paused"] = w.paused;
      m["workflows_resumed"] = w.resumed;
      m["workflows_finished"] = w.finished;
      m["workflow_tasks_swept"] = w.swept;
    }
    return m;
  };
  if (retention_guard_) {
    hooks.bus_retention = [this] { return retention_guard_->Last(); };
    hooks.bus_wait_released = [this](const std::string& topic, std::chrono::milliseconds wait) {
      return retention_guard_->WaitReleased(topic, wait);
    };
  }
  return hooks;
}

void Node::StartWatcher() {
  auto watcher =
      PackWatcher::Start(config_.packs_paths, std::chrono::milliseconds(300),
                         [this](const std::set<std::string>& changed) { Reload(changed); });
  if (!watcher.ok()) {
    spdlog::warn("live reload disabled: {}", watcher.message());
    return;
  }
  watcher_ = std::move(watcher).value();
}

void Node::AnnounceUp() {
  self_.name = config_.node_name;
  self_.roles = config_.roles;
  self_.started_at = store::NowMs();
  if (api_) self_.info["api"] = "http://" + api_->address();
  if (partitioner_) self_.info["partition_provider"] = partitioner_->provider();
  Beat();
  spdlog::info("node {} up: bus {}{}, store {}, {} pack(s) active, roles {}", config_.node_name,
               bus_.brokers, embedded_ ? " (embedded)" : "", store::RedactUrl(config_.store_url),
               snapshots_->Active().size(), fmt::join(config_.roles, ","));
}

void Node::Reload(const std::set<std::string>& changed) {
  std::lock_guard lock(reload_mu_);
  Refresh(*snapshots_, changed);
  python_envs_->CollectUnused();
  if (!rules_engine_ && !runner_ && !api_ && !timers_ && !sensors_.supervisor) return;
  auto reloaded = ActiveCatalog(*snapshots_, config_.packs_configs_path);
  if (sensors_.supervisor) {
    pack_configs_ = ConfigsOf(reloaded);
    ApplySensors(SensorSpecs());
  }
  if (timers_) timers_->Update(timers::TimersOf(reloaded));
  if (rules_engine_) rules_engine_->UpdateRules(rules::engine::RuleSet::FromCatalog(reloaded));
  if (runner_) {
    runner_->UpdateActions(runner::ActionIndex::FromCatalog(reloaded, sandbox_));
    if (workflow_) workflow_->UpdateActions(runner::ActionIndex::FromCatalog(reloaded, sandbox_));
    auto types = std::make_shared<const requests::PayloadValidators>(
        requests::PayloadValidatorsOf(reloaded));
    std::lock_guard changing(dispatch_mu_);
    trigger_types_ = std::move(types);
  }
  if (api_) api_->UpdateCatalog(reloaded);
}

void Node::OnOwnershipChange() {
  std::lock_guard changing(reload_mu_);
  if (sensors_.supervisor && partitioner_) ApplySensors(SensorSpecs());
}

// Rule enable/disable made through any node's API (stored), applied to this node's engine.
void Node::ApplyRuleOverrides() {
  if (!rules_engine_) return;
  auto overrides = store::ReadRuleOverrides(*store_);
  if (!overrides.ok()) return;
  auto rules = rules_engine_->rules();
  for (const auto& [ref, enabled] : *overrides) {
    if (rules->Find(ref) != nullptr && rules->IsEnabled(ref) != enabled) {
      rules_engine_->SetRuleEnabled(ref, enabled).ok();
    }
  }
}

void Node::Beat() {
  if (partitioner_) {
    std::lock_guard lock(reload_mu_);
    // kvstore: the key may have been changed (by `gale key set`); applied within a beat (for the
    // other providers Refresh is a no-op and Apply sees the versions it already runs).
    const bool refreshed = partitioner_->Refresh().ok();
    auto specs = SensorSpecs();
    self_.info["sensors"] = SensorsOf(specs);
    if (refreshed) ApplySensors(specs);
  }
  self_.heartbeat_at = store::NowMs();
  if (Status s = store_->Heartbeat(self_); !s.ok()) spdlog::warn("heartbeat: {}", s.message());
  ApplyRuleOverrides();
}

}  // namespace

int RunNode(const config::Config& config, const std::string& gale_binary) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  int sig = 0;
  {
    Node node(config, gale_binary);
    if (Status s = node.Start(); !s.ok()) {
      spdlog::error("{}", s.message());
      return 1;
    }
    const timespec every{2, 0};
    while ((sig = sigtimedwait(&signals, nullptr, &every)) < 0) node.Beat();
    spdlog::info("node {} stopping (signal {})", config.node_name, sig);
  }
  return 0;
}

}  // namespace gale::node
