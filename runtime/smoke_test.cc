#include <gtest/gtest.h>
#include "runtime/gevent.h"
#include "runtime/internal/error_text.h"
TEST(Smoke, Timeout1) {
  int stage = 0;
  try {
    gevent::TimeoutScope t(absl::Milliseconds(10));
    gevent::sleep(absl::Seconds(1));
  } catch (const gevent::TimeoutError& e) { stage = 1; }
  catch (...) { auto t = gevent::internal::DescribeError(std::current_exception()); printf("TYPE %s %s\n", t.type.c_str(), t.what.c_str()); }
  EXPECT_EQ(stage, 1);
}
