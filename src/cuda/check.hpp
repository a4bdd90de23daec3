// Turning CUDA and cuBLAS status codes into exceptions that name the failing call, and the parameter checks every
// entry point shares: each message names the entry point and the caller's field.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace strassentile::cuda::detail {

inline void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorName(status) + " (" +
                             cudaGetErrorString(status) + ")");
}

inline void check_cublas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string(what) + ": " + cublasGetStatusName(status) + " (" +
                             cublasGetStatusString(status) + ")");
}

// After a kernel launch: configuration errors surface here, not at the next synchronising call.
inline void check_launch(const char* kernel) { check_cuda(cudaGetLastError(), kernel); }

// "<who>: <field> is null" unless ptr is set.
inline void require_pointer(const void* ptr, const char* who, const char* field) {
  if (ptr == nullptr) throw std::invalid_argument(std::string(who) + ": " + field + " is null");
}

// A pointer to elements of `element_bytes` bytes must be a multiple of that: the kernels and cuBLAS read whole
// elements (a 16-bit value at an odd address is a misaligned-address fault that ends the CUDA context).
inline void require_aligned(const void* ptr, std::size_t element_bytes, const char* who, const char* field) {
  if (reinterpret_cast<std::uintptr_t>(ptr) % element_bytes != 0)
    throw std::invalid_argument(std::string(who) + ": " + field + " is not aligned to its " +
                                std::to_string(element_bytes) + "-byte elements");
}

// Both: set and aligned.
inline void require_elements(const void* ptr, std::size_t element_bytes, const char* who, const char* field) {
  require_pointer(ptr, who, field);
  require_aligned(ptr, element_bytes, who, field);
}

}  // namespace strassentile::cuda::detail
