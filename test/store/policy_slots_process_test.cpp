// Policy slots across processes (both backends): four processes race for a key's slots and
// never hold more than its threshold between them; a process killed -9 while holding slots
// frees them when their lease passes, not before.
#include <signal.h>
#include <sys/wait.h>

#include <set>

#include "test/store/store_fixture.h"

namespace gale::store::testing {
namespace {

using PolicySlotsProcessTest = StoreTest;

std::string SlotsHelper() {
  return GALE_POLICY_SLOTS_HELPER;
}

TEST_P(PolicySlotsProcessTest, FourProcessesNeverHoldMoreThanTheThreshold) {
  constexpr int kProcesses = 4;
  constexpr int kPerProcess = 40;
  constexpr int kThreshold = 2;
  const std::string counter = dir_.path() + "/counter";
  std::vector<std::unique_ptr<Child>> children;
  std::string line;
  for (int p = 0; p < kProcesses; ++p) {
    children.push_back(std::make_unique<Child>(std::vector<std::string>{
        SlotsHelper(), "race", url_, "proc" + std::to_string(p), std::to_string(kPerProcess),
        std::to_string(kThreshold), counter}));
    ASSERT_TRUE(children.back()->ok());
    ASSERT_TRUE(children.back()->ReadLine(&line));
    ASSERT_EQ(line, "ready");
  }
  for (auto& c : children) c->WriteLine("go");
  std::set<std::string> ran;
  int64_t refused = 0;
  for (int p = 0; p < kProcesses; ++p) {
    bool done = false;
    while (children[p]->ReadLine(&line)) {
      if (line == "done") {
        done = true;
        break;
      }
      if (line.rfind("most ", 0) == 0) {
        int64_t most = 0, refusals = 0;
        ASSERT_EQ(sscanf(line.c_str(), "most %ld refused %ld", &most, &refusals), 2) << line;
        EXPECT_LE(most, kThreshold) << "process " << p << " saw " << most << " slots held at once";
        EXPECT_GE(most, 1);
        refused += refusals;
        continue;
      }
      ASSERT_EQ(line.rfind("ran ", 0), 0u) << "process " << p << ": " << line;
      EXPECT_TRUE(ran.insert(line.substr(4)).second) << line << " twice";
    }
    EXPECT_TRUE(done) << "process " << p << " did not finish";
    const int status = children[p]->Wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(ran.size(), static_cast<size_t>(kProcesses * kPerProcess)) << "every one ran";
  EXPECT_GT(refused, 0) << "nobody was ever refused: the processes did not race";
  auto left = store().ListPolicySlots("p.race", 1000);
  ASSERT_TRUE(left.ok()) << left.message();
  EXPECT_TRUE(left->empty()) << left->size() << " slot(s) left held";
}

TEST_P(PolicySlotsProcessTest, SlotsOfAProcessKilledDashNineFreeWhenTheirLeasePasses) {
  constexpr TimeMs kNow = 50'000, kLeaseUntil = kNow + 30'000;
  Child doomed({SlotsHelper(), "hold", url_, "p.one_at_a_time", std::to_string(kNow),
                std::to_string(kLeaseUntil), "held-1", "held-2"});
  ASSERT_TRUE(doomed.ok());
  std::string line;
  ASSERT_TRUE(doomed.ReadLine(&line));
  ASSERT_EQ(line, "held");
  doomed.Kill(SIGKILL);
  const int status = doomed.Wait();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  StorePtr other = Reopen();
  ASSERT_NE(other, nullptr);
  auto before = other->TryAcquirePolicySlot("p.one_at_a_time", "waiting", "survivor",
                                            kLeaseUntil + 30'000, 2, kLeaseUntil - 1);
  ASSERT_TRUE(before.ok()) << before.message();
  EXPECT_FALSE(*before) << "the dead process's slots hold until their lease passes";
  auto held = other->ListPolicySlots("p.one_at_a_time", kLeaseUntil - 1);
  ASSERT_TRUE(held.ok()) << held.message();
  ASSERT_EQ(held->size(), 2u);
  EXPECT_EQ((*held)[0].node, "doomed");
  auto after = other->TryAcquirePolicySlot("p.one_at_a_time", "waiting", "survivor",
                                           kLeaseUntil + 30'000, 2, kLeaseUntil);
  ASSERT_TRUE(after.ok()) << after.message();
  EXPECT_TRUE(*after) << "freed once the lease passed";
  auto second = other->TryAcquirePolicySlot("p.one_at_a_time", "waiting-2", "survivor",
                                            kLeaseUntil + 30'000, 2, kLeaseUntil);
  ASSERT_TRUE(second.ok()) << second.message();
  EXPECT_TRUE(*second) << "both slots freed";
}

INSTANTIATE_TEST_SUITE_P(Backends, PolicySlotsProcessTest,
                         ::testing::Values(Backend::kSqlite, Backend::kMongo), BackendName);

}  // namespace
}  // namespace gale::store::testing
