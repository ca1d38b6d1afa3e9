// Compile-time detection of AddressSanitizer and its fiber API.
#ifndef GEVENTPP_RUNTIME_INTERNAL_SANITIZERS_H_
#define GEVENTPP_RUNTIME_INTERNAL_SANITIZERS_H_

#if defined(__SANITIZE_ADDRESS__)
#define GEVENT_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#else
#define GEVENT_ASAN 0
#endif

#endif  // GEVENTPP_RUNTIME_INTERNAL_SANITIZERS_H_
