#include "host/store/mongo/chain.h"

namespace gale::store::mongo {

void WriteHead(Database& db, const std::string& collection, const std::string& key, int64_t rev,
               Doc state, bool upsert) {
  Doc filter, update;
  filter.Str("_id", key);
  if (db.is_mongodb()) {
    Doc lt;
    lt.Int("$lt", rev);
    filter.Sub("rev", lt);
  }
  state.Int("rev", rev);
  update.Sub("$set", state);
  (void)db.Update(collection, filter, update, upsert, "update head of " + key);
}

}  // namespace gale::store::mongo
