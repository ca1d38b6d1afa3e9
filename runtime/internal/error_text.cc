#include "runtime/internal/error_text.h"

#include <cxxabi.h>

#include <cstdlib>
#include <typeinfo>

#include "runtime/exceptions.h"

namespace gevent {
namespace internal {

std::string Demangle(const char* mangled) {
  int status = 0;
  char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string out = (status == 0 && d != nullptr) ? d : mangled;
  free(d);
  return out;
}

ErrorText DescribeError(std::exception_ptr error) {
  ErrorText t;
  if (error == nullptr) {
    t.type = "(no error)";
    return t;
  }
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    t.type = Demangle(typeid(e).name());
    t.what = e.what();
  } catch (const BaseException& e) {
    t.type = Demangle(typeid(e).name());
    t.what = e.what();
  } catch (...) {
    const std::type_info* ti = abi::__cxa_current_exception_type();
    t.type = ti != nullptr ? Demangle(ti->name()) : "unknown exception";
  }
  return t;
}

}  // namespace internal
}  // namespace gevent
