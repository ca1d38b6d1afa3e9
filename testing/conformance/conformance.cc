#include "testing/conformance/conformance.h"

#include <fstream>
#include <stdexcept>

#include "absl/strings/str_format.h"
#include "runtime/exception_text.h"

namespace gevent {
namespace conformance {

std::string Seconds(absl::Duration d) {
  return absl::StrFormat("%g", absl::ToDoubleSeconds(d));
}

std::string List(const std::vector<std::string>& items) {
  return "[" + absl::StrJoin(items, ", ") + "]";
}

std::string TypeName(std::exception_ptr e) {
  if (e == nullptr) return "None";
  std::string full = exception_type_name(e);
  size_t colon = full.rfind("::");
  return colon == std::string::npos ? full : full.substr(colon + 2);
}

std::vector<std::string> ExpectedLines(const std::string& name) {
  const std::string path = "testing/conformance/gevent/" + name + ".expected";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace conformance
}  // namespace gevent
