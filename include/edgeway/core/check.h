#pragma once

#include <cstdio>
#include <cstdlib>

// Crashes loudly when a state that cannot happen happens (a bug, never bad input: input errors
// are values). Debian's Abseil predates absl/log's CHECK.
#define EDGEWAY_CHECK(condition)                                                         \
  do {                                                                                   \
    if (!(condition)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (false)
