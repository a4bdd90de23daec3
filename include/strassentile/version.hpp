#pragma once
#define STRASSENTILE_VERSION "0.1.0"
