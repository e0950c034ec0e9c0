// A child process for policy_slots_process_test.cpp:
//   gale_policy_slots_helper race URL NAME COUNT THRESHOLD COUNTER
//       prints "ready", waits for a line on stdin, then runs executions NAME-0..NAME-COUNT-1 one
//       after another: each waits for a slot of key "p.race" (asking again until it gets one),
//       counts itself into the shared COUNTER file (under flock), counts itself out, releases,
//       and prints "ran ID"; at the end "most N refused R" (the highest count it saw and how
//       often it was refused) and "done"
//   gale_policy_slots_helper hold URL KEY NOW LEASE_UNTIL ID...
//       acquires a slot of KEY (threshold: the number of IDs) for each ID from node "doomed"
//       at time NOW, prints "held", then waits to be killed
//   gale_policy_slots_helper cost URL COUNT THRESHOLD
//       acquires and releases COUNT slots one after another (a threshold-THRESHOLD key with
//       THRESHOLD - 1 slots held by others, as under load) and prints "acquire+release N us" (the
//       mean): a policy's cost per execution, for the report
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>

#include "host/store/open.h"

using namespace gale::store;

namespace {

int Fail(const std::string& what) {
  std::cout << "error " << what << std::endl;
  return 1;
}

StoreOptions Options() {
  StoreOptions options;
  options.server_timeout = std::chrono::milliseconds(5000);
  options.sqlite_sync_full = false;
  return options;
}

// Adds `delta` to the count in `fd` (8 bytes), under an exclusive flock; returns the new count.
int64_t AddToCounter(int fd, int64_t delta) {
  flock(fd, LOCK_EX);
  int64_t n = 0;
  if (pread(fd, &n, sizeof n, 0) != sizeof n) n = 0;
  n += delta;
  (void)!pwrite(fd, &n, sizeof n, 0);
  flock(fd, LOCK_UN);
  return n;
}

int Race(const std::string& url, const std::string& name, int count, int64_t threshold,
         const std::string& counter) {
  auto store = OpenStore(url, Options());
  if (!store.ok()) return Fail(store.message());
  const int fd = open(counter.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Fail("cannot open " + counter);
  std::cout << "ready" << std::endl;
  std::string go;
  std::getline(std::cin, go);
  constexpr TimeMs kNow = 1000, kLease = 1LL << 40;
  int64_t most = 0, refused = 0;
  for (int i = 0; i < count; ++i) {
    const std::string id = name + "-" + std::to_string(i);
    while (true) {
      auto got = (*store)->TryAcquirePolicySlot("p.race", id, name, kLease, threshold, kNow);
      if (!got.ok()) return Fail(got.message());
      if (*got) break;
      ++refused;
      sched_yield();
    }
    most = std::max(most, AddToCounter(fd, 1));
    sched_yield();
    AddToCounter(fd, -1);
    auto released = (*store)->ReleasePolicySlot("p.race", id);
    if (!released.ok()) return Fail(released.message());
    if (!*released) return Fail(id + " was not held at its release");
    std::cout << "ran " << id << "\n";
  }
  std::cout << "most " << most << " refused " << refused << "\ndone" << std::endl;
  return 0;
}

int Hold(const std::string& url, const std::string& key, TimeMs now, TimeMs lease_until,
         const std::vector<std::string>& ids) {
  auto store = OpenStore(url, Options());
  if (!store.ok()) return Fail(store.message());
  for (const auto& id : ids) {
    auto got = (*store)->TryAcquirePolicySlot(key, id, "doomed", lease_until,
                                              static_cast<int64_t>(ids.size()), now);
    if (!got.ok()) return Fail(got.message());
    if (!*got) return Fail("no slot for " + id);
  }
  std::cout << "held" << std::endl;
  while (true) pause();
}

int Cost(const std::string& url, int count, int64_t threshold) {
  auto store = OpenStore(url, Options());
  if (!store.ok()) return Fail(store.message());
  constexpr TimeMs kNow = 1000, kLease = 1LL << 40;
  for (int64_t i = 0; i + 1 < threshold; ++i) {
    auto got = (*store)->TryAcquirePolicySlot("p.cost", "other-" + std::to_string(i), "n", kLease,
                                              threshold, kNow);
    if (!got.ok() || !*got) return Fail("cannot fill the key");
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) {
    const std::string id = "cost-" + std::to_string(i);
    auto got = (*store)->TryAcquirePolicySlot("p.cost", id, "n", kLease, threshold, kNow);
    if (!got.ok() || !*got) return Fail("no slot for " + id);
    auto released = (*store)->ReleasePolicySlot("p.cost", id);
    if (!released.ok() || !*released) return Fail("cannot release " + id);
  }
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  std::cout << "acquire+release " << us / std::max(1, count) << " us" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "race" && argc == 7) {
    return Race(argv[2], argv[3], std::stoi(argv[4]), std::stoll(argv[5]), argv[6]);
  }
  if (mode == "hold" && argc >= 7) {
    return Hold(argv[2], argv[3], std::stoll(argv[4]), std::stoll(argv[5]),
                std::vector<std::string>(argv + 6, argv + argc));
  }
  if (mode == "cost" && argc == 5) return Cost(argv[2], std::stoi(argv[3]), std::stoll(argv[4]));
  std::cerr << "usage: gale_policy_slots_helper race URL NAME COUNT THRESHOLD COUNTER | hold URL "
               "KEY NOW LEASE_UNTIL ID... | cost URL COUNT THRESHOLD\n";
  return 2;
}
