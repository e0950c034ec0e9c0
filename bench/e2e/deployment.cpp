#include "bench/e2e/deployment.h"

#include <mongoc/mongoc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "host/common/uuid.h"
#include "host/store/open.h"

namespace gale::bench {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

// `base` (mongodb://hosts[/db][?options]) naming database `database` instead.
std::string WithDatabase(const std::string& base, const std::string& database) {
  size_t hosts = base.find("://");
  hosts = hosts == std::string::npos ? 0 : hosts + 3;
  const size_t query = base.find('?', hosts);
  const size_t slash = base.find('/', hosts);
  const std::string options = query == std::string::npos ? "" : base.substr(query);
  if (slash != std::string::npos && (query == std::string::npos || slash < query)) {
    return base.substr(0, slash + 1) + database + options;
  }
  return base.substr(0, query == std::string::npos ? base.size() : query) + "/" + database +
         options;
}

// The database named in `base`, "gale" when none.
std::string DatabaseOf(const std::string& base) {
  size_t hosts = base.find("://");
  hosts = hosts == std::string::npos ? 0 : hosts + 3;
  const size_t slash = base.find('/', hosts);
  if (slash == std::string::npos) return "gale";
  const std::string db = base.substr(slash + 1, base.find('?', slash) - slash - 1);
  return db.empty() ? "gale" : db;
}

void DropMongoDatabase(const std::string& url) {
  mongoc_init();
  bson_error_t error;
  mongoc_uri_t* uri = mongoc_uri_new_with_error(url.c_str(), &error);
  if (uri == nullptr) return;
  if (mongoc_client_t* client = mongoc_client_new_from_uri(uri); client != nullptr) {
    const char* name = mongoc_uri_get_database(uri);
    mongoc_database_t* db = mongoc_client_get_database(client, name ? name : "gale");
    if (!mongoc_database_drop(db, &error)) {
      std::fprintf(stderr, "gale_e2e_bench: could not drop %s: %s\n", name ? name : "gale",
                   error.message);
    }
    mongoc_database_destroy(db);
    mongoc_client_destroy(client);
  }
  mongoc_uri_destroy(uri);
}

bool HasRunner(const std::string& roles) {
  return roles.empty() || roles.find("runner") != std::string::npos;
}

store::ExecutionQuery Measured(std::vector<store::ExecStatus> statuses) {
  store::ExecutionQuery q;
  q.rule = "bench.measured";
  q.statuses = statuses.empty() ? std::vector<store::ExecStatus>{store::ExecStatus::kSucceeded,
                                                                 store::ExecStatus::kFailed,
                                                                 store::ExecStatus::kTimeout,
                                                                 store::ExecStatus::kAbandoned,
                                                                 store::ExecStatus::kCanceled}
                                : std::move(statuses);
  return q;
}

}  // namespace

void Fail(const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "gale_e2e_bench: %s\n", message.c_str());
  std::exit(1);
}

std::unique_ptr<Deployment> Deployment::Start(const Options& o, const DeploySpec& spec) {
  std::unique_ptr<Deployment> d(new Deployment());
  auto dir = MakeTempDir();
  if (!dir.ok()) Fail(dir.message());
  d->dir_ = *dir;
  const fs::path pack = fs::path(d->dir_) / "packs" / "bench";
  fs::create_directories(pack.parent_path());
  fs::copy(o.bench_pack, pack, fs::copy_options::recursive);
  std::ofstream(pack / "config.yaml") << spec.config.dump() << "\n";  // JSON is YAML
  fs::create_directories(pack / "rules");
  std::ofstream(pack / "rules" / "measured.yaml")
      << "---\nname: measured\ntrigger:\n  type: bench.tick\naction:\n"
      << spec.rule_action;
  std::ofstream(pack / "rules" / "probe.yaml")
      << "---\nname: probe\ntrigger:\n  type: bench.probe\naction:\n  ref: core.noop\n";

  NodeSpec& n = d->spec_;
  n.gale_binary = o.gale;
  n.packs_paths = {o.core_packs, (fs::path(d->dir_) / "packs").string()};
  n.brokers = o.brokers;
  const std::string id = UuidV4().substr(0, 8);
  n.topic_prefix = "gale-bench-" + id + ".";
  if (o.store.empty()) {
    n.store_url = "sqlite://" + d->dir_ + "/gale.db";
  } else {
    d->mongo_url_ = WithDatabase(o.store, DatabaseOf(o.store) + "_bench_" + id);
    n.store_url = d->mongo_url_;
  }
  n.bus_key_file = d->dir_ + "/bus.key";  // node 1 creates it, the others read it
  n.extra_yaml = spec.extra_yaml;
  n.name = "bench-1";
  n.roles = spec.first_roles;
  auto first = BenchNode::Start(n);
  if (!first.ok()) Fail(first.message());
  d->nodes_.push_back(std::move(first).value());
  for (int i = 2; i <= spec.nodes; ++i) d->AddNode("[rules, runner]");
  auto store = store::OpenStore(n.store_url);
  if (!store.ok()) Fail(store.message());
  d->store_ = std::move(store).value();
  d->WarmUp((HasRunner(spec.first_roles) ? 1 : 0) + (spec.nodes - 1));
  return d;
}

