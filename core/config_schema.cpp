#include "core/config_schema.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace wm::core {

namespace {

std::string join_key(const std::vector<std::string>& prefix, std::string_view key) {
  std::string out;
  for (const auto& part : prefix) out += part + ".";
  return out + std::string(key);
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
    }
  }
  return row[b.size()];
}

std::string got(const ConfigValue& v) { return v.is_list ? "a list" : "'" + v.scalar + "'"; }

template <class T, class Parse>
std::function<void(const ConfigValue&)> scalar_setter(T* value, std::string type_name,
                                                      Parse parse) {
  return [value, type_name, parse](const ConfigValue& v) {
    if (v.is_list) throw std::invalid_argument(type_name + ", got a list");
    try {
      *value = parse(v.scalar);
    } catch (const std::invalid_argument&) {
      throw std::invalid_argument(type_name + ", got " + got(v));
    }
  };
}

template <class T, class Parse>
std::function<void(const ConfigValue&)> list_setter(std::vector<T>* value,
                                                    std::string type_name, Parse parse) {
  return [value, type_name, parse](const ConfigValue& v) {
    if (!v.is_list) throw std::invalid_argument(type_name + ", got " + got(v));
    std::vector<T> parsed;
    for (const auto& item : v.items) {
      try {
        parsed.push_back(parse(item));
      } catch (const std::invalid_argument&) {
        throw std::invalid_argument(type_name + ", got element '" + item + "'");
      }
    }
    *value = std::move(parsed);
  };
}

std::string bound_text(double x) {
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), x);
  return std::string(buffer, result.ptr);
}

// "an integer" -> "an integer >= 1", "a number in 0..1".
std::string bounded_name(std::string name, Bounds b) {
  const bool low = std::isfinite(b.min), high = std::isfinite(b.max);
  if (low && high) return name + " in " + bound_text(b.min) + ".." + bound_text(b.max);
  if (low) return name + " >= " + bound_text(b.min);
  if (high) return name + " <= " + bound_text(b.max);
  return name;
}

// A parser that also refuses values outside `bounds` (the message completes "expects ...").
template <class Parse>
auto bounded(Parse parse, Bounds bounds) {
  return [parse, bounds](const std::string& text) {
    const auto x = parse(text);
    if (static_cast<double>(x) < bounds.min || static_cast<double>(x) > bounds.max) throw std::invalid_argument("out of range");
    return x;
  };
}

std::string format_float(double x) {
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), x);  // shortest round-trip form
  std::string text(buffer, result.ptr);
  if (text.find_first_of(".en") == std::string::npos) text += ".0";  // keep it a float in YAML
  return text;
}

template <class T, class Format>
std::function<ConfigValue()> list_getter(const std::vector<T>* value, Format format) {
  return [value, format]() {
    ConfigValue v{true, "", {}};
    for (const auto& x : *value) v.items.push_back(format(x));
    return v;
  };
}

}  // namespace

int64_t parse_config_int(const std::string& text) {
  int64_t x = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw std::invalid_argument("not an integer");
  }
  return x;
}

double parse_config_float(const std::string& text) {
  double x = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
  // No key means "not a number" or infinity: a NaN learning rate trains to NaN with exit 0.
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || !std::isfinite(x)) {
    throw std::invalid_argument("not a finite number");
  }
  return x;
}

bool parse_config_bool(const std::string& text) {
  for (const char* yes : {"true", "True", "TRUE", "yes", "on"}) {
    if (text == yes) return true;
  }
  for (const char* no : {"false", "False", "FALSE", "no", "off"}) {
    if (text == no) return false;
  }
  throw std::invalid_argument("not a boolean");
}

ConfigSchema::Scope ConfigSchema::section(std::string_view name) {
  prefix_.emplace_back(name);
  return Scope(*this);
}

void ConfigSchema::add_field(std::string_view key, std::string type_name, std::string_view doc,
                             std::function<void(const ConfigValue&)> set,
                             std::function<ConfigValue()> get) {
  std::string full = join_key(prefix_, key);
  if (find(full) != nullptr) throw std::logic_error("config key registered twice: " + full);
  fields_.push_back({full, std::move(type_name), std::string(doc), std::move(set), std::move(get)});
}

