// gtest main for the e2e tests: exits 77 (ctest's SKIP_RETURN_CODE) when there is no cairnd to test,
// so a tree built without the server reports "skipped", not "passed".
#include <gtest/gtest.h>

#include <cstdio>

#include "tests/e2e/cairnd_process.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!cairn::e2e::CairndAvailable()) {
    std::printf("SKIP: cairnd not found at %s (set CAIRND=<path>)\n", cairn::e2e::CairndPath().c_str());
    return 77;
  }
  return RUN_ALL_TESTS();
}
