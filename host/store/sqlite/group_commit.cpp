#include "host/store/sqlite/group_commit.h"

#include <exception>
#include <string>

namespace gale::store::sqlite {
namespace {

// The group this thread is running, if any.
thread_local const GroupCommit* t_running = nullptr;

Status RunBody(const GroupCommit::Body& body, Conn& c) {
  try {
    return body(c);
  } catch (const std::exception& e) {  // a store never throws; an allocation may
    return Status::Error(std::string("store write threw: ") + e.what());
  }
}

}  // namespace

Status GroupCommit::Run(const Body& body) {
  if (t_running == this) {
    return Status::Error(
        "a write to the store from inside one of its batches: use the batch's Store");
  }
  Pending me{&body};
  std::unique_lock lock(mu_);
  queue_.push_back(&me);
  while (!me.done) {
    if (leading_) {
      cv_.wait(lock);
      continue;
    }
    leading_ = true;
    std::deque<Pending*> group;
    while (!queue_.empty() && group.size() < max_group_) {
      group.push_back(queue_.front());
      queue_.pop_front();
    }
    lock.unlock();
    t_running = this;
    RunGroup(group);
    t_running = nullptr;
    lock.lock();
    for (Pending* p : group) p->done = true;
    leading_ = false;
    cv_.notify_all();
  }
  return me.status;
}

void GroupCommit::RunGroup(const std::deque<Pending*>& group) {
  Conn& c = *writer_;
  auto fail_rest = [&](const Status& why) {
    for (Pending* p : group) {
      if (p->status.ok()) p->status = why;
    }
  };
  if (Status s = c.Exec("BEGIN IMMEDIATE"); !s.ok()) {
    fail_rest(s);
    return;
  }
  // A write alone needs no savepoint: if it fails, the whole transaction is rolled back.
  const bool alone = group.size() == 1;
  for (Pending* p : group) {
    if (!alone) {
      if (Status s = c.Exec("SAVEPOINT gale_write"); !s.ok()) {
        p->status = s;
        continue;
      }
    }
    Status s = RunBody(*p->body, c);
    if (sqlite3_get_autocommit(c.db())) {
      // SQLite rolled the whole transaction back (an I/O error, a full disk): the writes before
      // this one went with it. Each caller retries its own.
      p->status = s.ok() ? Status::Error("the transaction was rolled back", true) : s;
      fail_rest(Status::Error("rolled back with the rest of its group: " + p->status.message(),
                              /*retryable=*/true));
      return;
    }
    if (s.ok()) {
      if (!alone) (void)c.Exec("RELEASE gale_write");
      continue;
    }
    p->status = s;
    if (alone) {
      (void)c.Exec("ROLLBACK");
      return;
    }
    (void)c.Exec("ROLLBACK TO gale_write");
    (void)c.Exec("RELEASE gale_write");
  }
  if (Status committed = c.Exec("COMMIT"); !committed.ok()) {
    if (!sqlite3_get_autocommit(c.db())) (void)c.Exec("ROLLBACK");
    fail_rest(committed);
  }
}

}  // namespace gale::store::sqlite
