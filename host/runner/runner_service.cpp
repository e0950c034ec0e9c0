#include "host/runner/runner_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <utility>

#include "host/bus/consumer_role.h"
#include "host/bus/messages.h"
#include "host/common/failpoint.h"
#include "host/runner/launch.h"
#include "host/store/secret_parameters.h"
#include "sandbox/process.h"

namespace gale::runner {

using store::ExecStatus;

struct RunnerService::Counters {
  std::atomic<uint64_t> claimed{0}, skipped{0}, malformed{0}, succeeded{0}, failed{0}, timed_out{0},
      canceled{0}, abandoned{0}, lost{0}, pauses{0}, peak_running{0}, output_chunks{0}, commits{0};
};

struct RunnerService::Running {
  std::shared_ptr<sandbox::Process> process;  // null until spawned (and for noop)
  bool cancel = false;                        // kill it: canceled through the store
  bool lease_lost = false;                    // kill it: another runner marked it abandoned
  bool shutdown = false;                      // kill it: the runner is stopping
  bool completing = false;  // its result is being recorded: a failed renewal means nothing
  bool output_error_logged = false;
  std::string datastore_token;  // unregistered when the execution completes
  // [workflow] a workflow's task: named in its events, so the engine needs no store read.
  std::string parent, task;
};

namespace {

using bus::Where;

}  // namespace

Result<std::unique_ptr<RunnerService>> RunnerService::Create(
    RunnerOptions options, std::shared_ptr<const ActionIndex> actions) {
  if (options.store == nullptr) return Status::Error("runner: no store");
  if (!actions) return Status::Error("runner: no actions");
  if (options.max_concurrency < 1) return Status::Error("runner: max_concurrency must be >= 1");
  if (options.lease < std::chrono::milliseconds(300)) {
    return Status::Error("runner: lease must be at least 300 ms");
  }
  if (options.abandon_check.count() <= 0) {
    options.abandon_check = std::max(options.lease / 3, std::chrono::milliseconds(100));
  }
  if (options.commit_every == 0) options.commit_every = 1;
  if (options.io_threads < 1) options.io_threads = 1;
  if (!options.clock) options.clock = [] { return store::NowMs(); };
  auto producer = bus::Producer::Create(options.bus);
  if (!producer.ok()) return producer.status().WithContext("runner: producer");
  return std::unique_ptr<RunnerService>(
      new RunnerService(std::move(options), std::move(actions), std::move(producer).value()));
}

RunnerService::RunnerService(RunnerOptions options, std::shared_ptr<const ActionIndex> actions,
                             std::unique_ptr<bus::Producer> producer)
    : options_(std::move(options)),
      producer_(std::move(producer)),
      events_topic_(bus::Topic(options_.bus, bus::kExecutionEvents)),
      dead_letters_topic_(bus::Topic(options_.bus, bus::kDeadLetters)),
      actions_(std::move(actions)),
      counters_(std::make_unique<Counters>()) {
  // [policies]
  policies_ = std::make_unique<policies::RunnerPolicies>(policies::RunnerPoliciesOptions{
      options_.store, options_.node_name, options_.lease, options_.policy_sweep, options_.clock,
      [this]() -> std::shared_ptr<const packs::PolicyIndex> {
        std::lock_guard<std::mutex> lock(actions_mu_);
        return {actions_, &actions_->policies()};
      },
      producer_.get(), bus::Topic(options_.bus, bus::kExecutions)});
}

RunnerService::~RunnerService() {
  Stop();
}

Status RunnerService::Start() {
  if (started_) return Status::Error("runner: already started");
  // Without its supervisor no action can start: say so now, not once per execution.
  if (auto keeper = sandbox::FindKeeper(); !keeper.ok()) return keeper.status();
  if (!options_.datastore_socket.empty()) {
    datastore::PolicyContext context;
    context.store = options_.store;
    context.cipher = options_.cipher ? &*options_.cipher : nullptr;
    context.dispatch = options_.dispatch;
    context.clock = options_.clock;
    auto broker = std::make_unique<datastore::DatastoreBroker>(context, options_.node_name);
    Status listening = broker->Listen(options_.datastore_socket, options_.datastore_group);
    if (listening.ok()) listening = broker->Start();
    if (listening.ok()) {
      datastore_ = std::move(broker);
    } else {
      // Actions still run; those that call the datastore fail with the reason it is absent.
      spdlog::error("runner: no datastore for actions: {}", listening.message());
    }
  }
  bus::ConsumerRole::Options ropts;
  ropts.name = "runner";
  bus::Consumer::Options& copts = ropts.consumer;
  copts.group_id = bus::Group(options_.bus, bus::kRunnersGroup);
  attempts_.emplace(options_.store, copts.group_id);
  attempts_group_ = copts.group_id;
  copts.topics = {bus::Topic(options_.bus, bus::kExecutions)};
  copts.from_beginning = true;
  // Inside Poll() on the consumer thread, after the claims made on partitions being given away
  // are committed (so their next owner does not even see them again): a request held back for
  // a free slot on a revoked partition is dropped; its next owner starts at the committed
  // offset and handles it.
  copts.on_revoked = [this](const std::vector<bus::TopicPartition>& revoked) {
    std::set<std::pair<std::string, int32_t>> gone;
    for (const auto& tp : revoked) gone.emplace(tp.topic, tp.partition);
    std::erase_if(pending_, [&](const bus::Message& m) {
      return gone.count({m.topic, m.partition}) > 0;
    });
  };
  // Claims are committed in batches: at most `commit_every` of them, or one idle poll later.
  ropts.commit_every = options_.commit_every;
  ropts.poll_timeout = options_.poll_timeout;
  ropts.on_commit = [this](const bus::ConsumerRole::Commit& c) {
    if (!c.status.ok()) {
      // The claims are in the store: a redelivery of these requests is skipped, never rerun.
      spdlog::warn("runner: commit of {} partition offset(s) failed: {}", c.partitions,
                   c.status.message());
    } else {
      counters_->commits++;
    }
  };
  auto consumer = bus::ConsumerRole::Create(options_.bus, std::move(ropts));
  if (!consumer.ok()) return consumer.status().WithContext("runner: consumer");
  consumer_ = std::move(consumer).value();
  started_ = true;
  work_.emplace(boost::asio::make_work_guard(io_));
  for (int i = 0; i < options_.io_threads; ++i) io_threads_.emplace_back([this] { io_.run(); });
  consumer_thread_ = std::thread([this] { ConsumeLoop(); });
  maintenance_thread_ = std::thread([this] { MaintenanceLoop(); });
  return Status::Ok();
}

void RunnerService::Stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  stopping_ = true;
  if (consumer_thread_.joinable()) consumer_thread_.join();
  if (consumer_) {
    (void)consumer_->Close();
    consumer_.reset();
  }
  {
    std::unique_lock<std::mutex> lock(running_mu_);
    if (!slot_freed_.wait_for(lock, options_.shutdown_grace, [&] { return running_.empty(); })) {
      spdlog::warn("runner: stopping with {} execution(s) still running: killing them",
                   running_.size());
      for (auto& [id, run] : running_) {
        run->shutdown = true;
        if (run->process) run->process->Cancel();
      }
      // TERM, kill_grace, KILL: bounded by the sandbox; wait for their completion handlers.
      slot_freed_.wait_for(lock, std::chrono::minutes(2), [&] { return running_.empty(); });
    }
  }
  stop_maintenance_ = true;
  if (maintenance_thread_.joinable()) maintenance_thread_.join();
  if (datastore_) datastore_->Stop();
  // Every execution has completed; whatever asynchronous work is left (a supervisor's exit
  // still being waited for) is abandoned here and cleaned up when io_ is destroyed.
  work_.reset();
  io_.stop();
  for (auto& t : io_threads_) t.join();
  io_threads_.clear();
  (void)producer_->Flush(std::chrono::seconds(5));
}

