#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "yaml-cpp/yaml.h"

namespace edgeway {

// Reads a YAML document of nested mappings into typed values. Errors name the file, the line
// and the dotted key, as in `edgeway.yaml:12: analytics.window must be >= 1, got -3`. Keys
// that no reader asked for are errors too, so a misspelt key is not silently ignored.
//
// Reads never throw and never stop early: the first error is kept and returned by Finish().
// A value that is absent leaves the output untouched (the caller's default stays).
// Not thread-safe; copies share one error state.
class YamlReader {
 public:
  static absl::StatusOr<YamlReader> LoadFile(const std::string& path);
  static absl::StatusOr<YamlReader> LoadString(std::string_view text, std::string source_name);

  // The mapping under `key`; an empty reader when absent.
  YamlReader Map(std::string_view key);
  // The list of mappings under `key`, one reader per item (named key[0], key[1], ... in
  // errors); empty when absent.
  std::vector<YamlReader> List(std::string_view key);

  void Read(std::string_view key, std::string* out);
  void Read(std::string_view key, bool* out);
  void Read(std::string_view key, int64_t* out, int64_t min, int64_t max);
  void Read(std::string_view key, size_t* out, size_t min, size_t max);  // a negative is an error
  void Read(std::string_view key, double* out, double min, double max);
  void Read(std::string_view key, std::vector<std::string>* out);
  void Read(std::string_view key, std::vector<double>* out, double min, double max);
  // Whether the mapping has `key` (a null value counts as absent).
  bool Has(std::string_view key) const;
  // One of `choices`.
  void ReadEnum(std::string_view key, std::string* out, const std::vector<std::string>& choices);
  // One of the names in `choices`, stored as the value it stands for.
  template <typename T>
  void ReadEnum(std::string_view key, T* out,
                std::initializer_list<std::pair<std::string_view, T>> choices) {
    std::vector<std::string> names;
    for (const auto& choice : choices) names.emplace_back(choice.first);
    std::string chosen;
    ReadEnum(key, &chosen, names);
    for (const auto& [name, value] : choices) {
      if (name == chosen) *out = value;
    }
  }

  // Records an error about `key` of this mapping (for checks across several keys).
  void Fail(std::string_view key, std::string_view message);

  // The first error, or an error for the first key that nobody read. Call once, at the end.
  absl::Status Finish();

 private:
  struct State;
  YamlReader(std::shared_ptr<State> state, YAML::Node node, std::string path);
  template <typename T>
  void ReadNumber(std::string_view key, T* out, T min, T max, const char* what);
  // The node under `key`, marked as read; a null node when absent.
  YAML::Node Child(std::string_view key);
  std::string Where(const YAML::Node& node, std::string_view key) const;

  std::shared_ptr<State> state_;
  YAML::Node node_;
  std::string path_;  // dotted path of this mapping, "" for the root
  size_t index_ = 0;  // this mapping's entry in state_->maps
};

}  // namespace edgeway
