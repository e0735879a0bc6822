#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace edgeway::stream {

// Analytics state saved at a gateway's stop and in its snapshots, and restored at its start, on
// the same machine and build: plain values in host byte order, each vector after its length. Not
// a wire format.
class StateWriter {
 public:
  template <typename T>
  void Put(const T& value) {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>);
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  void PutBool(bool value) { Put<uint8_t>(value ? 1 : 0); }
  template <typename T>
  void PutVector(const std::vector<T>& values) {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>);
    Put<uint32_t>(static_cast<uint32_t>(values.size()));
    bytes_.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// Reads what a StateWriter wrote. Bytes that are not such state (damaged, truncated, from another
// build) fail a read, never read out of bounds: every length is checked against what is left and
// against the most the reader expects, and floating-point values must be finite.
class StateReader {
 public:
  explicit StateReader(std::string_view bytes) : rest_(bytes) {}

  template <typename T>
  bool Get(T* value) {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>);
    if (rest_.size() < sizeof(T)) return false;
    std::memcpy(value, rest_.data(), sizeof(T));
    rest_.remove_prefix(sizeof(T));
    if constexpr (std::is_floating_point_v<T>) return std::isfinite(*value);
    return true;
  }
  bool GetBool(bool* value) {
    uint8_t byte = 0;
    if (!Get(&byte) || byte > 1) return false;
    *value = byte == 1;
    return true;
  }
  // A uint64_t below `limit`, into a size_t.
  bool GetIndex(size_t* value, size_t limit) {
    uint64_t v = 0;
    if (!Get(&v) || v >= limit) return false;
    *value = static_cast<size_t>(v);
    return true;
  }
  // A vector of at most `max_size` values.
  template <typename T>
  bool GetVector(std::vector<T>* values, size_t max_size) {
    uint32_t n = 0;
    if (!Get(&n) || n > max_size || rest_.size() < n * sizeof(T)) return false;
    values->resize(n);
    for (T& v : *values) {
      if (!Get(&v)) return false;
    }
    return true;
  }
  bool done() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

}  // namespace edgeway::stream