void RunnerService::UpdateActions(std::shared_ptr<const ActionIndex> actions) {
  if (!actions) return;
  std::lock_guard<std::mutex> lock(actions_mu_);
  actions_ = std::move(actions);
}

RunnerStats RunnerService::stats() const {
  RunnerStats s;
  const Counters& c = *counters_;
  s.claimed = c.claimed;
  s.skipped = c.skipped;
  s.malformed = c.malformed;
  s.succeeded = c.succeeded;
  s.failed = c.failed;
  s.timed_out = c.timed_out;
  s.canceled = c.canceled;
  s.abandoned = c.abandoned;
  s.lost = c.lost;
  s.pauses = c.pauses;
  s.peak_running = c.peak_running;
  s.output_chunks = c.output_chunks;
  s.commits = c.commits;
  return s;
}

// ---- consuming -------------------------------------------------------------------------------

void RunnerService::ConsumeLoop() {
  auto backoff = std::chrono::milliseconds(100);
  while (!stopping_) {
    const int free = options_.max_concurrency - busy_.load();
    if (free <= 0) {
      // Short executions free a slot within moments: wait a little before pausing, so that a
      // saturated runner does not pause and resume (and re-fetch) for every execution.
      if (WaitForSlot(std::chrono::milliseconds(20))) continue;
      // Backpressure: nothing more is fetched, nothing unclaimed is acknowledged. Polling goes
      // on (it serves rebalances) between waits for a freed slot.
      if (consumer_->Pause()) counters_->pauses++;
      consumer_->PollWhilePaused();
      WaitForSlot(options_.poll_timeout);
      continue;
    }
    if (!consumer_->Resume()) continue;
    if (!pending_.empty()) {
      // Left from a slice (or a retry): the group may be waiting on this member to rebalance,
      // and waits only so long before it goes on without it and rebalances again (a storm
      // when every member is slow). A poll serves it; what it returns joins the batch, which
      // grows by at most one per slice, or, past a full batch, waits out a pause instead.
      if (pending_.size() < options_.claim_batch) {
        auto more = consumer_->Poll(std::chrono::milliseconds(0));
        if (more.ok() && more->has_value()) pending_.push_back(std::move(**more));
      } else if (consumer_->Pause()) {
        consumer_->PollWhilePaused();
        continue;  // resumed above
      }
    } else {
      auto next = consumer_->Poll(options_.poll_timeout);
      if (!next.ok()) {
        consumer_->PollFailed(next.status());
        continue;
      }
      if (!next->has_value()) {
        consumer_->CommitDone();
        continue;
      }
      pending_.push_back(std::move(**next));
      // What the consumer has fetched already, up to the free slots, is claimed with it: one
      // store batch for all of them. Never more than the slots: nothing waits in memory.
      const size_t most = std::min<size_t>(static_cast<size_t>(free), options_.claim_batch);
      while (pending_.size() < most) {
        auto more = consumer_->Poll(std::chrono::milliseconds(0));
        if (!more.ok() || !more->has_value()) break;
        pending_.push_back(std::move(**more));
      }
      // The crash-loop guard counts each process's first try at a batch (retries of claims the
      // store could not answer are not the requests' fault, and go on with backoff).
      guard_ = {};
    }
    Status s = HandleBatch(static_cast<size_t>(free));
    if (!s.ok()) {
      spdlog::warn("runner: {} request(s) from {} not claimed yet, retrying in {} ms: {}",
                   pending_.size(), pending_.empty() ? "-" : Where(pending_.front()),
                   backoff.count(), s.message());
      bus::WaitUnlessStopping(backoff, stopping_);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
      continue;
    }
    backoff = std::chrono::milliseconds(100);
  }
  consumer_->CommitDone();
}

