#pragma once

#include <chrono>

namespace edgeway::app {

// SIGINT and SIGTERM as events. Block() must run in main before any thread starts, so that
// every thread inherits the mask and the signals wait for Wait() instead of killing the process.
class Signals {
 public:
  static void Block();
  // Waits up to `timeout`; returns the signal number received, or 0.
  static int Wait(std::chrono::milliseconds timeout);
};

}  // namespace edgeway::app
