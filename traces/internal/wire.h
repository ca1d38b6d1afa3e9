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

// Version 3 framing (docs/trace-format.md, "Integrity"). Every checksum
// (a checkpoint's, the end record's) is the CRC-32C of every byte of the
// file before it, from the magic on, except the four bytes of each earlier
// checksum (the header's CRC included); it is the last field of its record,
// so that it covers the rest of it.
inline constexpr uint8_t kCheckpointCrcTag = (1 << 3) | kFixed32;  // Checkpoint.crc32c
inline constexpr uint8_t kEndCrcTag = (2 << 3) | kFixed32;         // End.crc32c
inline constexpr uint8_t kEndTrailerTag = (3 << 3) | kFixed64;     // End.trailer
// End.trailer: a complete trace ends with these 8 bytes, then the end
// record's checksum (its tag and 4 bytes). A reader that finds them at the
// end of a file knows the file is complete, so that any damage before them
// is corruption, not truncation.
inline constexpr uint8_t kEndTrailerBytes[8] = {0xfe, 'g', 't', 'r', 'e', 'n', 'd', 0xfe};
inline constexpr uint64_t EndTrailer() {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | kEndTrailerBytes[i];
  return v;
}
// The last bytes of a complete version 3 file: trailer tag, trailer, the
// checksum's tag (then the 4 bytes of the checksum).
inline constexpr size_t kEndTailBytes = 1 + 8 + 1 + 4;

}  // namespace internal
}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_INTERNAL_WIRE_H_
