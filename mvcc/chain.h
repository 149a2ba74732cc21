// Internal: a key's versions as a chain. `latest` (live key) or `deleted` (key whose newest change
// is a delete) holds the head record; each record names its previous version's revision (`prev`),
// which is looked up in `versions`. Compaction removes superseded links, so a walk ends at the
// first link that is gone. Pure reads through the caller's transaction; views point into LMDB
// memory and stay valid until the transaction's next write. Not part of the public API.
#pragma once

#include <lmdb.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "mvcc/codec.h"
#include "mvcc/tables.h"

namespace cairn::mvcc::internal {

// versions[rev]: *found is false when there is no such entry (compacted away). *stored and *raw
// (the encoded record) view LMDB memory.
absl::Status GetVersion(MDB_txn* txn, const Tables& tables, Revision rev, absl::string_view* stored,
                        absl::string_view* raw, bool* found);

// The head record of `stored` (from `latest`, else `deleted`). *found is false when neither holds it.
absl::Status GetHead(MDB_txn* txn, const Tables& tables, absl::string_view stored, Record* head, bool* found);

// The key's newest version at or before `rev`, walking back from `head`: *out is that version
// (possibly a deletion marker) and *found true, or *found false when the chain ends (or reaches a
// compacted link) before it. `out` may alias `head`.
absl::Status VersionAt(MDB_txn* txn, const Tables& tables, const Record& head, int64_t rev, Record* out, bool* found);

// Every key's head record in stored-key order: `latest` and `deleted` walked together (a key is in
// one of them, never both). Views point into LMDB memory, valid until the transaction's next write.
class HeadCursor {
 public:
  absl::Status Open(MDB_txn* txn, const Tables& tables);
  void SeekFirst();
  void Seek(absl::string_view stored);  // the first key at or after `stored` (non-empty)
  bool Valid() const { return have_latest_ || have_deleted_; }
  absl::string_view stored() const { return View(from_latest_ ? latest_key_ : deleted_key_); }
  absl::string_view record() const { return View(from_latest_ ? latest_value_ : deleted_value_); }
  void Next();
  absl::Status error() const { return latest_.error().ok() ? deleted_.error() : latest_.error(); }

 private:
  void Pick() {
    from_latest_ = !have_deleted_ || (have_latest_ && CompareStored(View(latest_key_), View(deleted_key_)) < 0);
  }

  Cursor latest_, deleted_;
  MDB_val latest_key_{}, latest_value_{}, deleted_key_{}, deleted_value_{};
  bool have_latest_ = false, have_deleted_ = false, from_latest_ = false;
};

}  // namespace cairn::mvcc::internal
