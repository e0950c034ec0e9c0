#include "host/bus/consumer_role.h"

#include <spdlog/spdlog.h>

#include <thread>
#include <utility>

namespace gale::bus {

Result<std::unique_ptr<ConsumerRole>> ConsumerRole::Create(const BusConfig& config,
                                                           Options options) {
  if (options.commit_attempts < 1) options.commit_attempts = 1;
  std::unique_ptr<ConsumerRole> role(new ConsumerRole(std::move(options)));
  Consumer::Options copts = role->options_.consumer;
  role->role_on_revoked_ = std::move(copts.on_revoked);
  copts.on_revoked = [r = role.get()](const std::vector<TopicPartition>& revoked) {
    r->OnRevoked(revoked);
  };
  GALE_ASSIGN_OR_RETURN(auto consumer, Consumer::Create(config, std::move(copts)));
  role->consumer_ = std::move(consumer);
  return role;
}

ConsumerRole::ConsumerRole(Options options) : options_(std::move(options)) {}

ConsumerRole::~ConsumerRole() {
  (void)Close();
}

Result<std::optional<Message>> ConsumerRole::Poll(std::chrono::milliseconds timeout) {
  if (!consumer_) return Status::Error(options_.name + ": consumer closed");
  auto next = consumer_->Poll(timeout);
  if (next.ok() && next->has_value()) offsets_.Take(**next);
  return next;
}

void ConsumerRole::PollFailed(const Status& error) {
  if (ShouldLog()) spdlog::warn("{}: poll: {}", options_.name, error.message());
  std::this_thread::sleep_for(options_.poll_timeout);
}

void ConsumerRole::Done(const Message& m) {
  offsets_.Done(m);
  worked_.emplace(m.topic, m.partition);
  if (options_.commit_every > 0 && offsets_.done_since_commit() >= options_.commit_every) {
    CommitDone();
  }
}

void ConsumerRole::CommitDone() {
  std::vector<TopicPartition> offsets = offsets_.Committable();
  if (offsets.empty() || !consumer_) return;
  Commit commit;
  commit.partitions = offsets.size();
  commit.messages = offsets_.done_since_commit();
  for (int attempt = 0; attempt < options_.commit_attempts; ++attempt) {
    commit.status = consumer_->CommitOffsets(offsets);
    if (commit.status.ok() || !commit.status.retryable()) break;
  }
  // Not kept for another try even when it failed: the work is done and idempotent, so the
  // worst a lost commit causes is a redelivery.
  offsets_.Committed();
  if (options_.on_commit) options_.on_commit(commit);
}

bool ConsumerRole::Pause() {
  if (!consumer_ || consumer_->paused()) return false;
  // Nothing unfinished is acknowledged, and nothing finished waits out the pause.
  CommitDone();
  return consumer_->Pause().ok();
}

void ConsumerRole::PollWhilePaused() {
  if (!consumer_) return;
  auto none = consumer_->Poll(std::chrono::milliseconds(0));
  if (none.ok() && none->has_value()) {
    spdlog::error("{}: {} returned while paused; it will be redelivered", options_.name,
                  Where(**none));
  }
}

bool ConsumerRole::Resume() {
  if (!consumer_ || !consumer_->paused()) return true;
  Status resumed = consumer_->Resume();
  if (resumed.ok()) return true;
  // Until it succeeds nothing is fetched: retry (and say so) rather than poll stopped
  // partitions forever.
  if (ShouldLog()) spdlog::warn("{}: {} (retrying)", options_.name, resumed.message());
  (void)consumer_->Poll(std::chrono::milliseconds(0));  // serves rebalances meanwhile
  std::this_thread::sleep_for(options_.poll_timeout);
  return false;
}

bool ConsumerRole::WorkedSinceAssigned(const Message& m) const {
  return worked_.count({m.topic, m.partition}) > 0;
}

bool ConsumerRole::paused() const {
  return consumer_ && consumer_->paused();
}

Status ConsumerRole::Close() {
  if (!consumer_) return Status::Ok();
  Status closed = consumer_->Close();
  consumer_.reset();
  return closed;
}

void ConsumerRole::OnRevoked(const std::vector<TopicPartition>& revoked) {
  // Inside Poll()/Close(), before the partitions go: their next owner starts after the done
  // work and redoes what was in flight.
  CommitDone();
  offsets_.Forget(revoked);
  for (const auto& tp : revoked) worked_.erase({tp.topic, tp.partition});
  if (role_on_revoked_) role_on_revoked_(revoked);
}

bool ConsumerRole::ShouldLog() {
  auto now = std::chrono::steady_clock::now();
  if (now - last_error_ <= std::chrono::seconds(10)) return false;
  last_error_ = now;
  return true;
}

std::vector<const Message*> FirstOfUnworkedPartitions(const ConsumerRole& role,
                                                      const std::vector<Message>& batch) {
  std::vector<const Message*> firsts;
  std::set<std::pair<std::string, int32_t>> seen;
  for (const Message& m : batch) {
    if (!seen.emplace(m.topic, m.partition).second || role.WorkedSinceAssigned(m)) continue;
    firsts.push_back(&m);
  }
  return firsts;
}

std::string Where(const Message& m) {
  return m.topic + "[" + std::to_string(m.partition) + "]@" + std::to_string(m.offset);
}

void WaitUnlessStopping(std::chrono::milliseconds duration, const std::atomic<bool>& stopping) {
  auto until = std::chrono::steady_clock::now() + duration;
  while (!stopping && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace gale::bus