bool RunnerService::WaitForSlot(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(running_mu_);
  return slot_freed_.wait_for(lock, timeout,
                              [&] { return stopping_ || busy_.load() < options_.max_concurrency; });
}

Status RunnerService::HandleBatch(size_t limit) {
  slice_end_ = std::chrono::steady_clock::now() + kSlice;
  if (!guard_.counted) {
    // Each partition's first request, counted in one store batch (one commit) that is durable
    // before anything of the batch is claimed; only partitions this member has not worked on
    // since it was given them (ConsumerRole::WorkedSinceAssigned).
    std::vector<const bus::Message*> firsts = bus::FirstOfUnworkedPartitions(*consumer_, pending_);
    std::map<std::pair<std::string, int32_t>, int> first;
    Status counted =
        firsts.empty() ? Status::Ok() : options_.store->Batch([&](store::Store& batch) -> Status {
          first.clear();
          store::MessageAttempts attempts(&batch, attempts_group_);
          for (const bus::Message* m : firsts) {
            GALE_ASSIGN_OR_RETURN(int n, attempts.Begin(m->topic, m->partition, m->key, m->offset));
            first[{m->topic, m->partition}] = n;
          }
          return Status::Ok();
        });
    if (!counted.ok()) {
      return Status::Error(
          "crash-loop guard: the store cannot count attempts: " + counted.message(),
          /*retryable=*/true);
    }
    for (const auto& [partition, n] : first) guard_.careful = guard_.careful || n > 1;
    guard_.first = std::move(first);
    guard_.counted = true;
  }
  if (!guard_.careful) return ClaimAndStart(std::min(limit, pending_.size()));

  // A batch begun before and never committed: the process ended during it. One request at a
  // time, each counted and its offset committed alone, finds the one at fault.
  for (size_t handled = 0; !pending_.empty() && handled < limit; ++handled) {
    if (handled > 0 && std::chrono::steady_clock::now() >= slice_end_) break;
    const bus::Message& m = pending_.front();
    if (!guard_.front) {
      if (auto it = guard_.first.find({m.topic, m.partition}); it != guard_.first.end()) {
        guard_.front = it->second;  // counted above
        guard_.first.erase(it);
      } else {
        auto n = attempts_->Begin(m.topic, m.partition, m.key, m.offset);
        if (!n.ok()) return n.status().WithContext("crash-loop guard");
        guard_.front = *n;
      }
    }
    if (*guard_.front > store::kMaxMessageAttempts) {
      SetAside(m, "set aside after " + std::to_string(*guard_.front - 1) +
                      " attempts that did not finish (the process ended during each)");
      consumer_->Done(m);
      pending_.erase(pending_.begin());
    } else {
      GALE_TRY(ClaimAndStart(1));
    }
    consumer_->CommitDone();
    guard_.front.reset();
  }
  return Status::Ok();
}

