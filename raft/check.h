// Invariant checks for the raft state machine. A failed check means a bug or a storage that lost
// data it acknowledged; continuing could corrupt the replicated log, so the process aborts with a
// message instead. Never used for conditions a caller can cause with valid input.
#ifndef CAIRN_RAFT_CHECK_H_
#define CAIRN_RAFT_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define CAIRN_RAFT_CHECK(cond, ...)                                                \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "raft invariant violated at %s:%d: ", __FILE__, __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);                                           \
      std::fputc('\n', stderr);                                                    \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

#endif  // CAIRN_RAFT_CHECK_H_
