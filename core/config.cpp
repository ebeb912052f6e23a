#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "core/error.h"

namespace wm::core {

namespace {

std::string where(const std::string& source, const YAML::Mark& mark) {
  if (mark.is_null()) return source;
  return source + ":" + std::to_string(mark.line + 1);
}

ConfigValue to_config_value(const YAML::Node& node, const std::string& key,
                            const std::string& location) {
  if (node.IsScalar()) return ConfigValue{false, node.Scalar(), {}};
  if (node.IsSequence()) {
    ConfigValue value{true, "", {}};
    for (const auto& item : node) {
      if (!item.IsScalar()) {
        throw Error(location + ": key '" + key + "' must be a list of plain values, not nested");
      }
      value.items.push_back(item.Scalar());
    }
    return value;
  }
  if (node.IsNull()) throw Error(location + ": key '" + key + "' has no value");
  throw Error(location + ": key '" + key + "' must be a value, not a map");
}

void set_field(const ConfigField& field, const YAML::Node& node, const std::string& location) {
  ConfigValue value = to_config_value(node, field.key, location);
  try {
    field.set(value);
  } catch (const std::invalid_argument& e) {
    throw Error(location + ": key '" + field.key + "' expects " + e.what());
  }
}

void unknown_key(const ConfigSchema& schema, const std::string& key, const std::string& location) {
  throw Error(location + ": unknown key '" + key + "'; the closest valid key is '" +
              schema.closest_key(key) + "' (wm config show --config FILE lists all keys)");
}

// Walks a YAML map, matching nested keys against the schema's dotted keys.
void apply_map(const YAML::Node& map, const std::string& prefix, ConfigSchema& schema,
               const std::string& source) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string name = it->first.Scalar();
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    const std::string location = where(source, it->first.Mark());
    if (prefix.empty() && name == "include") continue;  // handled by load_file
    if (const ConfigField* field = schema.find(key)) {
      set_field(*field, it->second, location);
    } else if (schema.is_section(key)) {
      if (!it->second.IsMap()) {
        throw Error(location + ": key '" + key + "' is a section and expects a map of its keys");
      }
      apply_map(it->second, key, schema, source);
    } else {
      unknown_key(schema, key, location);
    }
  }
}

void load_file(const std::filesystem::path& file, ConfigSchema& schema,
               std::vector<std::filesystem::path>& stack) {
  std::error_code ec;
  const auto canonical = std::filesystem::weakly_canonical(file, ec);
  if (std::find(stack.begin(), stack.end(), canonical) != stack.end()) {
    throw Error(file.string() + ": include cycle (the file includes itself through " +
                stack.back().string() + ")");
  }
  const std::string included_from = stack.empty() ? "" : " (included from " + stack.back().string() + ")";
  // The error_code overload: a name the file system refuses (too long, found by fuzz_config)
  // is a config error, not a filesystem_error escaping.
  const std::filesystem::file_status status = std::filesystem::status(file, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    throw Error("config file " + file.string() + " cannot be opened: " + ec.message() + included_from);
  }
  if (std::filesystem::is_directory(status)) throw Error("config file " + file.string() + " is a folder, not a YAML file" + included_from);
  if (!std::filesystem::is_regular_file(status)) throw Error("config file " + file.string() + " does not exist" + included_from);
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::Exception& e) {
    throw Error(where(file.string(), e.mark) + ": invalid YAML: " + e.msg);
  }
  if (root.IsNull()) return;  // an empty file sets nothing
  if (!root.IsMap()) throw Error(file.string() + ": a config file must be a map of keys");

  stack.push_back(canonical);
  if (const YAML::Node include = root["include"]) {
    std::vector<std::string> includes;
    if (include.IsScalar()) {
      includes.push_back(include.Scalar());
    } else if (include.IsSequence()) {
      for (const auto& item : include) includes.push_back(item.Scalar());
    } else {
      throw Error(where(file.string(), include.Mark()) +
                  ": 'include' expects a file name or a list of file names");
    }
    for (const auto& name : includes) load_file(file.parent_path() / name, schema, stack);
  }
  apply_map(root, "", schema, file.string());
  stack.pop_back();
}

std::string yaml_scalar(const std::string& text) {
  YAML::Emitter out;
  out << text;  // quotes only where YAML needs it
  return out.c_str();
}

