// Umbrella header of the torch-free core.
#pragma once

#include "strassentile/algorithm.hpp"
#include "strassentile/approximation.hpp"
#include "strassentile/cost_model.hpp"
#include "strassentile/loaders.hpp"
#include "strassentile/matrix.hpp"
#include "strassentile/reference.hpp"
#include "strassentile/tile_format.hpp"
#include "strassentile/version.hpp"
