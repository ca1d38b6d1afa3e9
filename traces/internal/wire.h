// Protobuf wire-format pieces the recorder writes by hand.
#ifndef GEVENTPP_TRACES_INTERNAL_WIRE_H_
#define GEVENTPP_TRACES_INTERNAL_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "runtime/varint.h"

namespace gevent {
namespace trace {
namespace internal {

using varint::ZigZag;
inline uint8_t* PutVarint(uint8_t* p, uint64_t v) { return varint::Put(p, v); }
inline size_t VarintSize(uint64_t v) { return varint::Size(v); }

enum WireType : uint8_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

inline uint8_t* PutTag(uint8_t* p, uint32_t field, WireType type) {
  return PutVarint(p, (static_cast<uint64_t>(field) << 3) | type);
}

// A varint field, omitted when zero (proto3 default).
inline uint8_t* PutField(uint8_t* p, uint32_t field, uint64_t v) {
  if (v == 0) return p;
  p = PutTag(p, field, kVarint);
  return PutVarint(p, v);
}

inline uint8_t* PutFixed32Field(uint8_t* p, uint32_t field, uint32_t v) {
  p = PutTag(p, field, kFixed32);
  for (int i = 0; i < 4; ++i) *p++ = static_cast<uint8_t>(v >> (8 * i));
  return p;
}

inline uint8_t* PutBytesField(uint8_t* p, uint32_t field, const char* data,
                              size_t n) {
  if (n == 0) return p;
  p = PutTag(p, field, kBytes);
  p = PutVarint(p, n);
  memcpy(p, data, n);
  return p + n;
}

}  // namespace internal
}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_INTERNAL_WIRE_H_
