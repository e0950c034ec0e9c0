#include "host/rules/engine/rules_engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <utility>

#include "host/bus/consumer_role.h"
#include "host/bus/messages.h"
#include "host/common/failpoint.h"
#include "host/common/uuid.h"
#include "host/expr/template/template.h"
#include "host/packs/secrets.h"
#include "host/requests/action_context.h"
#include "host/requests/execution_request.h"
#include "host/requests/trigger_record.h"
#include "host/store/secret_parameters.h"

namespace gale::rules::engine {

struct RulesEngine::Counters {
  std::atomic<uint64_t> triggers_processed{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> malformed{0};
  std::atomic<uint64_t> rules_matched{0};
  std::atomic<uint64_t> executions_created{0};
  std::atomic<uint64_t> executions_failed{0};
  std::atomic<uint64_t> requests_produced{0};
  std::atomic<uint64_t> batches_committed{0};
  std::atomic<uint64_t> batch_retries{0};
};

namespace {

using bus::Where;

// Forces `s` retryable: used for errors that concern the batch, not one message.
Status AsRetryable(const Status& s, const std::string& context) {
  return Status::Error(context + ": " + s.message(), true);
}

// The action parameters of one execution of `rule` for trigger instance `instance`: its
// parameters rendered with the trigger, action_context and config_context (StackStorm's names),
// then completed and checked for its action. Returns the reason on failure, "" on success.
std::string BuildParameters(const CompiledRule& rule, const std::string& instance,
                            const std::string& user, const expr::TemplateContext& trigger_ctx,
                            Json* out) {
  if (!rule.action) return "action '" + rule.action_ref + "' not found";
  requests::ActionContext context;
  context.user = user;
  context.pack = rule.action->pack;
  context.rule_ref = rule.ref;
  context.rule_name = rule.name;
  context.trigger_instance = instance;
  const Json vars = requests::TemplateVars(context, rule.action->pack_config);
  expr::TemplateContext ctx = trigger_ctx;
  ctx.vars = &vars;
  auto rendered = expr::RenderParameters(rule.action_parameters, ctx);
  if (!rendered.ok()) return rendered.message();
  return requests::BuildActionParameters(*rule.action, *rendered, ctx, "rule '" + rule.ref + "'",
                                         out);
}

// A rule with trigger parameters (a webhook's `url`) sees only instances fired with the same
// values; a rule without any sees every instance of its trigger type.
bool TriggerParametersMatch(const CompiledRule& rule, const Json& fired) {
  for (const auto& [name, value] : rule.trigger_parameters.items()) {
    if (!fired.is_object() || !fired.contains(name) || fired[name] != value) return false;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<RulesEngine>> RulesEngine::Create(RulesEngineOptions options,
                                                         std::shared_ptr<const RuleSet> rules) {
  if (options.store == nullptr) return Status::Error("rules engine: no store");
  if (!rules) return Status::Error("rules engine: no rule set");
  if (options.batch_size == 0) options.batch_size = 1;
  if (!options.clock) options.clock = [] { return store::NowMs(); };
  for (const auto& w : rules->warnings()) spdlog::warn("rules engine: {}", w);
  auto producer = bus::Producer::Create(options.bus);
  if (!producer.ok()) return producer.status().WithContext("rules engine: producer");
  return std::unique_ptr<RulesEngine>(
      new RulesEngine(std::move(options), std::move(rules), std::move(producer).value()));
}

RulesEngine::RulesEngine(RulesEngineOptions options, std::shared_ptr<const RuleSet> rules,
                         std::unique_ptr<bus::Producer> producer)
    : options_(std::move(options)),
      producer_(std::move(producer)),
      executions_topic_(bus::Topic(options_.bus, bus::kExecutions)),
      dead_letters_topic_(bus::Topic(options_.bus, bus::kDeadLetters)),
      rules_(std::move(rules)),
      counters_(std::make_unique<Counters>()) {}

RulesEngine::~RulesEngine() {
  Stop();
}

Status RulesEngine::Start() {
  if (started_) return Status::Error("rules engine: already started");
  bus::ConsumerRole::Options ropts;
  ropts.name = "rules engine";
  bus::Consumer::Options& copts = ropts.consumer;
  copts.group_id = bus::Group(options_.bus, bus::kRulesGroup);
  attempts_.emplace(options_.store, copts.group_id);
  attempts_group_ = copts.group_id;
  copts.topics = {bus::Topic(options_.bus, bus::kTriggers)};
  copts.from_beginning = true;
  // Runs inside Poll() on the worker: messages of partitions given away that are still waiting
  // in the batch being collected are dropped (the next owner starts at the committed offset).
  copts.on_revoked = [this](const std::vector<bus::TopicPartition>& revoked) {
    std::set<std::pair<std::string, int32_t>> gone;
    for (const auto& tp : revoked) gone.emplace(tp.topic, tp.partition);
    std::erase_if(pending_, [&](const bus::Message& m) {
      return gone.count({m.topic, m.partition}) > 0;
    });
  };
  // A batch (or, in the crash-loop guard's careful mode, one message) is committed as a whole
  // once flushed; a commit the broker cannot take now is worth a few quick tries.
  ropts.commit_attempts = 3;
  ropts.poll_timeout = options_.poll_timeout;
  ropts.on_commit = [this](const bus::ConsumerRole::Commit& c) {
    if (c.status.ok()) {
      counters_->batches_committed++;
    } else {
      // Everything is recorded and produced: a redelivery of the batch is harmless.
      spdlog::warn("rules engine: commit of {} messages failed (they may be redelivered): {}",
                   c.messages, c.status.message());
    }
  };
  auto consumer = bus::ConsumerRole::Create(options_.bus, std::move(ropts));
  if (!consumer.ok()) return consumer.status().WithContext("rules engine: consumer");
  consumer_ = std::move(consumer).value();
  started_ = true;
  stopping_ = false;
  worker_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void RulesEngine::Stop() {
  stopping_ = true;
  if (worker_.joinable()) worker_.join();
  if (consumer_) {
    (void)consumer_->Close();
    consumer_.reset();
  }
}

void RulesEngine::UpdateRules(std::shared_ptr<const RuleSet> rules) {
  if (!rules) return;
  for (const auto& w : rules->warnings()) spdlog::warn("rules engine: {}", w);
  std::lock_guard<std::mutex> lock(rules_mu_);
  rules_ = overrides_.empty() ? std::move(rules) : rules->WithOverrides(overrides_);
}

Status RulesEngine::SetRuleEnabled(const std::string& ref, bool enabled) {
  std::lock_guard<std::mutex> lock(rules_mu_);
  GALE_ASSIGN_OR_RETURN(auto updated, rules_->SetEnabled(ref, enabled));
  rules_ = std::move(updated);
  overrides_[ref] = enabled;
  return Status::Ok();
}

std::shared_ptr<const RuleSet> RulesEngine::rules() const {
  std::lock_guard<std::mutex> lock(rules_mu_);
  return rules_;
}

RulesEngineStats RulesEngine::stats() const {
  RulesEngineStats s;
  s.triggers_processed = counters_->triggers_processed.load();
  s.duplicates = counters_->duplicates.load();
  s.malformed = counters_->malformed.load();
  s.rules_matched = counters_->rules_matched.load();
  s.executions_created = counters_->executions_created.load();
  s.executions_failed = counters_->executions_failed.load();
  s.requests_produced = counters_->requests_produced.load();
  s.batches_committed = counters_->batches_committed.load();
  s.batch_retries = counters_->batch_retries.load();
  return s;
}

void RulesEngine::Run() {
  while (!stopping_) {
    auto first = consumer_->Poll(options_.poll_timeout);
    if (!first.ok()) {
      consumer_->PollFailed(first.status());
      continue;
    }
    if (!first->has_value()) continue;
    pending_.push_back(std::move(**first));
    // The batch is what has arrived within fill_timeout of its first message, and then what
    // has been fetched already: a backlog goes in full batches, and a steady stream never
    // waits more than fill_timeout for its batch to close.
    const auto close_at = std::chrono::steady_clock::now() + options_.fill_timeout;
    while (pending_.size() < options_.batch_size) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          close_at - std::chrono::steady_clock::now());
      auto next = consumer_->Poll(std::max(left, std::chrono::milliseconds(0)));
      if (!next.ok() || !next->has_value()) break;
      pending_.push_back(std::move(**next));
    }
    std::vector<bus::Message> batch = std::move(pending_);
    pending_.clear();
    if (batch.empty()) continue;  // all revoked while collecting

    auto backoff = options_.retry_min;
    guard_ = {};
    for (;;) {
      Status s = ProcessGuarded(batch);
      if (s.ok()) {
        if (!batch.empty()) CommitBatch(batch);
        break;
      }
      counters_->batch_retries++;
      spdlog::warn("rules engine: batch of {} from {} not committed, retrying in {} ms: {}",
                   batch.size(), Where(batch.front()), backoff.count(), s.message());
      // Stopping leaves the batch uncommitted: the next member of the group redoes it.
      bus::WaitUnlessStopping(backoff, stopping_);
      if (stopping_) break;
      backoff = std::min(backoff * 2, options_.retry_max);
    }
  }
}

// One trigger instance message, worked out before anything is written.
struct RulesEngine::Plan {
  const bus::Message* message = nullptr;
  store::TriggerInstance instance;
  struct Execution {
    store::Execution record;  // requested, or failed with the reason
    std::string error;        // why it failed; empty when requested
  };
  std::vector<Execution> executions;  // one per matching rule
};

// What a batch wrote, for after its commit.
struct RulesEngine::Recorded {
  std::vector<store::Execution> requests;  // executions (still) requested: their requests go out
  std::vector<std::pair<const bus::Message*, std::string>> dead;  // set aside, and why
  uint64_t triggers = 0, duplicates = 0, created = 0, failed = 0;
  std::vector<std::pair<std::string, std::string>> failures;  // execution id, reason
};

Status RulesEngine::ProcessBatch(const std::vector<bus::Message>& batch) {
  std::shared_ptr<const RuleSet> rules = this->rules();
  // 1. Decode, match and render every message: CPU and datastore reads only.
  std::vector<Plan> plans;
  plans.reserve(batch.size());
  std::vector<std::pair<const bus::Message*, std::string>> unplanned;
  for (const auto& m : batch) {
    if (!m.authentic) continue;  // not signed by this deployment: counted and logged
    Plan plan;
    Status s = PlanMessage(m, *rules, &plan);
    if (s.ok()) {
      plans.push_back(std::move(plan));
    } else if (s.retryable()) {
      return s.WithContext(Where(m));
    } else {
      // Not the store or the bus failing but the message itself: retrying cannot help.
      unplanned.emplace_back(&m, s.message());
    }
  }
  // 2. Record the whole batch: one store batch, one commit.
  Recorded recorded;
  Status written = options_.store->Batch([&](store::Store& batch_store) -> Status {
    recorded = Recorded{};  // a batch retried by the store starts over
    for (const Plan& plan : plans) {
      // Tests of a crash part way through a batch (nothing of it may count, all of it is redone).
      if (FailpointHit("rules.abort_mid_batch", plan.message->key)) std::abort();
      Status s = RecordPlan(plan, batch_store, &recorded);
      if (s.ok()) continue;
      if (s.retryable()) return s.WithContext(Where(*plan.message));
      recorded.dead.emplace_back(plan.message, s.message());
    }
    return Status::Ok();
  });
  if (!written.ok()) {
    return written.retryable() ? written : AsRetryable(written, "recording the batch");
  }
  counters_->triggers_processed += recorded.triggers;
  counters_->duplicates += recorded.duplicates;
  counters_->executions_created += recorded.created;
  counters_->executions_failed += recorded.failed;
  for (const auto& [id, reason] : recorded.failures) {
    spdlog::warn("rules engine: execution {} failed: {}", id, reason);
  }
  // 3. Durable now: request the executions, set aside what could not be processed, flush.
  for (const store::Execution& e : recorded.requests) {
    Status produced =
        producer_->Produce(executions_topic_, e.id, bus::Encode(requests::ExecutionRequestOf(e)));
    if (!produced.ok()) return AsRetryable(produced, "producing execution request " + e.id);
    counters_->requests_produced++;
  }
  for (const auto& [m, reason] : unplanned) GALE_TRY(DeadLetter(*m, reason));
  for (const auto& [m, reason] : recorded.dead) GALE_TRY(DeadLetter(*m, reason));
  // Tests of a crash between the batch's commit and its requests going out.
  for (const auto& m : batch) {
    if (FailpointHit("rules.abort_before_flush", m.key)) std::abort();
  }
  Status flushed = producer_->Flush(options_.flush_timeout);
  if (!flushed.ok()) return AsRetryable(flushed, "flushing execution requests");
  return Status::Ok();
}

Status RulesEngine::DeadLetter(const bus::Message& m, const std::string& reason) {
  spdlog::error("rules engine: {} goes to {}: {}", Where(m), dead_letters_topic_, reason);
  Status sent =
      bus::SendToDeadLetters(*producer_, dead_letters_topic_, m, reason, options_.node_name);
  if (!sent.ok()) return AsRetryable(sent, "dead letter for " + Where(m));
  // A record the API left `pending` is not fired again at the next start.
  if (auto instance = bus::DecodeTriggerInstance(m.value); instance.ok()) {
    options_.store->SetTriggerInstanceStatus(instance->id, store::TriggerStatus::kProcessingFailed)
        .ok();
  }
  return Status::Ok();
}

Status RulesEngine::ProcessGuarded(std::vector<bus::Message>& batch) {
  // Counted once per batch taken (a retry in this process is the store's or the bus's failure,
  // not the message's): each partition's first message, one store write per partition.
  // Only partitions this member has not worked on since it was given them: a crash is
  // retried from the committed offset by the next owner, whose first batch counts it
  // (ConsumerRole::WorkedSinceAssigned).
  if (!guard_.counted) {
    std::vector<const bus::Message*> firsts = bus::FirstOfUnworkedPartitions(*consumer_, batch);
    // All partitions in one store batch: one commit, which must be durable before the work.
    std::map<std::pair<std::string, int32_t>, int> first;
    Status counted = firsts.empty()
                         ? Status::Ok()
                         : options_.store->Batch([&](store::Store& batch_store) -> Status {
                             first.clear();
                             store::MessageAttempts attempts(&batch_store, attempts_group_);
                             for (const bus::Message* m : firsts) {
                               auto n = attempts.Begin(m->topic, m->partition, m->key, m->offset);
                               if (!n.ok()) return n.status();
                               first[{m->topic, m->partition}] = *n;
                             }
                             return Status::Ok();
                           });
    if (!counted.ok()) return AsRetryable(counted, "crash-loop guard");
    for (const auto& [partition, n] : first) guard_.careful = guard_.careful || n > 1;
    guard_.first = std::move(first);
    guard_.counted = true;
  }
  if (!guard_.careful) return ProcessBatch(batch);

  // Begun before and never committed: the process ended during it, or its retries did. One
  // message at a time, each counted and committed alone, finds the one at fault.
  while (!batch.empty()) {
    const bus::Message& m = batch.front();
    if (!guard_.front) {
      if (auto it = guard_.first.find({m.topic, m.partition}); it != guard_.first.end()) {
        guard_.front = it->second;  // counted above
        guard_.first.erase(it);
      } else {
        auto n = attempts_->Begin(m.topic, m.partition, m.key, m.offset);
        if (!n.ok()) return AsRetryable(n.status(), "crash-loop guard");
        guard_.front = *n;
      }
    }
    if (*guard_.front > store::kMaxMessageAttempts) {
      GALE_TRY(DeadLetter(m, "set aside after " + std::to_string(*guard_.front - 1) +
                                 " attempts that did not finish (the process ended during each)"));
      if (Status f = producer_->Flush(options_.flush_timeout); !f.ok()) {
        return AsRetryable(f, "flushing a dead letter");
      }
    } else if (Status s = ProcessBatch({m}); !s.ok()) {
      return s;  // retried from this message
    }
    CommitBatch({m});
    batch.erase(batch.begin());
    guard_.front.reset();
  }
  return Status::Ok();
}

void RulesEngine::CommitBatch(const std::vector<bus::Message>& batch) {
  for (const auto& m : batch) consumer_->Done(m);
  consumer_->CommitDone();  // counted or logged by on_commit
}

Status RulesEngine::PlanMessage(const bus::Message& m, const RuleSet& rules, Plan* plan) {
  if (FailpointHit("rules.abort_on", m.value)) std::abort();  // tests of the crash-loop guard
  auto decoded = bus::DecodeTriggerInstance(m.value);
  if (!decoded.ok()) {
    counters_->malformed++;
    return decoded.status();
  }
  plan->message = &m;
  // Already there, `pending`, when the API recorded it before answering: kept as it is.
  plan->instance = requests::TriggerRecordOf(*decoded, store::TriggerStatus::kProcessing);
  const store::TriggerInstance& ti = plan->instance;

  const store::TimeMs now = options_.clock();
  Status kv_error = Status::Ok();
  expr::TemplateContext ctx;
  ctx.trigger = &ti.payload;
  ctx.kv = requests::DatastoreLookup(*options_.store, options_.system_user, now, &kv_error);
  ctx.decrypt = options_.decrypt;

  const Json& fired_parameters = ti.trigger_parameters;
  for (const CompiledRule* rule : rules.ForTrigger(ti.trigger)) {
    if (!rule->criteria || !TriggerParametersMatch(*rule, fired_parameters)) continue;
    bool matched = rule->criteria->Matches(ti.payload, ctx);
    // A datastore that could not answer must not decide the match: retry the batch.
    if (!kv_error.ok() && kv_error.retryable()) return kv_error;
    if (!matched) continue;
    counters_->rules_matched++;

    Plan::Execution& planned = plan->executions.emplace_back();
    store::Execution& e = planned.record;
    e.id = UuidV5(kGaleNamespace, ti.id + rule->ref);
    e.action = rule->action_ref;
    e.rule = rule->ref;
    e.trigger_instance = ti.id;
    e.trace_id = ti.trace_id;
    e.requested_at = now;
    Json parameters = Json::object();
    std::string error = BuildParameters(*rule, ti.id, options_.system_user, ctx, &parameters);
    if (!kv_error.ok() && kv_error.retryable()) return kv_error;
    if (error.empty() && rule->action) {
      // Secrets are sealed into the record, which is what the runner runs; the request only
      // names the execution.
      Status sealed = store::SealSecretParameters(options_.cipher ? &*options_.cipher : nullptr,
                                                  rule->action->secrets, parameters, &e);
      if (!sealed.ok()) error = sealed.message();
    }
    if (error.empty()) {
      e.status = store::ExecStatus::kRequested;
    } else {
      e.status = store::ExecStatus::kFailed;
      e.finished_at = now;
      e.result = Json{{"error", error}};
      // Kept for whoever looks at the failure, with nothing secret in clear.
      e.parameters =
          rule->action ? packs::MaskSecrets(parameters, rule->action->secrets) : parameters;
      e.secret_parameters = Json::object();
      planned.error = "rule " + rule->ref + ": " + error;
    }
  }
  return Status::Ok();
}

Status RulesEngine::RecordPlan(const Plan& plan, store::Store& st, Recorded* out) {
  const store::TriggerInstance& ti = plan.instance;
  if (!ti.dedupe_key.empty()) {
    // The instance owns the window it opens: delivered again (a crash before its record or
    // its executions were written) it carries on where it stopped instead of collapsing.
    auto first = st.InsertDedupeKey(ti.trigger + ":" + ti.dedupe_key, ti.id,
                                    options_.dedupe_window.count(), ti.occurred_at);
    if (!first.ok()) return first.status().WithContext("dedupe key");
    if (!*first) {
      // Or this very instance delivered again after it was recorded, while a later instance
      // of the key has opened a new window since: it was not a duplicate then, nor is it now.
      auto existing = st.GetTriggerInstance(ti.id);
      if (!existing.ok()) return existing.status().WithContext("trigger instance");
      if (!existing->has_value()) {
        out->duplicates++;
        spdlog::debug("rules engine: trigger instance {} ({}) collapsed: dedupe_key '{}' seen",
                      ti.id, ti.trigger, ti.dedupe_key);
        return Status::Ok();
      }
    }
  }
  if (auto inserted = st.InsertTriggerInstance(ti); !inserted.ok()) {
    return inserted.status().WithContext("trigger instance");
  }
  out->triggers++;
  for (const Plan::Execution& planned : plan.executions) {
    const store::Execution& e = planned.record;
    auto created = st.CreateExecution(e);
    if (!created.ok()) return created.status().WithContext("execution " + e.id);
    if (*created) {
      if (planned.error.empty()) {
        out->created++;
        out->requests.push_back(e);
      } else {
        out->failed++;
        out->failures.emplace_back(e.id, planned.error);
      }
      continue;
    }
    // Created by an earlier delivery: the record wins (its parameters were rendered then), and
    // its request goes out again while it is still requested (the earlier one may be lost).
    auto existing = st.GetExecution(e.id);
    if (!existing.ok()) return existing.status().WithContext("execution " + e.id);
    if (!existing->has_value()) {
      return Status::Error("execution " + e.id + " vanished after create", true);
    }
    if ((*existing)->status == store::ExecStatus::kRequested) {
      out->requests.push_back(std::move(**existing));
    }
  }
  auto marked = st.SetTriggerInstanceStatus(ti.id, store::TriggerStatus::kProcessed);
  if (!marked.ok()) return marked.status().WithContext("trigger instance status");
  return Status::Ok();
}

}  // namespace gale::rules::engine
