#include "edgeway/core/yaml_reader.h"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "edgeway/core/strings.h"
#include "fmt/ranges.h"

namespace edgeway {

struct YamlReader::State {
  std::string source;  // file name used in messages
  absl::Status first_error;
  struct MapEntry {
    YAML::Node node;
    std::string path;
    std::set<std::string, std::less<>> read_keys;
  };
  std::vector<MapEntry> maps;

  void Error(std::string message) {
    if (first_error.ok()) first_error = absl::InvalidArgumentError(std::move(message));
  }
};

namespace {

// A node that IsDefined() says is not there (YAML::Node() is a defined null).
YAML::Node Absent() { return YAML::Node(YAML::NodeType::Undefined); }

// Const lookup: yaml-cpp's non-const operator[] would insert the key.
YAML::Node Lookup(const YAML::Node& map, std::string_view key) {
  return map.IsMap() ? map[std::string(key)] : Absent();
}

std::string Join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : StrCat(path, ".", key);
}

}  // namespace

absl::StatusOr<YamlReader> YamlReader::LoadString(std::string_view text, std::string source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(StrCat(source_name, ":", e.mark.line + 1, ": ", e.msg));
  }
  auto state = std::make_shared<State>();
  state->source = std::move(source_name);
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        StrCat(state->source, ":", root.Mark().line + 1, ": expected a mapping of keys"));
  }
  return YamlReader(std::move(state), root, "");
}