Deployment::~Deployment() {
  nodes_.clear();
  store_.reset();
  if (!mongo_url_.empty()) DropMongoDatabase(mongo_url_);
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

BenchNode& Deployment::AddNode(const std::string& roles) {
  NodeSpec n = spec_;
  n.name = "bench-" + std::to_string(nodes_.size() + 1);
  n.roles = roles;
  n.brokers = nodes_.at(0)->brokers();
  auto node = BenchNode::Start(n);
  if (!node.ok()) Fail(node.message());
  nodes_.push_back(std::move(node).value());
  return *nodes_.back();
}

// The Pacer probes every 200 ms until `go`. Warm when the probes have run on every runner node
// (so every consumer group has its members), or, with no runner, when a probe's execution has
// been requested (sensor host, bus and rules engine work); then the probes' backlog drains.
void Deployment::WarmUp(int runner_nodes) {
  const auto deadline = std::chrono::steady_clock::now() + seconds(120);
  while (true) {
    store::ExecutionQuery q;
    q.rule = "bench.probe";
    if (runner_nodes > 0) q.statuses = {store::ExecStatus::kSucceeded};
    q.limit = 1000;
    auto page = store_->ListExecutions(q);
    std::set<std::string> ran;
    size_t seen = 0;
    if (page.ok()) {
      for (const auto& x : page->items) ran.insert(x.node);
      seen = page->items.size();
    }
    if (runner_nodes > 0 ? ran.size() >= static_cast<size_t>(runner_nodes) : seen > 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      Fail("the pipeline did not warm up in 120 s (probes ran on " + std::to_string(ran.size()) +
           " of " + std::to_string(runner_nodes) + " runner nodes); node log:\n" +
           nodes_[0]->Log());
    }
    std::this_thread::sleep_for(milliseconds(200));
  }
  std::this_thread::sleep_for(seconds(2));
}

void Deployment::Go() {
  store::KeyValue go;
  go.name = "bench.Pacer:go";
  go.value = "1";
  if (Status s = store_->SetKey(go, store::NowMs()); !s.ok()) Fail(s.message());
}

void WaitExecutions(Deployment& d, int64_t expected, std::vector<store::ExecStatus> statuses) {
  const store::ExecutionQuery q = Measured(std::move(statuses));
  int64_t last = -1;
  auto last_change = std::chrono::steady_clock::now();
  while (true) {
    auto n = d.store().CountExecutions(q);
    if (n.ok() && *n >= expected) return;
    if (n.ok() && *n != last) {
      last = *n;
      last_change = std::chrono::steady_clock::now();
    }
    if (std::chrono::steady_clock::now() - last_change > seconds(60)) {
      std::string logs;
      for (size_t i = 0; i < d.size(); ++i) {
        logs += "\n--- node " + std::to_string(i + 1) + " log:\n" + d.node(i).Log();
      }
      Fail("only " + std::to_string(last) + " of " + std::to_string(expected) +
           " executions got there (no progress for 60 s)" + logs);
    }
    std::this_thread::sleep_for(milliseconds(expected > 20000 ? 1000 : 500));
  }
}

std::vector<store::Execution> AllExecutions(Deployment& d) {
  std::vector<store::Execution> all;
  store::ExecutionQuery q = Measured({});
  q.limit = store::kMaxPageSize;
  while (true) {
    auto page = d.store().ListExecutions(q);
    if (!page.ok()) Fail(page.message());
    for (auto& x : page->items) all.push_back(std::move(x));
    if (page->next_cursor.empty()) break;
    q.cursor = page->next_cursor;
  }
  return all;
}

std::string CoreLocalTrue() {
  return "  ref: core.local\n  parameters:\n"
         "    cmd: \"true {{ trigger.seq }} {{ trigger.sent_ns }}\"\n";
}

RunRecord ReadRun(Deployment& d, int64_t count) {
  RunRecord r;
  std::vector<int> per_seq(static_cast<size_t>(count), 0);
  r.first_sent_ms = INT64_MAX;
  for (const auto& x : AllExecutions(d)) {
    r.finished_ms.push_back(x.finished_at);
    if (x.status != store::ExecStatus::kSucceeded) ++r.failed;
    // "true SEQ SENT_NS", as CoreLocalTrue() renders it.
    std::istringstream cmd(x.parameters.value("cmd", std::string()));
    std::string word;
    long long seq = -1, sent_ns = 0;
    if (!(cmd >> word >> seq >> sent_ns) || seq < 0 || seq >= count) {
      ++r.missing;  // an execution that names no trigger of this run: counted as a fault
      continue;
    }
    if (per_seq[static_cast<size_t>(seq)]++ > 0) ++r.duplicated;
    r.first_sent_ms = std::min<int64_t>(r.first_sent_ms, sent_ns / 1000000);
    r.last_sent_ms = std::max<int64_t>(r.last_sent_ms, sent_ns / 1000000);
  }
  for (int n : per_seq) r.missing += n == 0 ? 1 : 0;
  if (r.first_sent_ms == INT64_MAX) r.first_sent_ms = 0;
  std::sort(r.finished_ms.begin(), r.finished_ms.end());
  return r;
}

std::string Faults(const RunRecord& r) {
  if (r.ExactlyOnce()) return "";
  char buf[160];
  std::snprintf(buf, sizeof buf,
                " (%zu not succeeded, %zu triggers without an execution, %zu duplicates)", r.failed,
                r.missing, r.duplicated);
  return buf;
}

double MiddleRate(const std::vector<int64_t>& finished_ms) {
  if (finished_ms.size() < 10) return 0;
  const size_t lo = finished_ms.size() / 10, hi = finished_ms.size() * 9 / 10;
  const double span_s = static_cast<double>(finished_ms[hi] - finished_ms[lo]) / 1000.0;
  return span_s > 0 ? static_cast<double>(hi - lo) / span_s : 0.0;
}

}  // namespace gale::bench
