#include "app/signals.h"

#include <csignal>
#include <ctime>

namespace edgeway::app {
namespace {
sigset_t Set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}
}  // namespace

void Signals::Block() {
  sigset_t set = Set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int Signals::Wait(std::chrono::milliseconds timeout) {
  sigset_t set = Set();
  timespec ts{static_cast<time_t>(timeout.count() / 1000),
              static_cast<long>((timeout.count() % 1000) * 1'000'000)};
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

}  // namespace edgeway::app
