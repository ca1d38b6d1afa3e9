#include "traces/internal/environment.h"

#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "runtime/exceptions.h"

namespace gevent {
namespace trace {
namespace internal {

bool BoolFromEnvironment(const char* name) {
  const char* value = getenv(name);
  if (value == nullptr || *value == '\0') return false;
  const std::string v = absl::AsciiStrToLower(value);
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  throw ConfigurationError(absl::StrCat(name, "=\"", value,
                                        "\" is not a boolean (1, true, yes, on, 0, false, no, off)"));
}

}  // namespace internal
}  // namespace trace
}  // namespace gevent
