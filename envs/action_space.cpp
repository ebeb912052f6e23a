#include <cmath>
#include <sstream>

#include "core/error.h"
#include "envs/env.h"

namespace wm::envs {

ActionSpace ActionSpace::discrete(int64_t n) {
  ActionSpace space;
  space.kind = Kind::kDiscrete;
  space.n = n;
  return space;
}

ActionSpace ActionSpace::box(std::vector<float> low, std::vector<float> high) {
  ActionSpace space;
  space.kind = Kind::kBox;
  space.dim = static_cast<int64_t>(low.size());
  space.low = std::move(low);
  space.high = std::move(high);
  return space;
}

std::string ActionSpace::describe() const {
  std::ostringstream out;
  if (is_discrete()) {
    out << "discrete(" << n << ")";
    return out.str();
  }
  out << "box(" << dim << ", ";
  for (int64_t i = 0; i < dim; ++i) out << (i ? "x" : "") << "[" << low[i] << "," << high[i] << "]";
  out << ")";
  return out.str();
}

void validate_action(const ActionSpace& space, const Action& action, const std::string& env_name) {
  if (space.is_discrete()) {
    if (action.index < 0 || action.index >= space.n) {
      throw core::Error(env_name + ": action " + std::to_string(action.index) +
                        " is outside the action space " + space.describe());
    }
    return;
  }
  if (static_cast<int64_t>(action.values.size()) != space.dim) {
    throw core::Error(env_name + ": action has " + std::to_string(action.values.size()) +
                      " values but the action space is " + space.describe());
  }
  for (int64_t i = 0; i < space.dim; ++i) {
    const float v = action.values[i];
    if (!std::isfinite(v) || v < space.low[i] || v > space.high[i]) {
      std::ostringstream message;
      message << env_name << ": action value " << i << " = " << v << " is outside ["
              << space.low[i] << ", " << space.high[i] << "] of " << space.describe();
      throw core::Error(message.str());
    }
  }
}

}  // namespace wm::envs
