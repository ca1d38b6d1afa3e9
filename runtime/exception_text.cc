#include "runtime/exception_text.h"

#include "runtime/internal/error_text.h"

namespace gevent {

std::string exception_type_name(std::exception_ptr error) {
  return internal::DescribeError(std::move(error)).type;
}

std::string exception_message(std::exception_ptr error) {
  return internal::DescribeError(std::move(error)).what;
}

}  // namespace gevent
