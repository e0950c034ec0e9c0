// Compare-and-set on MongoDB-protocol servers that only make one write atomic.
//
// FerretDB 1.x runs update and findAndModify as "query, then write by _id", so two concurrent
// filtered updates can both match; mongo-java-server can hand a reader a document that another
// connection is half-way through updating. The one write that every server (MongoDB included)
// makes atomic is an insert with a unique _id. So a record that needs compare-and-set
// (executions, leases, dedupe keys) is a chain of revision documents `<key>#<rev>` in
// `<collection>_revs`, each {_id, key, rev, written_at, state}: whoever inserts revision r+1 first
// made the change from revision r; the others get a duplicate key, read again and decide again.
// The head document `<key>` in `<collection>` carries the latest state (and its `rev`) for
// queries and is updated after each change. Readers take the state from the revision documents,
// which never change once written, and follow the chain past the head by _id, so a head that
// lags (a writer died between its two writes) or is read half-updated never misleads a
// compare-and-set or a Get. Every read here is by _id.
#pragma once

#include <optional>
#include <string>

#include "host/common/result.h"
#include "host/store/mongo/bson_doc.h"
#include "host/store/mongo/database.h"
#include "host/store/mongo/documents.h"

namespace gale::store::mongo {

inline constexpr int kMaxCasRounds = 1000;
// A reader repairs a head only when the revision it lags behind is this old, so that it does not
// race the writer that is about to update the head itself.
inline constexpr int64_t kHeadRepairAfterMs = 2000;

template <class State>
struct Loaded {
  std::optional<Doc> head;  // the head document as stored, if there is one
  bool exists = false;      // a head or at least one revision
  int64_t rev = 0;
  State state;
};

// Best-effort: the revision is what counts; a head that lags is caught up by readers. On
// MongoDB the update only moves the head forward (a filter on its revision); elsewhere that
// filter would scan the collection, and heads are written in revision order in practice.
void WriteHead(Database& db, const std::string& collection, const std::string& key, int64_t rev,
               Doc state, bool upsert);

// The latest state of `key`, read by _id: the head says which revision it reflects; the state
// itself comes from that revision's document and any after it. Revision documents are written
// once and never change, so this holds even on a server that lets a reader see a document
// half-updated (mongo-java-server does); the head's own copy of the state is only used at
// revision 0, when no revision document exists yet (and so nobody is updating the head).
template <class State, class FromView>
Result<std::optional<Loaded<State>>> LoadChain(Database& db, const std::string& collection,
                                               const std::string& key, FromView from_view,
                                               const std::string& op) {
  GALE_ASSIGN_OR_RETURN(auto head, db.FindById(collection, key, op));
  Loaded<State> loaded;
  if (head) {
    View v(head->get());
    loaded.exists = true;
    loaded.rev = v.Int("rev");
    loaded.state = from_view(v);
    loaded.head = std::move(head);
  }
  const int64_t head_rev = loaded.rev;
  int64_t written_at = 0;
  auto read_rev = [&](int64_t rev, bool* found) -> Status {
    GALE_ASSIGN_OR_RETURN(auto doc, db.FindById(collection + "_revs", RevId(key, rev), op));
    *found = doc.has_value();
    if (!*found) return Status::Ok();
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc->get(), "state") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
      uint32_t len = 0;
      const uint8_t* data = nullptr;
      bson_iter_document(&it, &len, &data);
      bson_t state;
      if (data != nullptr && bson_init_static(&state, data, len)) {
        loaded.state = from_view(View(&state));
      }
    }
    written_at = View(doc->get()).Int("written_at");
    return Status::Ok();
  };
  if (head_rev > 0) {
    bool found = false;
    if (Status s = read_rev(head_rev, &found); !s)
      return s;  // absent only once collected: the head's copy stands
  }
  while (true) {
    bool found = false;
    GALE_TRY(read_rev(loaded.rev + 1, &found));
    if (!found) break;
    loaded.exists = true;
    ++loaded.rev;
  }
  if (!loaded.exists) return std::optional<Loaded<State>>();
  // A head left behind by a writer that died before updating it: bring it up to date.
  if (loaded.rev > head_rev && written_at < NowMs() - kHeadRepairAfterMs &&
      (loaded.head || collection != "executions")) {
    WriteHead(db, collection, key, loaded.rev, ToDoc(loaded.state), collection != "executions");
  }
  return std::optional<Loaded<State>>(std::move(loaded));
}

// Compare-and-set on the chain of `key`: `decide(exists, state)` returns whether to change
// the state it was given (and changes it); true when this call made the change. With `head`,
// the head document as read for the change that was made (its fields that never change, such
// as an execution's action, are then known without reading it again).
template <class State, class FromView, class Decide>
Result<bool> CasChain(Database& db, const std::string& collection, const std::string& key,
                      FromView from_view, bool upsert_head, const std::string& op, Decide decide,
                      std::optional<Doc>* head = nullptr) {
  for (int round = 0; round < kMaxCasRounds; ++round) {
    GALE_ASSIGN_OR_RETURN(auto loaded, LoadChain<State>(db, collection, key, from_view, op));
    bool exists = loaded.has_value();
    if (!upsert_head && (!exists || !loaded->head)) return false;  // no such record
    State state = exists ? loaded->state : State{};
    int64_t rev = exists ? loaded->rev : 0;
    if (!decide(exists, state)) return false;
    Doc d;
    d.Str("_id", RevId(key, rev + 1)).Str("key", key).Int("rev", rev + 1);
    d.Time("written_at", NowMs()).Sub("state", ToDoc(state));
    GALE_ASSIGN_OR_RETURN(auto inserted, db.Insert(collection + "_revs", d, op));
    if (inserted) {
      WriteHead(db, collection, key, rev + 1, ToDoc(state), upsert_head);
      if (head != nullptr && exists) *head = std::move(loaded->head);
      return true;
    }
    // Someone else made revision rev + 1 first: look again.
  }
  return Status::Error("mongodb store " + db.url() + ": " + op + ": too much contention", true);
}

}  // namespace gale::store::mongo
