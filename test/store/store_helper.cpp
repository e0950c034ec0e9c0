// A child process for the store's process tests (process_test.cpp):
//   gale_store_test_helper claim URL NODE COUNT   prints "ready", waits for a line on stdin, then
//                                                 tries to claim race-0..race-COUNT-1 and prints
//                                                 "claimed ID" for each win, then "done"
//   gale_store_test_helper write URL COUNT        writes records one by one, printing "ack I"
//                                                 after record I is stored, then "done", then
//                                                 waits to be killed
//   gale_store_test_helper batch URL COUNT        writes COUNT batches of 50 executions
//                                                 (bat-K-0..49), printing "ack K" after batch K
//                                                 committed; inside the last one, with all of
//                                                 its records written, prints "holding" and
//                                                 waits to be killed
#include <unistd.h>

#include <cstdio>
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

int ClaimRace(const std::string& url, const std::string& node, int count) {
  auto store = OpenStore(url, Options());
  if (!store.ok()) return Fail(store.message());
  std::cout << "ready" << std::endl;
  std::string go;
  std::getline(std::cin, go);
  for (int i = 0; i < count; ++i) {
    std::string id = "race-" + std::to_string(i);
    auto r = (*store)->ClaimExecution(id, node, 1LL << 40, 1000);
    if (!r.ok()) return Fail(r.message());
    if (*r) std::cout << "claimed " << id << "\n";
  }
  std::cout << "done" << std::endl;
  return 0;
}

int Write(const std::string& url, int count) {
  auto store = OpenStore(url, Options());
  if (!store.ok()) return Fail(store.message());
  for (int i = 0; i < count; ++i) {
    std::string n = std::to_string(i);
    Execution e;
    e.id = "dur-" + n;
    e.action = "core.noop";
    e.requested_at = i;
    auto created = (*store)->CreateExecution(e);
    if (!created.ok()) return Fail(created.message());
    KeyValue kv;
    kv.name = "dur-" + n;
    kv.value = std::string("value\0", 6) + n;
    if (auto s = (*store)->SetKey(kv, i); !s.ok()) return Fail(s.message());
    auto seq = (*store)->AppendOutput("dur-output", "stdout", n, i);
    if (!seq.ok()) return Fail(seq.message());
    std::cout << "ack " << i << std::endl;
  }
  std::cout << "done" << std::endl;
  while (true) pause();
}

int Batches(const std::string& url, int count) {
  auto store = OpenStore(url, Options());
  if (!store.ok()) return Fail(store.message());
  for (int k = 0; k < count; ++k) {
    gale::Status s = (*store)->Batch([&](Store& batch) -> gale::Status {
      for (int i = 0; i < 50; ++i) {
        Execution e;
        e.id = "bat-" + std::to_string(k) + "-" + std::to_string(i);
        e.action = "core.noop";
        e.requested_at = k;
        GALE_TRY(batch.CreateExecution(e).status());
      }
      if (k == count - 1) {
        std::cout << "holding" << std::endl;
        while (true) pause();
      }
      return gale::Status::Ok();
    });
    if (!s.ok()) return Fail(s.message());
    std::cout << "ack " << k << std::endl;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "claim" && argc == 5) return ClaimRace(argv[2], argv[3], std::stoi(argv[4]));
  if (mode == "write" && argc == 4) return Write(argv[2], std::stoi(argv[3]));
  if (mode == "batch" && argc == 4) return Batches(argv[2], std::stoi(argv[3]));
  std::cerr << "usage: gale_store_test_helper claim URL NODE COUNT | write URL COUNT | batch URL "
               "COUNT\n";
  return 2;
}
