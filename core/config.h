// Reads YAML config files and command-line overrides into a ConfigSchema's fields.
//
// A file is a nested map whose leaves are the schema's keys (run: {seed: 3} sets run.seed).
// A top-level `include: base.yaml` (or a list) loads other files first, relative to the
// including file; this file's keys then override theirs. Overrides (`run.seed=4`) come last.
// Errors name the file and line, the key, and what is wrong; an unknown key also names the
// closest valid key.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/config_schema.h"

namespace wm::core {

void load_config_file(const std::filesystem::path& file, ConfigSchema& schema);

// The same for YAML text (no includes); `source` names it in errors (e.g. a checkpoint).
void load_config_text(const std::string& yaml, const std::string& source, ConfigSchema& schema);

// Each override is "key.path=value"; "[1, 2]" is a list, anything else a verbatim scalar.
void apply_config_overrides(const std::vector<std::string>& overrides, ConfigSchema& schema);

// The resolved config as YAML, one commented line per key; loading it back reproduces it.
std::string config_to_yaml(const ConfigSchema& schema);

// A key whose value differs between two configs, as each writes it ("" where one lacks it).
struct ChangedKey {
  std::string key;  // dotted, e.g. dynamics_train.steps
  std::string old_value, new_value;
};

// The keys under `section` (e.g. "dynamics_train"; "": every section) that differ between two
// YAML configs (config_to_yaml's, or a checkpoint's), in the order the old one lists them.
std::vector<ChangedKey> changed_keys(const std::string& old_yaml, const std::string& new_yaml, const std::string& section);

}  // namespace wm::core