void RunnerService::SetAside(const bus::Message& m, const std::string& reason) {
  // The message itself is at fault (retrying cannot help): set it aside and go on.
  spdlog::error("runner: {} goes to {}: {}", Where(m), dead_letters_topic_, reason);
  Status sent =
      bus::SendToDeadLetters(*producer_, dead_letters_topic_, m, reason, options_.node_name);
  if (!sent.ok()) spdlog::error("runner: dead letter not sent: {}", sent.message());
}

Result<std::vector<store::Claim>> RunnerService::ClaimBatch(const std::vector<std::string>& ids) {
  const store::TimeMs now = options_.clock();
  GALE_ASSIGN_OR_RETURN(
      auto claims,
      options_.store->ClaimExecutions(ids, options_.node_name, now + options_.lease.count(), now));
  // [policies] A request that claimed nothing may be for a delayed execution whose policy a
  // reload removed (the sweep requests those): admitted through the policies, it runs as is.
  // Rare (redeliveries, claims lost to another node), so reading these few records is cheap.
  std::vector<std::string> unclaimed;
  for (const auto& c : claims) {
    if (c.status.ok() && !c.execution) unclaimed.push_back(c.id);
  }
  if (unclaimed.empty()) return claims;
  GALE_ASSIGN_OR_RETURN(auto again, ClaimThroughPolicies(unclaimed, /*sliced=*/false));
  // `again` answers `unclaimed` in its order, which is the order of these claims.
  size_t next = 0;
  for (auto& c : claims) {
    if (c.status.ok() && !c.execution) c = std::move(again[next++]);
  }
  return claims;
}