absl::StatusOr<YamlReader> YamlReader::LoadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(StrCat(path, ": cannot open config file"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return LoadString(buffer.str(), path);
}

YamlReader::YamlReader(std::shared_ptr<State> state, YAML::Node node, std::string path)
    : state_(std::move(state)), node_(std::move(node)), path_(std::move(path)) {
  index_ = state_->maps.size();
  state_->maps.push_back({node_, path_, {}});
}

std::string YamlReader::Where(const YAML::Node& node, std::string_view key) const {
  int line = node.IsDefined() && node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
  return StrCat(state_->source, ":", line, ": ", Join(path_, key));
}

YAML::Node YamlReader::Child(std::string_view key) {
  if (!node_.IsMap()) return Absent();
  state_->maps[index_].read_keys.emplace(key);
  YAML::Node child = Lookup(node_, key);
  if (!child.IsDefined() || child.IsNull()) return Absent();
  return child;
}

void YamlReader::Fail(std::string_view key, std::string_view message) {
  YAML::Node child = Lookup(node_, key);
  state_->Error(StrCat(Where(child.IsDefined() ? child : node_, key), " ", message));
}

YamlReader YamlReader::Map(std::string_view key) {
  YAML::Node child = Child(key);
  if (child.IsDefined() && !child.IsNull() && !child.IsMap()) {
    state_->Error(StrCat(Where(child, key), " must be a mapping"));
    child = Absent();
  }
  return YamlReader(state_, child, Join(path_, key));
}

std::vector<YamlReader> YamlReader::List(std::string_view key) {
  YAML::Node child = Child(key);
  std::vector<YamlReader> items;
  if (!child.IsDefined()) return items;
  if (!child.IsSequence()) {
    state_->Error(StrCat(Where(child, key), " must be a list"));
    return items;
  }
  size_t i = 0;
  for (const YAML::Node& item : child) {
    std::string path = StrCat(Join(path_, key), "[", i++, "]");
    if (!item.IsMap()) {
      state_->Error(
          StrCat(state_->source, ":", item.Mark().line + 1, ": ", path, " must be a mapping"));
      continue;
    }
    items.push_back(YamlReader(state_, item, std::move(path)));
  }
  return items;
}

bool YamlReader::Has(std::string_view key) const {
  YAML::Node child = Lookup(node_, key);
  return child.IsDefined() && !child.IsNull();
}

void YamlReader::Read(std::string_view key, std::string* out) {
  YAML::Node child = Child(key);
  if (!child.IsDefined()) return;
  if (!child.IsScalar()) {
    state_->Error(StrCat(Where(child, key), " must be a string"));
    return;
  }
  *out = child.Scalar();
}

void YamlReader::Read(std::string_view key, bool* out) {
  YAML::Node child = Child(key);
  if (!child.IsDefined()) return;
  bool value;
  if (!child.IsScalar() || !YAML::convert<bool>::decode(child, value)) {
    state_->Error(StrCat(Where(child, key), " must be true or false, got '",
                         child.IsScalar() ? child.Scalar() : "?", "'"));
    return;
  }
  *out = value;
}

template <typename T>
void YamlReader::ReadNumber(std::string_view key, T* out, T min, T max, const char* what) {
  YAML::Node child = Child(key);
  if (!child.IsDefined()) return;
  T value;
  if (!child.IsScalar() || !YAML::convert<T>::decode(child, value) ||
      !std::isfinite(static_cast<double>(value))) {
    state_->Error(StrCat(Where(child, key), " must be ", what, ", got '",
                         child.IsScalar() ? child.Scalar() : "?", "'"));
    return;
  }
  if (value < min || value > max) {
    state_->Error(StrCat(Where(child, key), " must be in [", min, ", ", max, "], got ", value));
    return;
  }
  *out = value;
}

void YamlReader::Read(std::string_view key, int64_t* out, int64_t min, int64_t max) {
  long long value = *out;
  ReadNumber<long long>(key, &value, min, max, "an integer");
  *out = value;
}

void YamlReader::Read(std::string_view key, size_t* out, size_t min, size_t max) {
  auto value = static_cast<long long>(*out);
  ReadNumber<long long>(key, &value, static_cast<long long>(min), static_cast<long long>(max),
                        "an integer");
  *out = static_cast<size_t>(value);  // in [min, max] when read, else untouched
}

void YamlReader::Read(std::string_view key, double* out, double min, double max) {
  ReadNumber<double>(key, out, min, max, "a number");
}

void YamlReader::Read(std::string_view key, std::vector<std::string>* out) {
  YAML::Node child = Child(key);
  if (!child.IsDefined()) return;
  if (!child.IsSequence()) {
    state_->Error(StrCat(Where(child, key), " must be a list of strings"));
    return;
  }
  std::vector<std::string> values;
  for (const YAML::Node& item : child) {
    if (!item.IsScalar()) {
      state_->Error(StrCat(Where(item, key), " must be a list of strings"));
      return;
    }
    values.push_back(item.Scalar());
  }
  *out = std::move(values);
}

void YamlReader::Read(std::string_view key, std::vector<double>* out, double min, double max) {
  YAML::Node child = Child(key);
  if (!child.IsDefined()) return;
  if (!child.IsSequence()) {
    state_->Error(StrCat(Where(child, key), " must be a list of numbers"));
    return;
  }
  std::vector<double> values;
  for (const YAML::Node& item : child) {
    double value;
    if (!item.IsScalar() || !YAML::convert<double>::decode(item, value) || !std::isfinite(value)) {
      state_->Error(StrCat(Where(item, key), " must be a list of numbers, got '",
                           item.IsScalar() ? item.Scalar() : "?", "'"));
      return;
    }
    if (value < min || value > max) {
      state_->Error(
          StrCat(Where(item, key), " values must be in [", min, ", ", max, "], got ", value));
      return;
    }
    values.push_back(value);
  }
  *out = std::move(values);
}

void YamlReader::ReadEnum(std::string_view key, std::string* out,
                          const std::vector<std::string>& choices) {
  std::string value;
  Read(key, &value);
  if (value.empty()) return;
  for (const std::string& choice : choices) {
    if (value == choice) {
      *out = value;
      return;
    }
  }
  state_->Error(StrCat(Where(Lookup(node_, key), key), " must be one of ",
                       fmt::format("{}", fmt::join(choices, ", ")), ", got '", value, "'"));
}

absl::Status YamlReader::Finish() {
  if (!state_->first_error.ok()) return state_->first_error;
  for (const State::MapEntry& map : state_->maps) {
    if (!map.node.IsMap()) continue;
    for (const auto& item : map.node) {
      std::string key = item.first.Scalar();
      if (!map.read_keys.contains(key)) {
        return absl::InvalidArgumentError(StrCat(state_->source, ":", item.first.Mark().line + 1,
                                                 ": unknown key ", Join(map.path, key)));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace edgeway
