// Test-only: simulates silent corruption of a stopped member's store. Opens the store's LMDB
// environment (the member's <data-dir>/member/db) and, in every stored record whose bytes contain
// MARKER, flips the case of the marker's first letter in place: the value changes, its length and
// every revision stay the same, so the member still believes it holds the log it applied.
//
//   usage: cairn_corrupt_value DB_DIR MARKER     exit 0 and "changed N records" when N > 0,
//                                                exit 1 when nothing matched or LMDB failed.
#include <lmdb.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

int Fail(const char* what, int rc) {
  std::fprintf(stderr, "cairn_corrupt_value: %s: %s\n", what, mdb_strerror(rc));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || argv[2][0] == '\0') {
    std::fprintf(stderr, "usage: %s DB_DIR MARKER\n", argv[0]);
    return 2;
  }
  const std::string marker = argv[2];
  MDB_env* env = nullptr;
  if (int rc = mdb_env_create(&env); rc != 0) return Fail("mdb_env_create", rc);
  mdb_env_set_maxdbs(env, 32);
  if (int rc = mdb_env_open(env, argv[1], 0, 0644); rc != 0) return Fail(argv[1], rc);
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(env, nullptr, 0, &txn); rc != 0) return Fail("mdb_txn_begin", rc);
  int changed = 0;
  // The tables holding key records (heads, older versions, deletion markers); see mvcc/tables.cc.
  for (const char* table : {"latest", "versions", "deleted"}) {
    MDB_dbi dbi;
    if (mdb_dbi_open(txn, table, 0, &dbi) != 0) continue;
    MDB_cursor* cursor = nullptr;
    if (int rc = mdb_cursor_open(txn, dbi, &cursor); rc != 0) return Fail("mdb_cursor_open", rc);
    MDB_val key, data;
    for (int rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
      std::string bytes(static_cast<const char*>(data.mv_data), data.mv_size);
      const size_t at = bytes.find(marker);
      if (at == std::string::npos) continue;
      bytes[at] = static_cast<char>(bytes[at] ^ 0x20);  // 'c' <-> 'C'
      MDB_val replaced{bytes.size(), bytes.data()};
      if (int put = mdb_cursor_put(cursor, &key, &replaced, MDB_CURRENT); put != 0) return Fail("mdb_cursor_put", put);
      ++changed;
    }
    mdb_cursor_close(cursor);
  }
  if (int rc = mdb_txn_commit(txn); rc != 0) return Fail("mdb_txn_commit", rc);
  mdb_env_close(env);
  std::printf("changed %d records\n", changed);
  return changed > 0 ? 0 : 1;
}