Result<std::vector<store::Claim>> RunnerService::ClaimThroughPolicies(
    const std::vector<std::string>& ids, bool sliced) {
  // One store batch (one commit on SQLite) reads, admits and claims every record: the policy
  // check then costs reads and slot rows, not a durable commit per step. What touches the bus
  // or other rows waits until the batch is durable: the events of executions delayed or
  // canceled here, the request of waiters a concurrent release missed, the slots of claims
  // lost to another node.
  std::vector<store::Claim> claims;
  std::vector<std::pair<store::Execution, policies::RunnerPolicies::Admission>> refused;
  std::vector<std::string> admitted, lost;
  Status batch = options_.store->Batch([&](store::Store& st) -> Status {
    claims.clear();
    refused.clear();
    admitted.clear();
    lost.clear();
    for (const std::string& id : ids) {
      // A record at a time is slow (reads, slot writes): past the slice, the rest wait for the
      // next one, so that the consumer thread serves its group in between.
      if (sliced && !claims.empty() && std::chrono::steady_clock::now() >= slice_end_) break;
      store::Claim& claim = claims.emplace_back();
      claim.id = id;
      auto existing = st.GetExecution(id);
      if (!existing.ok()) {
        claim.status = existing.status().WithContext("execution " + id);
        continue;
      }
      if (!existing->has_value()) continue;
      const ExecStatus status = (*existing)->status;
      if (status != ExecStatus::kRequested && status != ExecStatus::kScheduled &&
          status != ExecStatus::kDelayed) {
        continue;  // claimed elsewhere, finished, or canceled before it started
      }
      // Concurrency slots before the claim; over a threshold: delayed or canceled.
      auto admission = policies_->BeforeClaim(st, **existing);
      if (!admission.ok()) {
        claim.status = admission.status().WithContext("execution " + id);
        continue;
      }
      if (!admission->claim) {
        refused.emplace_back(std::move(**existing), std::move(*admission));
        continue;
      }
      admitted.push_back(id);
      const store::TimeMs now = options_.clock();
      auto one = st.ClaimExecutions({id}, options_.node_name, now + options_.lease.count(), now);
      if (!one.ok() || one->empty() || !one->front().execution) lost.push_back(id);
      if (!one.ok()) {
        claim.status = one.status().WithContext("claiming execution " + id);
      } else if (!one->empty()) {
        claim = std::move(one->front());
      }
    }
    return Status::Ok();
  });
  if (!batch.ok()) {
    // Nothing of it holds (SQLite rolled it back): the slots it took are given back.
    for (const std::string& id : admitted) policies_->ClaimLost(id);
    return batch;
  }
  for (const std::string& id : lost) policies_->ClaimLost(id);
  for (const auto& [record, admission] : refused) {
    if (admission.became) {
      PublishEvent(record.id, *admission.became, &admission.result, record.parent, record.task);
    }
    policies_->AfterAdmit(record, admission);
  }
  return claims;
}

// workflow: a workflow action is the workflow engine's from its claim on (host/workflow).
bool RunnerService::StartedAsWorkflow(const store::Execution& record) {
  if (!options_.start_workflow) return false;
  std::shared_ptr<const ActionIndex> actions;
  {
    std::lock_guard<std::mutex> lock(actions_mu_);
    actions = actions_;
  }
  const RunnableAction* action = actions->Find(record.action);
  if (action == nullptr || (!action->meta.chain && !action->meta.orquesta)) return false;
  options_.start_workflow(record, *action);
  return true;
}
// end workflow

Status RunnerService::ClaimAndStart(size_t count) {
  // The requests to claim: decoded, each with its message's place in pending_.
  std::vector<std::string> ids;
  std::vector<size_t> index_of;  // ids[i] came from pending_[index_of[i]]
  std::vector<bool> done(count, false);
  for (size_t i = 0; i < count; ++i) {
    const bus::Message& m = pending_[i];
    if (!m.authentic) {  // not signed by this deployment: counted and logged
      done[i] = true;
      continue;
    }
    auto request = bus::DecodeExecutionRequest(m.value);
    if (!request.ok()) {
      counters_->malformed++;
      SetAside(m, request.message());
      done[i] = true;
      continue;
    }
    ids.push_back(request->id);
    index_of.push_back(i);
  }
  Status result = Status::Ok();
  if (!ids.empty()) {
    // [policies] With a policy in force, each record is read and admitted before its claim;
    // without, one store batch claims them all and nothing is read again.
    auto claims =
        policies_->Active() ? ClaimThroughPolicies(ids, /*sliced=*/true) : ClaimBatch(ids);
    if (!claims.ok()) {
      result =
          claims.status().WithContext("claiming " + std::to_string(ids.size()) + " execution(s)");
    } else {
      // Tests of a crash with a batch claimed and nothing of it started.
      for (size_t i = 0; i < count; ++i) {
        if (FailpointHit("runner.abort_after_claim", pending_[i].key)) std::abort();
      }
      for (size_t k = 0; k < claims->size(); ++k) {
        store::Claim& claim = (*claims)[k];
        const bus::Message& m = pending_[index_of[k]];
        if (!claim.status.ok()) {
          if (claim.status.retryable()) {
            result = claim.status.WithContext("claiming execution " + claim.id);
            continue;  // kept for the retry
          }
          SetAside(m, claim.status.message());
        } else if (!claim.execution) {
          counters_->skipped++;  // claimed elsewhere, finished, canceled, or not in the store
        } else {
          counters_->claimed++;
          // The record, not the message, says what runs: a message only names the execution.
          const store::Execution& record = *claim.execution;
          if (StartedAsWorkflow(record)) {
            done[index_of[k]] = true;
            continue;
          }
          auto params =
              store::OpenSecretParameters(options_.cipher ? &*options_.cipher : nullptr, record);
          StartExecution(record, params.ok() ? *params : Json::object(),
                         params.ok() ? Status::Ok() : params.status());
        }
        done[index_of[k]] = true;
      }
    }
  }
  // What is done leaves pending_ (the claim is in the store; offsets commit every
  // commit_every); what is not stays for the retry, in order.
  std::vector<bus::Message> keep;
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (i < count && done[i]) {
      consumer_->Done(pending_[i]);
    } else {
      keep.push_back(std::move(pending_[i]));
    }
  }
  pending_ = std::move(keep);
  return result;
}

