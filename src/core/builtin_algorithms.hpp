// Internal: constructors of the built-in exact algorithms (public access goes through get()).
#pragma once

#include "strassentile/algorithm.hpp"

namespace strassentile {

Algorithm strassen();          // <2,2,2>:7
Algorithm winograd();          // <2,2,2>:7, Winograd's variant
Algorithm laderman();          // <3,3,3>:23
Algorithm strassen_squared();  // <4,4,4>:49

}  // namespace strassentile
