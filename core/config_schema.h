// The typed side of configuration: each library describes its Options struct field by field
// (key, pointer to the member, why the default is what it is), and core/config fills the
// fields from YAML files and key.path=value overrides. Libraries never see YAML.
//
//   void describe(ConfigSchema& schema, RunOptions& run) {
//     schema.add("seed", &run.seed, "same seed + same config = same run");
//   }
//   { auto scope = schema.section("run"); describe(schema, options.run); }   // -> run.seed
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wm::core {

// A value as YAML or the command line gives it: one scalar, or a list of scalars.
struct ConfigValue {
  bool is_list = false;
  std::string scalar;
  std::vector<std::string> items;
};

struct ConfigField {
  std::string key;        // dotted path, e.g. "run.device"
  std::string type_name;  // for errors: "an integer", "one of fp32|bf16", ...
  std::string doc;        // one line: what it is and why the default is what it is
  // Parses and stores a value; throws std::invalid_argument whose message completes
  // "key 'k' expects ..." (e.g. "an integer, got 'abc'").
  std::function<void(const ConfigValue&)> set;
  std::function<ConfigValue()> get;
};

// The values a numeric key accepts, checked wherever it is set (YAML file or override), so a
// count of 0 or a NaN learning rate is one line naming the key, not a crash steps later.
// Numbers are always finite.
struct Bounds {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
};
inline Bounds at_least(double min) { return {min, std::numeric_limits<double>::infinity()}; }
inline Bounds between(double min, double max) { return {min, max}; }

class ConfigSchema {
 public:
  // Checks a string value; returns an empty string when valid, else what is wrong.
  using Validator = std::function<std::string(const std::string&)>;

  // Pushes a key prefix for the fields added while the returned object lives.
  class Scope {
   public:
    explicit Scope(ConfigSchema& schema) : schema_(schema) {}
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    ~Scope() { schema_.prefix_.pop_back(); }

   private:
    ConfigSchema& schema_;
  };
  [[nodiscard]] Scope section(std::string_view name);

  void add(std::string_view key, int64_t* value, std::string_view doc, Bounds bounds = {});
  void add(std::string_view key, int* value, std::string_view doc, Bounds bounds = {});
  void add(std::string_view key, double* value, std::string_view doc, Bounds bounds = {});
  void add(std::string_view key, bool* value, std::string_view doc);
  void add(std::string_view key, std::string* value, std::string_view doc,
           Validator validator = {});
  void add(std::string_view key, std::vector<int64_t>* value, std::string_view doc);
  void add(std::string_view key, std::vector<double>* value, std::string_view doc);  // finite numbers
  void add(std::string_view key, std::vector<std::string>* value, std::string_view doc);

  // An enum stored from one of a fixed set of names.
  template <class Enum>
  void add_choice(std::string_view key, Enum* value,
                  std::vector<std::pair<std::string, Enum>> names, std::string_view doc);

  const ConfigField* find(std::string_view key) const;
  // True when `key` is a proper prefix of some field ("run" for "run.seed").
  bool is_section(std::string_view key) const;
  // The valid key nearest to `key` by edit distance (for "did you mean" errors).
  std::string closest_key(std::string_view key) const;
  const std::vector<ConfigField>& fields() const { return fields_; }

 private:
  void add_field(std::string_view key, std::string type_name, std::string_view doc,
                 std::function<void(const ConfigValue&)> set, std::function<ConfigValue()> get);

  std::vector<std::string> prefix_;
  std::vector<ConfigField> fields_;
};

// Scalar parsers shared by the field setters; they throw std::invalid_argument.
int64_t parse_config_int(const std::string& text);
double parse_config_float(const std::string& text);
bool parse_config_bool(const std::string& text);

template <class Enum>
void ConfigSchema::add_choice(std::string_view key, Enum* value,
                              std::vector<std::pair<std::string, Enum>> names,
                              std::string_view doc) {
  std::string type_name = "one of ";
  for (size_t i = 0; i < names.size(); ++i) type_name += (i ? "|" : "") + names[i].first;
  auto set = [value, names, type_name](const ConfigValue& v) {
    if (v.is_list) throw std::invalid_argument(type_name + ", got a list");
    for (const auto& [name, e] : names) {
      if (name == v.scalar) {
        *value = e;
        return;
      }
    }
    throw std::invalid_argument(type_name + ", got '" + v.scalar + "'");
  };
  auto get = [value, names]() {
    for (const auto& [name, e] : names) {
      if (e == *value) return ConfigValue{false, name, {}};
    }
    return ConfigValue{false, "?", {}};
  };
  add_field(key, type_name, doc, std::move(set), std::move(get));
}

}  // namespace wm::core
