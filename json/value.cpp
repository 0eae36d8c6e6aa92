#include <cmath>

#include "json/json.h"

namespace allot::json {

std::optional<std::int64_t> Value::as_int() const {
  if (const auto* i = std::get_if<std::int64_t>(&value_)) return *i;
  if (const auto* d = std::get_if<double>(&value_)) {
    if (std::isfinite(*d) && std::trunc(*d) == *d && std::fabs(*d) < 9.0e18) return static_cast<std::int64_t>(*d);
  }
  return std::nullopt;
}

std::optional<double> Value::as_number() const {
  if (const auto* i = std::get_if<std::int64_t>(&value_)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&value_)) return *d;
  return std::nullopt;
}

const Value* Value::find(std::string_view key) const {
  const Object* o = as_object();
  if (!o) return nullptr;
  for (const auto& [k, v] : *o) {
    if (k == key) return &v;
  }
  return nullptr;
}

Value& Value::set(std::string key, Value value) {
  if (!as_object()) value_ = Object{};
  Object& o = *as_object();
  o.emplace_back(std::move(key), std::move(value));
  return o.back().second;
}

}  // namespace allot::json
