#include "host/node/node.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

#include "host/api/api_keys.h"
#include "host/api/api_server.h"
#include "host/bus/bus.h"
#include "host/bus/retention_guard.h"
#include "host/common/key_file.h"
#include "host/common/user.h"
#include "host/node/pack_snapshots.h"
#include "host/node/pack_watcher.h"
#include "host/node/recovery.h"
#include "host/packs/catalog.h"
#include "host/partition/partitioner.h"
#include "host/requests/execution_request.h"
#include "host/rules/engine/rules_engine.h"
#include "host/runner/runner_service.h"
#include "host/sensors/supervisor.h"
#include "host/store/key_cipher.h"
#include "host/store/open.h"
#include "host/store/rule_overrides.h"
#include "host/timers/timer_service.h"

namespace gale::node {
namespace fs = std::filesystem;
namespace {

// Gale's dedicated action user (StackStorm's is `stanley`), created by scripts/setup.
constexpr std::string_view kActionUser = "gale-action";
constexpr const char* kSnapshotBase = "/var/lib/gale/snapshots";

using ActionUser = Credentials;

// Writes `text` to `path` atomically (readers never see half a file).
Status WriteFileAtomic(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text << '\n';
    if (!out) return Status::Error(tmp.string() + ": cannot write");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status::Error(path.string() + ": " + ec.message());
  return Status::Ok();
}

// What this node's sensor hosts run: each active pack's sensors that the partition provider
// gives this node. The version covers that set, so a change of ownership restarts the host.
std::vector<sensors::PackSpec> Specs(const PackSnapshots& snapshots,
                                     const partition::Partitioner& owner) {
  std::vector<sensors::PackSpec> specs;
  for (const auto& p : snapshots.Active()) {
    std::vector<std::string> owned = owner.Select(p.sensors);
    specs.push_back({p.ref, p.dir, owned, fmt::format("{}|{}", p.version, fmt::join(owned, ","))});
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

// The active pack copies (already validated; libraries not reopened).
packs::Catalog ActiveCatalog(const PackSnapshots& snapshots) {
  std::vector<std::string> paths;
  for (const auto& p : snapshots.Active()) {
    paths.push_back(fs::path(p.dir).parent_path().string());
  }
  return packs::Catalog::Load(paths, {.inspect_libraries = false});
}

// Every execution's sandbox starts from these: gale.yaml's `sandbox:` over the built-in
// defaults, with runner.default_timeout unless `sandbox:` sets its own timeout (either capped by
// sandbox.max_timeout). A root node runs actions as the dedicated action user unless
// `sandbox.user` names another unprivileged one.
sandbox::Settings NodeSandbox(const config::Config& config) {
  sandbox::Settings base;
  base.timeout = std::chrono::milliseconds(static_cast<int64_t>(config.default_timeout * 1000));
  auto settings = sandbox::SettingsFromNodeConfig(config.sandbox, base);
  sandbox::Settings s = settings.ok() ? *settings : base;  // checked when the config was loaded
  if (s.user.empty() && geteuid() == 0) s.user = std::string(kActionUser);
  return s;
}

// The action user's ids, or why actions cannot run as it. Never root, never the node's own uid:
// actions must not be able to read the node's files or signal it.
Result<ActionUser> ResolveActionUser(const sandbox::Settings& sandbox) {
  if (sandbox.user.empty()) return ActionUser{getuid(), getgid()};  // an unprivileged node
  auto user = ResolveUser(sandbox.user);
  if (!user.ok()) {
    return Status::Error(
        "the action user '" + sandbox.user +
        "' does not exist: run scripts/setup (or `useradd --system --user-group --create-home "
        "--home-dir /var/lib/gale-action gale-action`), or set sandbox.user in gale.yaml");
  }
  if (user->uid == 0 || user->uid == geteuid()) {
    return Status::Error("sandbox.user '" + sandbox.user +
                         "' is root or the node's own user: actions must run unprivileged");
  }
  return user;
}

// What this node cannot give its executions, in one line each (docs/security.md).
void SayWhatIsolationIsMissing(const sandbox::IsolationReport& isolation) {
  if (!isolation.root) {
    spdlog::warn(
        "running as uid {}, not root: actions run as this uid (no dedicated action user, no "
        "namespaces), so they can read this node's files and see its processes",
        getuid());
  } else if (!isolation.namespaces) {
    spdlog::warn(
        "cannot create namespaces ({}): executions run without a PID namespace of their own and "
        "can see each other's processes",
        isolation.namespaces_error);
  }
}

// FNV-1a of a path, hex: a stable directory name per GALE_HOME.
std::string PathDigest(const std::string& path) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : path) h = (h ^ c) * 1099511628211ULL;
  return fmt::format("{:016x}", h);
}

// Whether `user` may reach and execute `path`: search permission on every directory above it.
bool ExecutableBy(const fs::path& path, const ActionUser& user) {
  auto allows = [&](const struct stat& st, mode_t owner, mode_t group, mode_t other) {
    if (st.st_uid == user.uid) return (st.st_mode & owner) != 0;
    if (st.st_gid == user.gid) return (st.st_mode & group) != 0;
    return (st.st_mode & other) != 0;
  };
  struct stat st {};
  for (fs::path dir = path.parent_path(); !dir.empty(); dir = dir.parent_path()) {
    if (stat(dir.c_str(), &st) != 0 || !allows(st, S_IXUSR, S_IXGRP, S_IXOTH)) return false;
    if (dir == dir.root_path()) break;
  }
  return stat(path.c_str(), &st) == 0 && allows(st, S_IXUSR, S_IXGRP, S_IXOTH) &&
         allows(st, S_IRUSR, S_IRGRP, S_IROTH);
}

// The `gale` that sandboxed children (native actions, http requests, sensor hosts) execute as
// the action user. A checkout under a private directory (root's 0700 home) is out of their
// reach: then a copy in /var/lib/gale/bin, made once per build of the binary.
std::string GaleForActions(const std::string& gale_binary, const ActionUser& user) {
  if (geteuid() != 0 || ExecutableBy(gale_binary, user)) return gale_binary;
  struct stat st {};
  if (stat(gale_binary.c_str(), &st) != 0) return gale_binary;
  const fs::path dir = fs::path(kSnapshotBase).parent_path() / "bin";
  const fs::path copy = dir / fmt::format("gale-{}-{}-{}", PathDigest(gale_binary), st.st_size,
                                          static_cast<long long>(st.st_mtime));
  std::error_code ec;
  if (!fs::exists(copy, ec)) {
    fs::create_directories(dir, ec);
    chmod(dir.parent_path().c_str(), 0711);
    chmod(dir.c_str(), 0711);
    const fs::path tmp = copy.string() + ".tmp" + std::to_string(getpid());
    fs::copy_file(gale_binary, tmp, fs::copy_options::overwrite_existing, ec);
    if (!ec) chmod(tmp.c_str(), 0755);
    if (!ec) fs::rename(tmp, copy, ec);
    if (ec) {
      spdlog::warn("{} is out of the action user's reach and cannot be copied to {}: {}",
                   gale_binary, copy.string(), ec.message());
      return gale_binary;
    }
  }
  return copy.string();
}

// Where the pack copies that actions and sensor hosts read live. A root node keeps them out of
// GALE_HOME, which stays private (0700, possibly under root's own 0700 home): under
// /var/lib/gale/snapshots/<digest of GALE_HOME>, which only root can create, readable by the
// action user's group only. An unprivileged node keeps them in $GALE_HOME/run/packs.
std::string SnapshotRoot(const config::Config& config) {
  if (geteuid() != 0) return (fs::path(config.home) / "run" / "packs").string();
  const fs::path base = kSnapshotBase;
  std::error_code ec;
  // Copies of nodes whose GALE_HOME is gone (test nodes, removed deployments) go.
  for (fs::directory_iterator it(base, ec), end; !ec && it != end; it.increment(ec)) {
    std::ifstream owner(it->path() / "home");
    std::string home;
    std::getline(owner, home);
    std::error_code e2;
    if (!home.empty() && !fs::exists(home, e2)) fs::remove_all(it->path(), e2);
  }
  const fs::path root = base / PathDigest(config.home);
  fs::create_directories(root, ec);
  for (const fs::path& dir : {base.parent_path(), base}) chmod(dir.c_str(), 0711);
  std::ofstream(root / "home") << config.home << '\n';
  return (root / "packs").string();
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

void Refresh(PackSnapshots& snapshots, const std::set<std::string>& dirs) {
  for (const auto& dir : dirs) {
    std::string why;
    switch (snapshots.Refresh(dir, &why)) {
      case RefreshResult::kActivated:
        spdlog::info("pack {}: loaded", dir);
        break;
      case RefreshResult::kRefused:
        spdlog::error("pack {}: refused: {}; the running version (if any) keeps running", dir, why);
        break;
      case RefreshResult::kRemoved:
      case RefreshResult::kUnchanged:
        break;
    }
  }
}

// Raises the soft RLIMIT_NOFILE to the hard limit (at most 2^20), as servers do: the default
// soft limit (often 1024) is far below what a node with many API clients, bus sockets and
// executions needs. The API's connection cap (api.max_connections) follows the raised limit.
// Executions get their own open-files limit from the sandbox (sandbox.limits).
void RaiseDescriptorLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  constexpr rlim_t kMost = rlim_t{1} << 20;
  const rlim_t want = rl.rlim_max == RLIM_INFINITY ? kMost : std::min(rl.rlim_max, kMost);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
    const rlim_t was = rl.rlim_cur;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      spdlog::warn("cannot raise the open files limit from {}: {}", was, std::strerror(errno));
      return;
    }
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    spdlog::info("open files limit: {}",
                 rl.rlim_cur == RLIM_INFINITY ? -1 : static_cast<int64_t>(rl.rlim_cur));
  }
}

}  // namespace