std::string yaml_value(const ConfigValue& value) {
  if (!value.is_list) return yaml_scalar(value.scalar);
  std::string out = "[";
  for (size_t i = 0; i < value.items.size(); ++i) {
    out += (i ? ", " : "") + yaml_scalar(value.items[i]);
  }
  return out + "]";
}

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::stringstream stream(key);
  for (std::string part; std::getline(stream, part, '.');) parts.push_back(part);
  return parts;
}

}  // namespace

void load_config_file(const std::filesystem::path& file, ConfigSchema& schema) {
  std::vector<std::filesystem::path> stack;
  load_file(file, schema, stack);
}

void load_config_text(const std::string& yaml, const std::string& source, ConfigSchema& schema) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw Error(where(source, e.mark) + ": invalid YAML: " + e.msg);
  }
  if (root.IsNull()) return;
  if (!root.IsMap()) throw Error(source + ": config text must be a map of keys");
  apply_map(root, "", schema, source);
}

namespace {

// Leaves of a YAML map as (dotted key, value as YAML text), in the map's order.
void flatten(const YAML::Node& node, const std::string& key, std::vector<std::pair<std::string, std::string>>& leaves) {
  if (node.IsMap()) {
    for (const auto& item : node) flatten(item.second, (key.empty() ? "" : key + ".") + item.first.as<std::string>(), leaves);
    return;
  }
  YAML::Emitter out;
  out << YAML::Flow << node;
  leaves.emplace_back(key, out.c_str());
}

std::vector<std::pair<std::string, std::string>> leaves_of(const std::string& yaml, const std::string& section) {
  std::vector<std::pair<std::string, std::string>> leaves;
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw Error("a config kept in a checkpoint is not valid YAML: " + e.msg);
  }
  if (section.empty() && root.IsMap()) flatten(root, "", leaves);
  if (!section.empty() && root.IsMap() && root[section]) flatten(root[section], section, leaves);
  return leaves;
}

}  // namespace

std::vector<ChangedKey> changed_keys(const std::string& old_yaml, const std::string& new_yaml, const std::string& section) {
  const auto before = leaves_of(old_yaml, section), after = leaves_of(new_yaml, section);
  auto value_in = [](const std::vector<std::pair<std::string, std::string>>& leaves, const std::string& key) -> std::optional<std::string> {
    for (const auto& [k, v] : leaves) {
      if (k == key) return v;
    }
    return std::nullopt;
  };
  std::vector<ChangedKey> changed;
  for (const auto& [key, value] : before) {
    const std::optional<std::string> now = value_in(after, key);
    if (!now || *now != value) changed.push_back({key, value, now.value_or("")});
  }
  for (const auto& [key, value] : after) {
    if (!value_in(before, key)) changed.push_back({key, "", value});
  }
  return changed;
}

void apply_config_overrides(const std::vector<std::string>& overrides, ConfigSchema& schema) {
  for (const auto& item : overrides) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw Error("command line: override '" + item + "' is not of the form key.path=value");
    }
    const std::string key = item.substr(0, eq);
    const std::string text = item.substr(eq + 1);
    const ConfigField* field = schema.find(key);
    if (field == nullptr) {
      if (schema.is_section(key)) {
        throw Error("command line: '" + key + "' is a section; override one of its keys, e.g. '" +
                    schema.closest_key(key + ".") + "=...'");
      }
      unknown_key(schema, key, "command line");
    }
    // "[a, b]" is a YAML list; anything else is taken verbatim (the shell has already
    // done the quoting), so "name=a: b" is the string "a: b", not a map.
    YAML::Node node(text);
    if (text.starts_with('[')) {
      try {
        node = YAML::Load(text);
      } catch (const YAML::Exception& e) {
        throw Error("command line: key '" + key + "': invalid list '" + text + "': " + e.msg);
      }
    }
    set_field(*field, node, "command line");
  }
}

std::string config_to_yaml(const ConfigSchema& schema) {
  std::string out;
  std::vector<std::string> open;  // section path of the previous key
  for (const auto& field : schema.fields()) {
    std::vector<std::string> parts = split_key(field.key);
    size_t common = 0;
    while (common < open.size() && common + 1 < parts.size() && open[common] == parts[common]) {
      ++common;
    }
    for (size_t depth = common; depth + 1 < parts.size(); ++depth) {
      out += std::string(2 * depth, ' ') + parts[depth] + ":\n";
    }
    open.assign(parts.begin(), parts.end() - 1);
    out += std::string(2 * (parts.size() - 1), ' ') + parts.back() + ": " +
           yaml_value(field.get());
    if (!field.doc.empty()) out += "  # " + field.doc;
    out += "\n";
  }
  return out;
}

}  // namespace wm::core
