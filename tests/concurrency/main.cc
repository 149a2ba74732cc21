// Test main: like gtest_main, but exits 77 (ctest's SKIP_RETURN_CODE) when every selected test
// skipped itself, e.g. the ours_on_cairnd run while cairnd cannot serve leases and watches yet.
#include <gtest/gtest.h>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const int result = RUN_ALL_TESTS();
  const auto* unit = ::testing::UnitTest::GetInstance();
  if (result == 0 && unit->test_to_run_count() > 0 &&
      unit->skipped_test_count() == unit->test_to_run_count()) {
    return 77;
  }
  return result;
}
