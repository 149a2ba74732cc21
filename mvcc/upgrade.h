// Internal: converts a store of format 2 ("cairn-mvcc-2": `history` + `revisions`) to the current
// format ("cairn-mvcc-3": `deleted` + `versions`, records linked by `prev`). See mvcc/README.md.
// Not part of the public API.
#pragma once

#include <lmdb.h>

#include "absl/status/status.h"

namespace cairn::mvcc::internal {

inline constexpr char kFormat2Version[] = "cairn-mvcc-2";

// Format 2's tables that format 3 no longer has: `history` (with its comparator installed) and
// `revisions`, created when `create` (write txn only).
absl::Status OpenFormat2Tables(MDB_txn* txn, bool create, MDB_dbi* history, MDB_dbi* revisions);

// Rewrites the whole store inside `txn` (a write transaction the caller commits, or aborts on
// error, which leaves format 2 untouched), replacing whatever `deleted` and `versions` hold, and
// sets the format record to the current format. Work and transient space are proportional to the
// data; on a store near its map size it can fail with ErrNoSpace.
absl::Status UpgradeFromFormat2(MDB_txn* txn);

}  // namespace cairn::mvcc::internal
