#include "runtime/exception_text.h"

#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "runtime/gevent.h"
#include "testing/hub_test.h"

namespace gevent {
namespace {

struct PlainValue {
  int code;
};

TEST(ExceptionText, NamesStandardAndGeventExceptions) {
  auto e = std::make_exception_ptr(std::out_of_range("index 7"));
  EXPECT_EQ(exception_type_name(e), "std::out_of_range");
  EXPECT_EQ(exception_message(e), "index 7");
  auto x = std::make_exception_ptr(GreenletExit());
  EXPECT_EQ(exception_type_name(x), "gevent::GreenletExit");
  EXPECT_EQ(exception_message(x), "GreenletExit");
}

TEST(ExceptionText, NamesAnyThrownValue) {
  EXPECT_EQ(exception_type_name(std::make_exception_ptr(42)), "int");
  EXPECT_EQ(exception_message(std::make_exception_ptr(42)), "");
  EXPECT_EQ(exception_type_name(std::make_exception_ptr(PlainValue{1})),
            "gevent::(anonymous namespace)::PlainValue");
  EXPECT_EQ(exception_type_name(nullptr), "(no error)");
  EXPECT_EQ(exception_message(nullptr), "");
}

using ExceptionTextTest = testing::HubTest;
GEVENT_INSTANTIATE_BACKENDS(ExceptionTextTest);

// What a test of a failed greenlet reads: the dynamic type, not the static.
TEST_P(ExceptionTextTest, NamesTheErrorThatEndedAGreenlet) {
  auto g = spawn([]() -> int { throw std::invalid_argument("bad key"); });
  g->join();
  ASSERT_TRUE(g->exception() != nullptr);
  EXPECT_EQ(exception_type_name(g->exception()), "std::invalid_argument");
  EXPECT_EQ(exception_message(g->exception()), "bad key");
}

}  // namespace
}  // namespace gevent