// ---- executing -------------------------------------------------------------------------------

void RunnerService::StartExecution(const store::Execution& record, const Json& params,
                                   const Status& unusable) {
  const std::string& id = record.id;
  const std::string& action_ref = record.action;
  auto run = std::make_shared<Running>();
  run->parent = record.parent;
  run->task = record.task;
  {
    std::lock_guard<std::mutex> lock(running_mu_);
    running_[id] = run;
  }
  const uint64_t now_running = static_cast<uint64_t>(++busy_);
  uint64_t peak = counters_->peak_running.load();
  while (now_running > peak && !counters_->peak_running.compare_exchange_weak(peak, now_running)) {
  }
  PublishEvent(id, ExecStatus::kRunning, nullptr, run->parent, run->task);

  std::shared_ptr<const ActionIndex> actions;
  {
    std::lock_guard<std::mutex> lock(actions_mu_);
    actions = actions_;
  }
  if (!unusable.ok()) {
    Complete(id, FailedBeforeStart(action_ref + ": " + unusable.message()));
    return;
  }
  const RunnableAction* action = actions->Find(action_ref);
  if (action == nullptr) {
    Complete(id, FailedBeforeStart("action '" + action_ref + "' is not installed on node " +
                                   options_.node_name));
    return;
  }
  auto launch = PlanLaunch(*action, params, {options_.gale_binary, id, options_.python_shim});
  if (!launch.ok()) {
    Complete(id, FailedBeforeStart(action_ref + ": " + launch.message()));
    return;
  }
  if (launch->noop) {
    Complete(id, Finish{ExecStatus::kSucceeded, Json::object()});
    return;
  }
  // Every runner type's process gets the datastore (host/datastore/protocol.h), set after the
  // action's own `env` so that neither can be replaced by it.
  std::map<std::string, std::string>& env = launch->settings.env;
  if (datastore_) {
    // Who the execution's connections are: the node knows, the process never says.
    auto token = datastore_->Register({datastore::Peer::Kind::kAction, action->meta.pack,
                                       options_.node_name, action_ref, id, options_.system_user});
    if (!token.ok()) {
      Complete(id, FailedBeforeStart(action_ref + ": " + token.message()));
      return;
    }
    {
      std::lock_guard<std::mutex> lock(running_mu_);
      run->datastore_token = *token;
    }
    env["GALE_DATASTORE_SOCKET"] = options_.datastore_socket;
    env["GALE_DATASTORE_TOKEN"] = std::move(token).value();
  }
  // And the shim's directory, for any program that wants gale_shim (a shell runner's python3).
  if (!options_.python_shim.empty()) env["GALE_PYTHON_SHIM"] = options_.python_shim;
  // Weak: the process's callbacks must not keep its own Running record (which holds the
  // process) alive in a cycle.
  auto on_output = HideResultBlock(*launch, [this, id, weak = std::weak_ptr<Running>(run)](
                                                sandbox::Stream stream, std::string_view chunk) {
    auto appended = options_.store->AppendOutput(id, std::string(sandbox::ToString(stream)),
                                                 std::string(chunk), options_.clock());
    if (appended.ok()) {
      counters_->output_chunks++;
    } else if (auto run = weak.lock(); run && !run->output_error_logged) {
      run->output_error_logged = true;  // on the process's strand: no race
      spdlog::warn("runner: execution {}: output not stored: {}", id, appended.message());
    }
  });
  auto on_done = [this, id, plan = *launch](const sandbox::Outcome& outcome) {
    Complete(id, FinishFromOutcome(plan, outcome));
  };
  auto process = sandbox::Process::Spawn(io_, launch->command, launch->settings,
                                         std::move(on_output), std::move(on_done));
  std::lock_guard<std::mutex> lock(running_mu_);
  run->process = process;
  if (run->cancel || run->shutdown || run->lease_lost) process->Cancel();
}

