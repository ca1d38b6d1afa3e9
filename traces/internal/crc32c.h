// CRC-32C (Castagnoli), as used by the trace format's checkpoints.
#ifndef GEVENTPP_TRACES_INTERNAL_CRC32C_H_
#define GEVENTPP_TRACES_INTERNAL_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace gevent {
namespace trace {
namespace internal {

// Extends `crc` (0 to start) over `n` bytes. Uses the SSE4.2 instruction
// when the CPU has it, else a table.
uint32_t Crc32c(uint32_t crc, const void* data, size_t n);

}  // namespace internal
}  // namespace trace
}  // namespace gevent

#endif  // GEVENTPP_TRACES_INTERNAL_CRC32C_H_
