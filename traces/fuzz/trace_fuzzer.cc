// libFuzzer target: arbitrary bytes through the trace reader and every
// gtrace command. Build and run with traces/fuzz/build.sh (needs clang).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "traces/reader.h"
#include "traces/tool.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gevent::trace;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::ostringstream out, err;
  {
    TraceReader r;
    if (r.OpenBytes(bytes)) {
      Event e;
      while (r.Next(&e)) {
      }
      if (!r.complete() && r.error().find('\n') != std::string::npos) __builtin_trap();
    }
  }
  {
    TraceReader r;
    if (r.OpenBytes(bytes)) Dump(r, out, err);
  }
  {
    TraceReader r;
    if (r.OpenBytes(bytes)) Stats(r, out, err);
  }
  {
    TraceReader a, b;
    if (a.OpenBytes(bytes) && b.OpenBytes(bytes.substr(0, size / 2 + 8))) Diff(a, b, out, err);
  }
  {
    TraceReader r;
    std::string json;
    if (r.OpenBytes(bytes)) ChromeJson(r, &json, err);
  }
  {
    TraceReader r;
    std::string svg;
    TimelineOptions o;
    o.count = 100;
    if (r.OpenBytes(bytes)) TimelineSvg(r, o, &svg, err);
  }
  return 0;
}