int RunNode(const config::Config& config, const std::string& gale_binary) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  SetInputLimits(config.limits);
  // Everything the node writes (store, keys, addresses, logs) is its own alone.
  umask(077);
  std::error_code ec;
  fs::create_directories(config.home, ec);
  if (ec) {
    spdlog::error("cannot create GALE_HOME {}: {}", config.home, ec.message());
    return 1;
  }
  chmod(config.home.c_str(), 0700);
  RaiseDescriptorLimit();
  const sandbox::IsolationReport isolation = sandbox::ProbeIsolation();
  SayWhatIsolationIsMissing(isolation);
  sandbox::Settings node_sandbox = NodeSandbox(config);
  node_sandbox.namespaces = node_sandbox.namespaces && isolation.namespaces;
  auto action_user = ResolveActionUser(node_sandbox);
  if (!action_user.ok()) {
    spdlog::error("{}", action_user.message());
    return 1;
  }
  const std::string gale_for_actions = GaleForActions(gale_binary, *action_user);
  // One node per home: the embedded bus address and store are per home.
  const std::string lock_path = (fs::path(config.home) / "node.lock").string();
  int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    spdlog::error("another gale node is running with GALE_HOME {} (lock {})", config.home,
                  lock_path);
    return 1;
  }

  store::StoreOptions store_options;
  store_options.write_concern = config.write_concern;
  auto store = store::OpenStoreWithRetry(config.store_url, store_options, std::chrono::seconds(60),
                                         [](const std::string& line) { spdlog::warn("{}", line); });
  if (!store.ok()) {
    spdlog::error("cannot open the store: {}", store.message());
    return 1;
  }

  bus::BusConfig bus_config;
  bus_config.brokers = config.brokers;
  bus_config.topic_prefix = config.topic_prefix;
  bus_config.partitions = config.partitions > 0    ? config.partitions
                          : config.brokers.empty() ? 24
                                                   : 6;
  bus_config.replication_factor = config.replication_factor;
  bus_config.properties = config.bus_properties;
  // Every message this node produces is signed, and none it reads is acted on unless signed:
  // without the key, any client that reaches the brokers could fire triggers.
  auto bus_key = LoadOrCreateKeyFile(config.bus_signing_key_file, "the bus signing key",
                                     "bus.signing_key_file");
  if (!bus_key.ok()) {
    spdlog::error("{}", bus_key.message());
    return 1;
  }
  bus_config.signing_key.assign(reinterpret_cast<const char*>(bus_key->data()), bus_key->size());
  // Secret action parameters are sealed into execution records with the datastore key.
  std::optional<store::KeyCipher> cipher;
  if (auto loaded = store::KeyCipher::LoadOrCreate(config.encryption_key_path); loaded.ok()) {
    cipher = *loaded;
  } else {
    spdlog::warn("datastore key unavailable (decrypt_kv and secret parameters fail): {}",
                 loaded.message());
  }
  std::unique_ptr<bus::EmbeddedBroker> embedded;
  const fs::path bus_addr = fs::path(config.home) / "bus.addr";
  if (bus_config.brokers.empty()) {
    // One broker per Gale topic (EmbeddedBroker::CreateTopic places them in turn), so that the
    // retention guard holds the producers of one topic only.
    auto started = bus::EmbeddedBroker::Start(5);
    if (!started.ok()) {
      spdlog::error("cannot start the embedded bus: {}", started.message());
      return 1;
    }
    embedded = std::move(started).value();
    bus_config.brokers = embedded->bootstrap();
    bus_config.embedded = true;
    // Small batches: a batch already sent when the retention guard starts holding lands whole.
    if (!bus_config.properties.contains("batch.size")) {
      bus_config.properties.try_emplace("producer.batch.size", "65536");
    }
    if (Status s = WriteFileAtomic(bus_addr, bus_config.brokers); !s.ok()) {
      spdlog::error("{}", s.message());
      return 1;
    }
  }
  if (Status s = bus::EnsureTopics(bus_config, embedded.get()); !s.ok()) {
    spdlog::error("cannot create the bus topics: {}", s.message());
    return 1;
  }
  std::unique_ptr<bus::RetentionGuard> retention_guard;
  if (embedded) {
    // A fresh embedded bus holds nothing: what the store says is still waiting goes back on it.
    auto replayed = ReplayPending(**store, bus_config);
    if (!replayed.ok()) {
      spdlog::error("cannot replay what the last run left pending: {}", replayed.message());
      return 1;
    }
    if (replayed->triggers + replayed->executions > 0) {
      spdlog::info("replayed {} pending trigger instance(s) and {} requested execution(s)",
                   replayed->triggers, replayed->executions);
    }
    // Replayed before the guard starts: no consumer runs yet, so a held producer would wait
    // for nothing. A replay larger than a partition's retention is not expected (it is what
    // the guard kept unconsumed when the node went down).
    // The work queues; the sensor-owners group only divides partitions and commits nothing.
    auto groups = bus::GaleGroups(bus_config);
    std::erase_if(groups, [&](const bus::GroupTopics& g) {
      return g.group == bus::Group(bus_config, bus::kSensorOwnersGroup);
    });
    retention_guard = std::make_unique<bus::RetentionGuard>(
        embedded.get(), bus::RetentionGuard::Options{.groups = std::move(groups)});
  }

  PackSnapshots snapshots(SnapshotRoot(config), gale_binary, config.packs_paths,
                          geteuid() == 0 ? std::optional<gid_t>(action_user->gid) : std::nullopt);
  Refresh(snapshots, PackDirs(config.packs_paths));

  // Held by whoever changes what runs here: the pack watcher, the API's reload, and sensor
  // ownership changes (auto partitioning).
  std::mutex reload_mu;
  std::unique_ptr<partition::Partitioner> partitioner;
  std::unique_ptr<sensors::Supervisor> supervisor;
  if (config.HasRole("sensors")) {
    std::lock_guard lock(reload_mu);
    partition::PartitionerOptions owner_options;
    owner_options.config = config.sensors;
    owner_options.store = store->get();
    owner_options.bus = bus_config;
    owner_options.on_change = [&](bool) {
      std::lock_guard changing(reload_mu);
      if (supervisor && partitioner) supervisor->Apply(Specs(snapshots, *partitioner));
    };
    auto made = partition::MakePartitioner(std::move(owner_options));
    if (!made.ok()) {
      spdlog::error("cannot partition sensors: {}", made.message());
      return 1;
    }
    partitioner = std::move(made).value();
    sensors::SupervisorOptions options;
    options.gale_binary = gale_for_actions;
    options.brokers = bus_config.brokers;
    options.bus_properties = bus_config.properties;
    options.bus_signing_key = bus_config.signing_key;
    options.topic_prefix = config.topic_prefix;
    options.node = config.node_name;
    options.policy = config.sensors;
    options.user = node_sandbox.user;  // sensor hosts run pack code too
    supervisor = std::make_unique<sensors::Supervisor>(options, store->get());
    supervisor->Apply(Specs(snapshots, *partitioner));
    supervisor->Start();
  }

  // Rules and actions of the active packs, read once for every role.
  const packs::Catalog catalog = ActiveCatalog(snapshots);

  // Timer triggers of the active rules, fired by whichever node owns them (sensors role).
  std::unique_ptr<timers::TimerService> timer_service;
  if (supervisor) {
    timers::TimerServiceOptions options;
    options.bus = bus_config;
    options.store = store->get();
    options.node = config.node_name;
    options.owner = partitioner.get();
    auto started = timers::TimerService::Start(options);
    if (!started.ok()) {
      spdlog::error("cannot start the timers: {}", started.message());
      supervisor->Stop();
      return 1;
    }
    timer_service = std::move(started).value();
    timer_service->Update(timers::TimersOf(catalog));
  }
  std::unique_ptr<rules::engine::RulesEngine> rules_engine;
  if (config.HasRole("rules")) {
    rules::engine::RulesEngineOptions options;
    options.bus = bus_config;
    options.store = store->get();
    options.node_name = config.node_name;
    options.system_user = config.system_user;
    // decrypt_kv needs the deployment's key; without it only that filter fails, with the reason.
    options.cipher = cipher;
    if (cipher) {
      options.decrypt = requests::DatastoreDecrypt(*cipher, config.system_user);
    } else {
      options.decrypt = [](const std::optional<expr::KvKey>&,
                           const std::string&) -> Result<std::string> {
        return Status::Error("the datastore key is not available (see the node's log at start)");
      };
    }
    auto created =
        rules::engine::RulesEngine::Create(options, rules::engine::RuleSet::FromCatalog(catalog));
    Status started = created.ok() ? (*created)->Start() : created.status();
    if (!started.ok()) {
      spdlog::error("cannot start the rules engine: {}", started.message());
      if (supervisor) supervisor->Stop();
      return 1;
    }
    rules_engine = std::move(created).value();
  }

  std::unique_ptr<runner::RunnerService> runner;
  if (config.HasRole("runner")) {
    runner::RunnerOptions options;
    options.bus = bus_config;
    options.store = store->get();
    options.node_name = config.node_name;
    options.gale_binary = gale_for_actions;
    options.cipher = cipher;
    options.max_concurrency = config.max_concurrency;
    options.lease = std::chrono::milliseconds(static_cast<int64_t>(config.lease_timeout * 1000));
    options.shutdown_grace =
        std::chrono::milliseconds(static_cast<int64_t>(config.shutdown_grace * 1000));
    auto created = runner::RunnerService::Create(
        options, runner::ActionIndex::FromCatalog(catalog, node_sandbox));
    Status started = created.ok() ? (*created)->Start() : created.status();
    if (!started.ok()) {
      spdlog::error("cannot start the runner: {}", started.message());
      if (supervisor) supervisor->Stop();
      if (rules_engine) rules_engine->Stop();
      return 1;
    }
    runner = std::move(created).value();
  }

  // Rule enable/disable made through any node's API (stored), applied to this node's engine.
  auto apply_rule_overrides = [&] {
    if (!rules_engine) return;
    auto overrides = store::ReadRuleOverrides(*store->get());
    if (!overrides.ok()) return;
    auto rules = rules_engine->rules();
    for (const auto& [ref, enabled] : *overrides) {
      if (rules->Find(ref) != nullptr && rules->IsEnabled(ref) != enabled) {
        rules_engine->SetRuleEnabled(ref, enabled).ok();
      }
    }
  };
  apply_rule_overrides();

  std::unique_ptr<api::ApiServer> api_server;
  // Sensors, rules and actions of a changed pack switch to its new copy together. Called by the
  // watcher's thread and by the API's reload.
  auto reload = [&](const std::set<std::string>& changed) {
    std::lock_guard lock(reload_mu);
    Refresh(snapshots, changed);
    if (supervisor) supervisor->Apply(Specs(snapshots, *partitioner));
    if (!rules_engine && !runner && !api_server && !timer_service) return;
    auto reloaded = ActiveCatalog(snapshots);
    if (timer_service) timer_service->Update(timers::TimersOf(reloaded));
    if (rules_engine) rules_engine->UpdateRules(rules::engine::RuleSet::FromCatalog(reloaded));
    if (runner) runner->UpdateActions(runner::ActionIndex::FromCatalog(reloaded, node_sandbox));
    if (api_server) api_server->UpdateCatalog(reloaded);
  };

  const fs::path api_addr = fs::path(config.home) / "api.addr";
  const fs::path api_token = fs::path(config.home) / "api.token";
  if (config.HasRole("api")) {
    // A new token each start: the admin credential of whoever can read GALE_HOME (the CLI of
    // the node's user reads it), so the API needs no anonymous door, loopback included.
    auto token = api::WriteNodeToken(api_token.string());
    if (!token.ok()) {
      spdlog::error("cannot write the API token: {}", token.message());
      if (supervisor) supervisor->Stop();
      if (rules_engine) rules_engine->Stop();
      if (runner) runner->Stop();
      return 1;
    }
    api::ApiOptions options;
    options.server.listen = config.api_listen;
    options.server.request_timeout =
        std::chrono::milliseconds(static_cast<int64_t>(config.api_request_timeout * 1000));
    options.node_name = config.node_name;
    options.bus = bus_config;
    options.store = store->get();
    options.key_file = config.encryption_key_path;
    options.system_user = config.system_user;
    options.node_token = *token;
    options.anonymous_loopback = config.api_anonymous_loopback;
    options.server.max_connections =
        static_cast<size_t>(std::max<int64_t>(0, config.api_max_connections));
    options.server.max_streams_per_client =
        static_cast<size_t>(std::max<int64_t>(1, config.api_max_streams_per_client));
    options.hostnames = config.api_hostnames;
    options.cors_origins = config.api_cors_origins;
    api::ApiHooks hooks;
    hooks.set_rule_enabled = [&](const std::string& ref, bool enabled) -> Status {
      if (!rules_engine) return Status::Ok();  // stored; nodes with the rules role apply it
      return rules_engine->SetRuleEnabled(ref, enabled);
    };
    hooks.reload_packs = [&] {
      auto dirs = PackDirs(config.packs_paths);
      {
        std::lock_guard lock(reload_mu);
        for (const auto& p : snapshots.Active()) dirs.insert(p.source);
      }
      reload(dirs);
      std::lock_guard lock(reload_mu);
      return snapshots.Active().size();
    };
    hooks.node_metrics = [&] {
      Json m = Json::object();
      if (runner) {
        m["runner_slots_busy"] = runner->running();
        m["runner_slots"] = config.max_concurrency;
      }
      if (rules_engine) m["rules_triggers_malformed"] = rules_engine->stats().malformed;
      return m;
    };
    if (retention_guard) {
      hooks.bus_retention = [&] { return retention_guard->Last(); };
      hooks.bus_wait_released = [&](const std::string& topic, std::chrono::milliseconds wait) {
        return retention_guard->WaitReleased(topic, wait);
      };
    }
    auto started = api::ApiServer::Start(options, hooks, catalog);
    if (!started.ok()) {
      spdlog::error("cannot start the API: {}", started.message());
      if (supervisor) supervisor->Stop();
      if (rules_engine) rules_engine->Stop();
      if (runner) runner->Stop();
      return 1;
    }
    api_server = std::move(started).value();
    if (Status s = WriteFileAtomic(api_addr, "http://" + api_server->address()); !s.ok()) {
      spdlog::warn("{}", s.message());
    }
  }

  auto watcher = PackWatcher::Start(config.packs_paths, std::chrono::milliseconds(300), reload);
  if (!watcher.ok()) spdlog::warn("live reload disabled: {}", watcher.message());

  // Seen by `gale node list` (alive while heartbeats are younger than 10 s).
  store::NodeInfo self;
  self.name = config.node_name;
  self.roles = config.roles;
  self.started_at = store::NowMs();
  if (api_server) self.info["api"] = "http://" + api_server->address();
  if (partitioner) self.info["partition_provider"] = partitioner->provider();
  auto heartbeat = [&] {
    if (partitioner) {
      std::lock_guard lock(reload_mu);
      // kvstore: the key may have been changed (by `gale key set`); applied within a beat (for
      // the other providers Refresh is a no-op and Apply sees the versions it already runs).
      const bool refreshed = partitioner->Refresh().ok();
      auto specs = Specs(snapshots, *partitioner);
      self.info["sensors"] = SensorsOf(specs);
      if (refreshed) supervisor->Apply(specs);
    }
    self.heartbeat_at = store::NowMs();
    if (Status s = (*store)->Heartbeat(self); !s.ok()) spdlog::warn("heartbeat: {}", s.message());
  };
  heartbeat();
  spdlog::info("node {} up: bus {}{}, store {}, {} pack(s) active, roles {}", config.node_name,
               bus_config.brokers, embedded ? " (embedded)" : "",
               store::RedactUrl(config.store_url), snapshots.Active().size(),
               fmt::join(config.roles, ","));

  int sig = 0;
  const timespec every{2, 0};
  while ((sig = sigtimedwait(&signals, nullptr, &every)) < 0) {
    heartbeat();
    apply_rule_overrides();
  }
  spdlog::info("node {} stopping (signal {})", config.node_name, sig);
  if (api_server) api_server->Stop();
  fs::remove(api_addr, ec);
  fs::remove(api_token, ec);
  if (watcher.ok()) watcher->reset();  // joins the watcher thread
  if (timer_service) timer_service->Stop();
  if (supervisor) supervisor->Stop();
  partitioner.reset();  // leaves gale.sensor-owners only now that its sensors are stopped
  if (rules_engine) rules_engine->Stop();
  if (runner) runner->Stop();
  if (embedded) fs::remove(bus_addr, ec);
  return 0;
}

}  // namespace gale::node
