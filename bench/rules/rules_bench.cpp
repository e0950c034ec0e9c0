// Rules evaluation throughput on one core: 1,000 rules spread over 50 trigger types, matched
// against 100,000 trigger instances (each instance only against the rules of its type, as the
// rules engine does), then the action parameters of the matching rules rendered.
//
//   build/bin/gale_rules_bench [--instances N] [--rules N] [--types N] [--passes N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/machine.h"
#include "host/expr/template/template.h"
#include "host/rules/criteria.h"

namespace {

using gale::Json;
using gale::expr::TemplateContext;
using gale::rules::Criteria;

struct Rule {
  int type;
  Criteria criteria;
  Json parameters;
};

const char* kStatuses[] = {"open", "closed", "acknowledged", "resolved", "pending"};
const char* kEnvs[] = {"prod", "staging", "dev", "qa"};
const char* kRegions[] = {"eu-west-1", "us-east-1", "ap-south-1", "us-west-2"};
const char* kRoles[] = {"web", "db", "cache", "queue", "api", "worker"};
const char* kWords[] = {"timeout",      "connection refused",  "disk full", "OOM killed",
                        "latency high", "certificate expired", "healthy",   "restarted"};
const char* kTags[] = {"db", "frontend", "critical", "pci", "batch", "edge", "k8s"};

Json MakePayload(std::mt19937& rng) {
  auto pick = [&](auto& arr) { return arr[rng() % (sizeof(arr) / sizeof(arr[0]))]; };
  std::string role = pick(kRoles);
  std::string env = pick(kEnvs);
  Json tags = Json::array();
  int ntags = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < ntags; ++i) tags.push_back(pick(kTags));
  Json p = {
      {"host", role + "-" + std::to_string(rng() % 40) + "." + env + ".example.com"},
      {"status", pick(kStatuses)},
      {"severity", static_cast<int>(rng() % 6)},
      {"env", env},
      {"message", std::string("service ") + role + ": " + pick(kWords) + " after " +
                      std::to_string(rng() % 900) + "ms"},
      {"tags", tags},
      {"source",
       {{"region", pick(kRegions)},
        {"ip", "10.0." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256)}}},
      {"count", static_cast<int>(rng() % 1000)},
  };
  if (rng() % 4 == 0) p["owner"] = "team-" + std::to_string(rng() % 10);
  return p;
}

// One criterion with a realistic operator mix: equals 30%, regex 20%, contains 20%, inside 15%,
// exists 10%, and greaterthan/startswith/iequals for the rest.
std::pair<std::string, Json> MakeCriterion(std::mt19937& rng) {
  auto pick = [&](auto& arr) { return arr[rng() % (sizeof(arr) / sizeof(arr[0]))]; };
  int r = static_cast<int>(rng() % 100);
  if (r < 30) {
    if (rng() % 2) return {"trigger.status", {{"type", "equals"}, {"pattern", pick(kStatuses)}}};
    return {"trigger.env", {{"type", "eq"}, {"pattern", pick(kEnvs)}}};
  }
  if (r < 50) {
    static const char* kRegexes[] = {"^web-\\d+\\.prod\\.", "\\.(prod|staging)\\.example\\.com$",
                                     "(timeout|refused)",   "^(db|cache)-[0-9]+",
                                     "latency \\w+",        "after [1-9][0-9]{2}ms$"};
    const char* field = rng() % 2 ? "trigger.host" : "trigger.message";
    return {field, {{"type", rng() % 5 == 0 ? "iregex" : "regex"}, {"pattern", pick(kRegexes)}}};
  }
  if (r < 70) {
    if (rng() % 2) return {"trigger.message", {{"type", "contains"}, {"pattern", pick(kWords)}}};
    return {"trigger.tags", {{"type", "contains"}, {"pattern", pick(kTags)}}};
  }
  if (r < 85) {
    Json list = Json::array({pick(kRegions), pick(kRegions)});
    if (rng() % 2) return {"trigger.source.region", {{"type", "inside"}, {"pattern", list}}};
    return {"trigger.env", {{"type", "in"}, {"pattern", Json::array({pick(kEnvs), pick(kEnvs)})}}};
  }
  if (r < 95) {
    if (rng() % 2) return {"trigger.owner", {{"type", "exists"}}};
    return {"trigger.source.ip", {{"type", "exists"}}};
  }
  if (r < 97)
    return {"trigger.severity", {{"type", "gt"}, {"pattern", static_cast<int>(rng() % 5)}}};
  if (r < 99) return {"trigger.host", {{"type", "startswith"}, {"pattern", pick(kRoles)}}};
  return {"trigger.status", {{"type", "iequals"}, {"pattern", "OPEN"}}};
}

