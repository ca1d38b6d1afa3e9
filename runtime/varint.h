// LEB128 varints (7 bits a byte, low group first, the top bit set on all
// but the last byte), as Protocol Buffers writes integers. The one varint
// encoder of the project: the hub's event lane (event_lane.h) and the trace
// writer (traces/) both use it.
#ifndef GEVENTPP_RUNTIME_VARINT_H_
#define GEVENTPP_RUNTIME_VARINT_H_

#include <cstddef>
#include <cstdint>

namespace gevent {
namespace varint {

// The most bytes a 64-bit value takes.
constexpr size_t kMaxBytes = 10;

// Writes `v` at `p`; returns the end.
inline uint8_t* Put(uint8_t* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<uint8_t>(v);
  return p;
}

// How many bytes Put writes for `v`.
inline size_t Size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// The encoding of `value` (< 2^28) in the low bytes of a word, little-endian,
// and its length (1 to 4) in `*n`: the same bytes as Put, without a loop
// (one case a length), for a hot path that stores a whole word.
inline uint64_t Spread28(uint64_t value, uint64_t* n) {
  if (value < 0x80) {
    *n = 1;
    return value;
  }
  uint64_t groups = (value & 0x7f) | (value << 1 & 0x7f00);
  if (value < 0x4000) {
    *n = 2;
    return groups | 0x80;
  }
  groups |= value << 2 & 0x7f0000;
  if (value < 0x200000) {
    *n = 3;
    return groups | 0x8080;
  }
  *n = 4;
  return groups | (value << 3 & 0x7f000000) | 0x808080;
}

// Reads a varint from [*p, end) into `*out` and moves `*p` past it.
// kOk; kEnded: the data ended inside it; kMalformed: more than 10 bytes.
enum class GetResult { kOk, kEnded, kMalformed };
inline GetResult Get(const uint8_t** p, const uint8_t* end, uint64_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end) return GetResult::kEnded;
    const uint8_t b = *(*p)++;
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *out = v;
      return GetResult::kOk;
    }
  }
  return GetResult::kMalformed;
}

// Signed values with small magnitudes in few bytes: 0, -1, 1, -2... as
// 0, 1, 2, 3... (Protocol Buffers' sint64).
inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

}  // namespace varint
}  // namespace gevent

#endif  // GEVENTPP_RUNTIME_VARINT_H_
