// The settings of the op's process-wide path switches, set_dense_equivalent (stl_matmul_dense_equivalent.hpp) and
// set_fused_forward (fused_forward_switch.hpp): "auto" (the speed model chooses per call), "always" (the path
// wherever it applies) or "never".
#pragma once

#include <atomic>
#include <string>
#include <string_view>

namespace strassentile::torch_ops {

enum class PathPolicy { Auto, Always, Never };

// The policy named `name`; any other name raises, naming `setter` and what "auto" means for it.
PathPolicy parse_path_policy(std::string_view name, std::string_view setter, std::string_view auto_means);
std::string_view path_policy_name(PathPolicy policy);
// A switch's setter: `setting` takes the policy named `name` (parse_path_policy's check) and the previous one's name
// comes back.
std::string exchange_path_policy(std::atomic<PathPolicy>& setting, std::string_view name, std::string_view setter,
                                 std::string_view auto_means);

}  // namespace strassentile::torch_ops
