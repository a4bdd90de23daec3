#include "path_policy.hpp"

#include "error_message.hpp"

namespace strassentile::torch_ops {

PathPolicy parse_path_policy(std::string_view name, std::string_view setter, std::string_view auto_means) {
  if (name == "always") return PathPolicy::Always;
  if (name == "never") return PathPolicy::Never;
  STL_CHECK(name == "auto", "strassentile: ", setter, "(policy='", name, "'): policy must be 'auto' (", auto_means,
            "), 'always' or 'never'");
  return PathPolicy::Auto;
}

std::string exchange_path_policy(std::atomic<PathPolicy>& setting, std::string_view name, std::string_view setter,
                                 std::string_view auto_means) {
  return std::string(path_policy_name(setting.exchange(parse_path_policy(name, setter, auto_means))));
}

std::string_view path_policy_name(PathPolicy policy) {
  switch (policy) {
    case PathPolicy::Always:
      return "always";
    case PathPolicy::Never:
      return "never";
    default:
      return "auto";
  }
}

}  // namespace strassentile::torch_ops