int Arg(int argc, char** argv, const char* name, int dflt) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == name) return std::atoi(argv[i + 1]);
  }
  return dflt;
}

}  // namespace

int main(int argc, char** argv) {
  const int n_instances = Arg(argc, argv, "--instances", 100'000);
  const int n_rules = Arg(argc, argv, "--rules", 1'000);
  const int n_types = Arg(argc, argv, "--types", 50);
  const int passes = Arg(argc, argv, "--passes", 3);

  std::printf("machine: %s\n", gale::bench::Machine().c_str());
  std::printf("workload: %d rules over %d trigger types, %d trigger instances, 1 thread\n", n_rules,
              n_types, n_instances);

  std::mt19937 rng(42);
  std::vector<std::vector<Rule>> by_type(static_cast<std::size_t>(n_types));
  int criteria_total = 0;
  for (int i = 0; i < n_rules; ++i) {
    int type = i % n_types;
    Json criteria = Json::object();
    int n = 2 + static_cast<int>(rng() % 2);  // two or three criteria per rule
    for (int k = 0; k < n; ++k) {
      auto [key, spec] = MakeCriterion(rng);
      criteria[key + "#" + std::to_string(k)] = spec;
    }
    auto compiled = Criteria::Compile(criteria);
    if (!compiled.ok()) {
      std::fprintf(stderr, "rule %d: %s\n", i, compiled.message().c_str());
      return 1;
    }
    criteria_total += static_cast<int>(compiled->size());
    Json params = {
        {"cmd", "notify --host {{ trigger.host }} --status {{ trigger.status | upper }}"},
        {"severity", "{{ trigger.severity }}"},
        {"tags", "{{ trigger.tags | join(',') }}"},
        {"channel", "#ops"}};
    by_type[static_cast<std::size_t>(type)].push_back(
        {type, std::move(compiled).value(), std::move(params)});
  }
  std::printf("rules: %d criteria in total (%.1f per rule)\n", criteria_total,
              static_cast<double>(criteria_total) / n_rules);

  std::vector<std::pair<int, Json>> instances;
  instances.reserve(static_cast<std::size_t>(n_instances));
  for (int i = 0; i < n_instances; ++i) {
    instances.emplace_back(static_cast<int>(rng() % static_cast<unsigned>(n_types)),
                           MakePayload(rng));
  }

  TemplateContext ctx;
  double best_evals_per_s = 0, best_instances_per_s = 0, best_ns = 0;
  long long matches = 0, evaluations = 0;
  for (int pass = 0; pass < passes; ++pass) {
    matches = 0;
    evaluations = 0;
    auto start = std::chrono::steady_clock::now();
    for (const auto& [type, payload] : instances) {
      for (const Rule& rule : by_type[static_cast<std::size_t>(type)]) {
        ++evaluations;
        matches += rule.criteria.Matches(payload, ctx);
      }
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double eps = static_cast<double>(evaluations) / s;
    std::printf(
        "pass %d: %lld rule evaluations in %.3f s: %.0f rules evaluated/s, %.0f trigger "
        "instances/s (%lld matches)\n",
        pass + 1, evaluations, s, eps, n_instances / s, matches);
    if (eps > best_evals_per_s) {
      best_evals_per_s = eps;
      best_instances_per_s = n_instances / s;
      best_ns = 1e9 * s / static_cast<double>(evaluations);
    }
  }
  std::printf("best: %.0f rules evaluated/s (%.0f ns each), %.0f trigger instances/s\n",
              best_evals_per_s, best_ns, best_instances_per_s);

  // Action parameters of the matching rules (templates parsed on every render, as RenderParameters
  // does), over the first 20,000 instances.
  long long rendered = 0, failed = 0;
  auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < instances.size() && i < 20'000; ++i) {
    const auto& [type, payload] = instances[i];
    TemplateContext pctx;
    pctx.trigger = &payload;
    for (const Rule& rule : by_type[static_cast<std::size_t>(type)]) {
      if (!rule.criteria.Matches(payload, ctx)) continue;
      auto r = gale::expr::RenderParameters(rule.parameters, pctx);
      ++rendered;
      failed += !r.ok();
    }
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "parameters: %lld renders (4 parameters, 3 templated) in %.3f s: %.0f renders/s "
      "(including re-matching), %lld failed\n",
      rendered, s, rendered / s, failed);
  std::printf("target (1,000,000 rules evaluated/s): %s\n",
              best_evals_per_s >= 1e6 ? "met" : "missed");
  return 0;
}
