// Space figure of the mvcc store: puts N keys (default 200,000) with V-byte values (default 256)
// through WriteBatch in batches of 1000, then prints the pages in use and the file size.
// Usage: mvcc_space [keys] [value_bytes] [rounds]  (rounds > 1 overwrites every key again).
// MVCC_SPACE_KEEP=1 keeps the data dir (for mdb_stat).
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "mvcc/store.h"

int main(int argc, char** argv) {
  using namespace cairn::mvcc;
  const long keys = argc > 1 ? atol(argv[1]) : 200000;
  const long value_bytes = argc > 2 ? atol(argv[2]) : 256;
  const long rounds = argc > 3 ? atol(argv[3]) : 1;
  std::string tmpl = (std::filesystem::temp_directory_path() / "mvcc_space.XXXXXX").string();
  const std::string dir = mkdtemp(tmpl.data());
  StoreOptions options;
  options.dir = dir;
  options.no_sync = true;
  auto opened = Store::Open(options);
  if (!opened.ok()) {
    fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  auto store = std::move(*opened);
  etcdserverpb::PutRequest req;
  req.set_value(std::string(value_bytes, 'v'));
  etcdserverpb::PutResponse resp;
  char key[48];
  for (long round = 0; round < rounds; ++round) {
    for (long i = 0; i < keys;) {
      auto batch = store->BeginWrite();
      for (long j = 0; j < 1000 && i < keys; ++j, ++i) {
        snprintf(key, sizeof key, "/registry/key/%08ld", i);
        req.set_key(key);
        if (auto s = batch->Put(req, &resp); !s.ok()) {
          fprintf(stderr, "put: %s\n", s.ToString().c_str());
          return 1;
        }
      }
      if (auto s = batch->Commit(); !s.ok()) {
        fprintf(stderr, "commit: %s\n", s.ToString().c_str());
        return 1;
      }
    }
  }
  printf("keys=%ld value_bytes=%ld rounds=%ld DbSizeInUse=%.1f MB DbSize=%.1f MB data.mdb=%.1f MB\n", keys,
         value_bytes, rounds, store->DbSizeInUse() / 1e6, store->DbSize() / 1e6,
         std::filesystem::file_size(std::filesystem::path(dir) / "data.mdb") / 1e6);
  store.reset();
  if (getenv("MVCC_SPACE_KEEP") != nullptr) {
    printf("kept %s\n", dir.c_str());
  } else {
    std::filesystem::remove_all(dir);
  }
  return 0;
}
