#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace edgeway::stream {

// The map key under which a shard keeps a (device, sensor) key's state: the device, a NUL, the
// sensor (device ids and sensor names hold no NUL). Built in `buffer`, which the caller keeps
// from one reading to the next, so that finding a key allocates nothing.
inline const std::string& KeyOf(std::string* buffer, std::string_view device_id,
                                std::string_view sensor) {
  buffer->assign(device_id);
  buffer->push_back('\0');
  buffer->append(sensor);
  return *buffer;
}

// The (device, sensor) of a map key made by KeyOf.
inline std::pair<std::string, std::string> SplitKey(std::string_view key) {
  const size_t nul = key.find('\0');
  return {std::string(key.substr(0, nul)), std::string(key.substr(nul + 1))};
}

}  // namespace edgeway::stream