void RunnerService::Complete(const std::string& id, Finish finish) {
  std::shared_ptr<Running> run;
  bool shutdown = false;
  std::string token;
  {
    std::lock_guard<std::mutex> lock(running_mu_);
    auto it = running_.find(id);
    if (it != running_.end()) {
      run = it->second;
      run->completing = true;
      shutdown = run->shutdown;
      token = std::exchange(run->datastore_token, {});
    }
  }
  // The process is gone: its token binds nothing any more, and its connections close.
  if (!token.empty()) datastore_->Unregister(token);
  if (shutdown) {
    finish.status = ExecStatus::kAbandoned;
    finish.result["error"] =
        "the runner on node " + options_.node_name + " stopped while the execution was running";
  }
  store::Transition t;
  t.id = id;
  t.from = {ExecStatus::kRunning, ExecStatus::kCanceling};
  t.to = finish.status;
  t.node = options_.node_name;
  t.result = finish.result;
  policies_->BeforeFinish(id, finish.status);  // [policies] action.retry
  Result<bool> recorded = Status::Error("not tried");
  // A store that is briefly away must not lose the result; one that stays away lets the lease
  // expire, and the execution ends abandoned.
  // [policies] Slots held go with the final status, in one commit.
  const bool with_slots = policies_->HoldsSlots(id);
  for (auto delay = std::chrono::milliseconds(50);; delay *= 2) {
    t.at = options_.clock();
    if (with_slots) {
      Status batch = options_.store->Batch([&](store::Store& st) -> Status {
        recorded = st.TransitionExecution(t);
        if (!recorded.ok()) return recorded.status();
        policies_->ReleaseWithFinish(st, id);
        return Status::Ok();
      });
      if (!batch.ok()) recorded = batch;
    } else {
      recorded = options_.store->TransitionExecution(t);
    }
    if (recorded.ok() || !recorded.status().retryable() || delay > options_.lease) break;
    std::this_thread::sleep_for(delay);
  }
  if (!recorded.ok() || !*recorded) {
    counters_->lost++;
    spdlog::warn("runner: execution {} ended {} but could not be recorded: {}", id,
                 store::ToString(finish.status),
                 recorded.ok() ? "it is no longer this node's (lease lost or already final)"
                               : recorded.message());
  } else {
    switch (finish.status) {
      case ExecStatus::kSucceeded:
        counters_->succeeded++;
        break;
      case ExecStatus::kTimeout:
        counters_->timed_out++;
        break;
      case ExecStatus::kCanceled:
        counters_->canceled++;
        break;
      default:
        counters_->failed++;
        break;
    }
    // Tests of a runner that dies between recording the final status and sending the event
    // (the workflow sweep finds such tasks).
    if (run && FailpointHit("runner.abort_before_final_event", run->task)) std::abort();
    PublishEvent(id, finish.status, &finish.result, run ? run->parent : "", run ? run->task : "");
  }
  // [policies] free the slots (unless they went with the status), request the next, the retry
  policies_->AfterFinish(id, with_slots && recorded.ok());
  {
    std::lock_guard<std::mutex> lock(running_mu_);
    if (run) run->process.reset();
    running_.erase(id);
    --busy_;
  }
  slot_freed_.notify_all();
}