void ConfigSchema::add(std::string_view key, int64_t* value, std::string_view doc, Bounds bounds) {
  const std::string name = bounded_name("an integer", bounds);
  add_field(key, name, doc, scalar_setter(value, name, bounded(parse_config_int, bounds)),
            [value] { return ConfigValue{false, std::to_string(*value), {}}; });
}

void ConfigSchema::add(std::string_view key, int* value, std::string_view doc, Bounds bounds) {
  auto parse = [](const std::string& s) {
    int64_t x = parse_config_int(s);
    if (x < INT32_MIN || x > INT32_MAX) throw std::invalid_argument("out of range");
    return static_cast<int>(x);
  };
  const std::string name = bounded_name("a 32-bit integer", bounds);
  add_field(key, name, doc, scalar_setter(value, name, bounded(parse, bounds)),
            [value] { return ConfigValue{false, std::to_string(*value), {}}; });
}

void ConfigSchema::add(std::string_view key, double* value, std::string_view doc, Bounds bounds) {
  const std::string name = bounded_name("a finite number", bounds);
  add_field(key, name, doc, scalar_setter(value, name, bounded(parse_config_float, bounds)),
            [value] { return ConfigValue{false, format_float(*value), {}}; });
}

void ConfigSchema::add(std::string_view key, bool* value, std::string_view doc) {
  add_field(key, "a boolean (true|false)", doc,
            scalar_setter(value, "a boolean (true|false)", parse_config_bool),
            [value] { return ConfigValue{false, *value ? "true" : "false", {}}; });
}

void ConfigSchema::add(std::string_view key, std::string* value, std::string_view doc,
                       Validator validator) {
  auto set = [value, validator](const ConfigValue& v) {
    if (v.is_list) throw std::invalid_argument("a string, got a list");
    if (validator) {
      std::string problem = validator(v.scalar);
      if (!problem.empty()) throw std::invalid_argument(problem + ", got '" + v.scalar + "'");
    }
    *value = v.scalar;
  };
  add_field(key, "a string", doc, std::move(set),
            [value] { return ConfigValue{false, *value, {}}; });
}

void ConfigSchema::add(std::string_view key, std::vector<int64_t>* value, std::string_view doc) {
  add_field(key, "a list of integers", doc,
            list_setter(value, "a list of integers", parse_config_int),
            list_getter(value, [](int64_t x) { return std::to_string(x); }));
}

void ConfigSchema::add(std::string_view key, std::vector<double>* value, std::string_view doc) {
  add_field(key, "a list of finite numbers", doc,
            list_setter(value, "a list of finite numbers", parse_config_float),
            list_getter(value, format_float));
}

void ConfigSchema::add(std::string_view key, std::vector<std::string>* value,
                       std::string_view doc) {
  add_field(key, "a list of strings", doc,
            list_setter(value, "a list of strings", [](const std::string& s) { return s; }),
            list_getter(value, [](const std::string& s) { return s; }));
}

const ConfigField* ConfigSchema::find(std::string_view key) const {
  for (const auto& field : fields_) {
    if (field.key == key) return &field;
  }
  return nullptr;
}

bool ConfigSchema::is_section(std::string_view key) const {
  std::string prefix = std::string(key) + ".";
  return std::any_of(fields_.begin(), fields_.end(),
                     [&](const ConfigField& f) { return f.key.starts_with(prefix); });
}

std::string ConfigSchema::closest_key(std::string_view key) const {
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const auto& field : fields_) {
    size_t d = edit_distance(key, field.key);
    // A key whose last part matches (train.lr vs tokenizer.lr) is a better hint than a
    // merely similar string; count it as closer.
    // A key whose last part matches or extends the asked one (train.lr for lr, log.every_steps
    // for log.every) is a better hint than a merely similar string: count it as closer.
    const std::string last(key.substr(key.rfind('.') + 1));
    const std::string field_last = field.key.substr(field.key.rfind('.') + 1);
    if (!last.empty() && field_last.starts_with(last)) d = d / 2;
    if (d < best_distance) {
      best_distance = d;
      best = field.key;
    }
  }
  return best;
}

}  // namespace wm::core
