// gtrace: look at traces. See traces/tool.h, or run `gtrace --help`.
//   bazel run //traces:gtrace -- dump /tmp/run.gtrace
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "traces/tool.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // `bazel run` starts us in the runfiles tree; relative paths are the
  // user's.
  const char* cwd = getenv("BUILD_WORKING_DIRECTORY");
  return gevent::trace::RunTool(args, std::cout, std::cerr,
                                cwd != nullptr ? cwd : "");
}