void RunnerService::PublishEvent(const std::string& id, ExecStatus status, const Json* result,
                                 const std::string& parent, const std::string& task) {
  bus::ExecutionEventMessage event;
  event.id = id;
  event.parent = parent;
  event.task = task;
  event.status = store::ToString(status);
  event.at = options_.clock();
  event.node = options_.node_name;
  if (result) event.result = *result;
  Status s = producer_->Produce(events_topic_, id, bus::Encode(event));
  if (!s.ok()) spdlog::warn("runner: execution event for {}: {}", id, s.message());
}

// ---- maintenance -----------------------------------------------------------------------------

void RunnerService::MaintenanceLoop() {
  using clock = std::chrono::steady_clock;
  auto next_renew = clock::now() + options_.lease / 3;
  auto next_cancel = clock::now() + options_.cancel_check;
  auto next_sweep = clock::now();
  while (!stop_maintenance_) {
    const auto now = clock::now();
    if (now >= next_renew) {
      RenewLeases();
      next_renew = now + options_.lease / 3;
    }
    if (now >= next_cancel) {
      CheckCancels();
      next_cancel = now + options_.cancel_check;
    }
    if (now >= next_sweep && !stopping_) {
      SweepAbandoned();
      next_sweep = now + options_.abandon_check;
    }
    if (!stopping_) policies_->Tick();  // [policies] due retries, delayed executions' sweep
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void RunnerService::RenewLeases() {
  std::vector<std::pair<std::string, std::shared_ptr<Running>>> runs;
  {
    std::lock_guard<std::mutex> lock(running_mu_);
    runs.assign(running_.begin(), running_.end());
  }
  if (runs.empty()) return;
  // Every lease in one store batch (one commit).
  std::vector<std::optional<bool>> renewed(runs.size());
  const store::TimeMs expires = options_.clock() + options_.lease.count();
  Status batch = options_.store->Batch([&](store::Store& st) -> Status {
    for (size_t i = 0; i < runs.size(); ++i) {
      auto r = st.RenewLease(runs[i].first, options_.node_name, expires);
      renewed[i] = r.ok() ? std::optional<bool>(*r) : std::nullopt;
      if (!r.ok()) {
        spdlog::warn("runner: lease of execution {} not renewed: {}", runs[i].first, r.message());
      }
    }
    return Status::Ok();
  });
  if (!batch.ok()) {
    spdlog::warn("runner: leases of {} execution(s) not renewed: {}", runs.size(), batch.message());
    return;
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& [id, run] = runs[i];
    if (!renewed[i] || *renewed[i]) continue;
    // Marked abandoned by someone else: it must not go on running here. (An execution whose
    // own result is being recorded is final already; that is not a lost lease.)
    std::lock_guard<std::mutex> lock(running_mu_);
    if (!run->lease_lost && !run->completing) {
      spdlog::warn("runner: execution {} lost its lease; killing it", id);
      run->lease_lost = true;
      if (run->process) run->process->Cancel();
    }
  }
  policies_->RenewLeases();  // [policies] the slots share the executions' lease
}

void RunnerService::CheckCancels() {
  {
    std::lock_guard<std::mutex> lock(running_mu_);
    if (running_.empty()) return;
  }
  store::ExecutionQuery q;
  q.statuses = {ExecStatus::kCanceling};
  q.limit = store::kMaxPageSize;
  auto page = options_.store->ListExecutions(q);
  if (!page.ok()) return;
  std::lock_guard<std::mutex> lock(running_mu_);
  for (const auto& e : page->items) {
    if (e.node != options_.node_name) continue;
    auto it = running_.find(e.id);
    if (it == running_.end() || it->second->cancel) continue;
    spdlog::info("runner: canceling execution {}", e.id);
    it->second->cancel = true;
    if (it->second->process) it->second->process->Cancel();
  }
}

void RunnerService::SweepAbandoned() {
  auto marked = options_.store->MarkAbandoned(options_.clock());
  if (!marked.ok()) return;
  for (const auto& e : *marked) {
    counters_->abandoned++;
    spdlog::warn("runner: execution {} ({}) abandoned: the lease of node {} expired", e.id,
                 e.action, e.node);
    Json result = e.result.is_null() ? Json::object() : e.result;
    PublishEvent(e.id, ExecStatus::kAbandoned, &result, e.parent, e.task);
  }
}

}  // namespace gale::runner
