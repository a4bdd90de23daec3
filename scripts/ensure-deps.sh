#!/usr/bin/env bash
# ensure-deps.sh [GROUP...]: installs the Debian packages a build needs, only when missing.
#   core  : compiler, CMake, Ninja, pkg-config, libzip, GoogleTest (default)
#   fuzz  : clang with libFuzzer
#   cache : ccache (CI's compiler cache)
set -euo pipefail

declare -A groups=(
  [core]="g++ cmake ninja-build pkg-config libzip-dev zlib1g-dev libeigen3-dev libgtest-dev"
  [fuzz]="clang-14 libclang-rt-14-dev"
  [cache]="ccache"
)
[ $# -eq 0 ] && set -- core
wanted=()
for group in "$@"; do
  [ -n "${groups[$group]+x}" ] || { echo "ensure-deps: unknown group '$group' (known: ${!groups[*]})" >&2; exit 2; }
  for pkg in ${groups[$group]}; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || wanted+=("$pkg")
  done
done
[ ${#wanted[@]} -eq 0 ] && exit 0

echo "ensure-deps: installing ${wanted[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "ensure-deps: need root or sudo to apt-get install ${wanted[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
