// Helpers for the ports of gevent's conformance vectors: collect printed
// lines, format values the way Python prints them, and compare with the
// vector's .expected file (read at test time, never pasted).
#ifndef GEVENTPP_TESTING_CONFORMANCE_CONFORMANCE_H_
#define GEVENTPP_TESTING_CONFORMANCE_CONFORMANCE_H_

#include <exception>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace gevent {
namespace conformance {

// What a port prints, one entry per print() call.
class Output {
 public:
  template <typename... Parts>
  void print(const Parts&... parts) {
    std::vector<std::string> words{ToWord(parts)...};
    lines_.push_back(absl::StrJoin(words, " "));
  }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  static std::string ToWord(const std::string& s) { return s; }
  static std::string ToWord(const char* s) { return s; }
  static std::string ToWord(bool b) { return b ? "True" : "False"; }
  static std::string ToWord(int i) { return absl::StrCat(i); }
  static std::string ToWord(size_t i) { return absl::StrCat(i); }
  std::vector<std::string> lines_;
};

// Python's repr of a str: 'a'.
inline std::string Repr(const std::string& s) { return "'" + s + "'"; }
// Python's str of a float number of seconds: 0.01.
std::string Seconds(absl::Duration d);
// Python's str of a list whose items are already formatted: ['a', 'b'].
std::string List(const std::vector<std::string>& items);
// The name of the exception's dynamic type ("None" for nullptr), as Python's
// type(e).__name__ prints it (without namespaces).
std::string TypeName(std::exception_ptr e);

// The lines of testing/conformance/gevent/<name>.expected.
std::vector<std::string> ExpectedLines(const std::string& name);

}  // namespace conformance
}  // namespace gevent

#endif  // GEVENTPP_TESTING_CONFORMANCE_CONFORMANCE_H_
