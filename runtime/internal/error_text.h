// Turning an exception_ptr into the words of an error report.
#ifndef GEVENTPP_RUNTIME_INTERNAL_ERROR_TEXT_H_
#define GEVENTPP_RUNTIME_INTERNAL_ERROR_TEXT_H_

#include <exception>
#include <string>

namespace gevent {
namespace internal {

struct ErrorText {
  std::string type;  // demangled dynamic type, e.g. "std::runtime_error"
  std::string what;  // what(), or empty if the type has none
};

ErrorText DescribeError(std::exception_ptr error);

// Demangles a type name as typeid(...).name() gives it.
std::string Demangle(const char* mangled);

}  // namespace internal
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_INTERNAL_ERROR_TEXT_H_
