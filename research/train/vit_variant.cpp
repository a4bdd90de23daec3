#include "vit_variant.hpp"

#include <stdexcept>

#include "config_values.hpp"

namespace strassentile::train {

VitVariant VitVariant::parse(const std::string& text) {
  const std::string t = trim(text);
  const std::size_t space = t.find_first_of(" \t");
  VitVariant v;
  v.spec = LinearSpec::parse(t.substr(0, space));
  if (space == std::string::npos) return v;
  const std::string extra = trim(t.substr(space));
  const std::string key = "mlp_ratio=";
  if (extra.rfind(key, 0) != 0)
    throw std::invalid_argument("variant '" + t + "': after the layer spec only 'mlp_ratio=N' may follow, got '" +
                                extra + "'");
  const std::string value = extra.substr(key.size());
  if (value.empty() || value.size() > 6 || value.find_first_not_of("0123456789") != std::string::npos ||
      std::stoll(value) < 1)
    throw std::invalid_argument("variant '" + t + "': mlp_ratio must be an integer >= 1, got '" + value + "'");
  v.mlp_ratio = std::stoll(value);
  return v;
}

std::string VitVariant::to_string() const {
  return spec.to_string() + (mlp_ratio > 0 ? " mlp_ratio=" + std::to_string(mlp_ratio) : "");
}

VitConfig VitVariant::model(const VitConfig& base) const {
  VitConfig c = base;
  if (mlp_ratio > 0) c.mlp_ratio = mlp_ratio;
  return c;
}

}  // namespace strassentile::train
