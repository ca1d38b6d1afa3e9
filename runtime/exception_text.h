// The words of an error report: an exception's type name and message.
//
// What the hub prints when an error escapes a greenlet ("<name> failed with
// <type>: <message>"), available to tests and error handlers:
//
// example-prelude: auto g = gevent::spawn([] {});
//   std::string type = gevent::exception_type_name(g->exception());  // "std::runtime_error"
//   std::string what = gevent::exception_message(g->exception());    // its what(), or ""
//
// Both work for any thrown value (an int, a user type without what()), and
// name the dynamic type, demangled.
#ifndef GEVENTPP_RUNTIME_EXCEPTION_TEXT_H_
#define GEVENTPP_RUNTIME_EXCEPTION_TEXT_H_

#include <exception>
#include <string>

namespace gevent {

// The demangled dynamic type of the exception; "(no error)" for nullptr.
std::string exception_type_name(std::exception_ptr error);
// Its what() for a std::exception or a gevent exception; "" otherwise.
std::string exception_message(std::exception_ptr error);

}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_EXCEPTION_TEXT_H_
