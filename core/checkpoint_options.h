// A component's options stored in its checkpoint as YAML text, so the model can be rebuilt
// from the file alone. Options is any struct with a describe(ConfigSchema&, Options&)
// overload (found by argument-dependent lookup).
#pragma once

#include <string>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/config_schema.h"

namespace wm::core {

template <class Options>
void set_options_text(CheckpointWriter& writer, const std::string& key, Options options) {
  ConfigSchema schema;
  describe(schema, options);
  writer.set_text(key, config_to_yaml(schema));
}

// The options under `key`; unknown keys or bad values are errors naming the checkpoint.
template <class Options>
Options options_from_text(const Checkpoint& checkpoint, const std::string& key) {
  Options options;
  ConfigSchema schema;
  describe(schema, options);
  load_config_text(checkpoint.text(key), "checkpoint " + checkpoint.path().string(), schema);
  return options;
}

}  // namespace wm::core
