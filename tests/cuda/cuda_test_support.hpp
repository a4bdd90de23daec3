// What the torch-free CUDA tests share: device buffers, host images of arrays in a storage dtype (poisoned with 0xFF
// bytes, NaN in every dtype, so an unwritten element shows), random inputs, and the error measures against a double
// reference.
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "strassentile/cuda/stl_cuda.hpp"
#include "strassentile/matrix.hpp"
#include "strassentile/tile_format.hpp"

namespace strassentile::cuda_test {

namespace sc = strassentile::cuda;
using strassentile::Matrix;
using strassentile::TileFormat;

inline void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

// Owning device buffer.
struct DeviceBuffer {
  void* ptr = nullptr;
  std::size_t bytes = 0;
  explicit DeviceBuffer(std::size_t n) : bytes(n) {
    if (n > 0) cuda_ok(cudaMalloc(&ptr, n), "cudaMalloc");
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr(o.ptr), bytes(o.bytes) { o.ptr = nullptr; }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(DeviceBuffer&&) = delete;
  ~DeviceBuffer() { cudaFree(ptr); }
};

// Host image of a device array in a storage dtype.
struct HostArray {
  sc::DType dtype;
  std::vector<unsigned char> bytes;
  HostArray(sc::DType dt, std::size_t count) : dtype(dt), bytes(count * sc::dtype_size(dt), 0xFF) {}
  std::size_t size() const { return bytes.size() / sc::dtype_size(dtype); }

  // Stores v rounded to the dtype; returns the rounded value.
  double set(std::size_t idx, double v) {
    switch (dtype) {
      case sc::DType::f32: {
        const auto f = static_cast<float>(v);
        std::memcpy(&bytes[idx * 4], &f, 4);
        return f;
      }
      case sc::DType::f16: {
        const __half h = __float2half_rn(static_cast<float>(v));
        std::memcpy(&bytes[idx * 2], &h, 2);
        return __half2float(h);
      }
      case sc::DType::bf16: {
        const __nv_bfloat16 h = __float2bfloat16_rn(static_cast<float>(v));
        std::memcpy(&bytes[idx * 2], &h, 2);
        return __bfloat162float(h);
      }
    }
    return 0;
  }
  double get(std::size_t idx) const {
    switch (dtype) {
      case sc::DType::f32: {
        float f;
        std::memcpy(&f, &bytes[idx * 4], 4);
        return f;
      }
      case sc::DType::f16: {
        __half h;
        std::memcpy(&h, &bytes[idx * 2], 2);
        return __half2float(h);
      }
      case sc::DType::bf16: {
        __nv_bfloat16 h;
        std::memcpy(&h, &bytes[idx * 2], 2);
        return __bfloat162float(h);
      }
    }
    return 0;
  }
  bool poisoned(std::size_t idx) const {
    const std::size_t s = sc::dtype_size(dtype);
    return std::all_of(&bytes[idx * s], &bytes[idx * s] + s, [](unsigned char b) { return b == 0xFF; });
  }
  void upload(DeviceBuffer& d) const {
    cuda_ok(cudaMemcpy(d.ptr, bytes.data(), bytes.size(), cudaMemcpyHostToDevice), "upload");
  }
  void download(const DeviceBuffer& d) {
    cuda_ok(cudaDeviceSynchronize(), "kernel");
    cuda_ok(cudaMemcpy(bytes.data(), d.ptr, bytes.size(), cudaMemcpyDeviceToHost), "download");
  }
};

struct Rng {
  std::mt19937_64 gen;
  std::uniform_real_distribution<double> dist{-1.0, 1.0};
  explicit Rng(std::uint64_t seed) : gen(seed) {}
  double operator()() { return dist(gen); }
};

// A device fp32 copy of a host matrix (enc_x, dec); the doubles hold exactly the floats sent.
inline DeviceBuffer upload_f32(Matrix<double>& m) {
  std::vector<float> f(m.size());
  for (std::size_t i = 0; i < m.size(); ++i) {
    f[i] = static_cast<float>(m.data()[i]);
    m.data()[i] = f[i];
  }
  DeviceBuffer d(f.size() * sizeof(float));
  cuda_ok(cudaMemcpy(d.ptr, f.data(), d.bytes, cudaMemcpyHostToDevice), "upload");
  return d;
}

inline Matrix<double> random_matrix(std::size_t rows, std::size_t cols, Rng& rng) {
  Matrix<double> m(rows, cols);
  for (std::size_t i = 0; i < m.size(); ++i) m.data()[i] = rng();
  return m;
}
// A tile format, its rank and the kernel family a case asks for.
struct Format {
  TileFormat tile;
  int rank;
  sc::KernelChoice kernel;
};

// The layer shape of M rows (sequences of `seq`, 0: one sequence) of K in / N out features in format f.
inline sc::StlShape layer_shape(std::size_t M, std::size_t K, std::size_t N, std::size_t seq, const Format& f) {
  sc::StlShape out;
  out.rows = static_cast<std::int64_t>(M);
  out.in_features = static_cast<std::int64_t>(K);
  out.out_features = static_cast<std::int64_t>(N);
  out.a = static_cast<int>(f.tile.a);
  out.b = static_cast<int>(f.tile.b);
  out.c = static_cast<int>(f.tile.c);
  out.rank = f.rank;
  out.seq_len = static_cast<std::int64_t>(seq);
  return out;
}

// A rows × cols matrix stored with leading dimension ld in h's dtype; the padding holds 1000, which no kernel may
// read. Returns the rounded values as the reference sees them.
inline Matrix<double> fill_strided(HostArray& h, std::size_t rows, std::size_t cols, std::size_t ld, Rng& rng) {
  Matrix<double> m(rows, cols);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < ld; ++j) {
      if (j < cols)
        m(i, j) = h.set(i * ld + j, rng());
      else
        h.set(i * ld + j, 1000.0);
    }
  return m;
}

// A cuBLAS handle on the current device, or nullptr with `skip` set when there is no CUDA device (ctest's skip
// code 77) and `skip` unset when cuBLAS fails (a failure): the start of each CUDA test program.
inline cublasHandle_t cuda_test_handle(int& exit_code) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: skipped\n");
    exit_code = 77;
    return nullptr;
  }
  cublasHandle_t handle = nullptr;
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) {
    std::printf("cublasCreate failed\n");
    exit_code = 1;
    return nullptr;
  }
  return handle;
}

// Passed and failed checks of a test program; each failure is printed as it happens.
struct CheckCounts {
  int passed = 0, failed = 0;
  void expect(bool ok, const std::string& what) {
    if (ok) {
      ++passed;
    } else {
      ++failed;
      std::printf("FAIL %s\n", what.c_str());
    }
  }
};

// Accumulates the two error measures over (out, ref) pairs; a poisoned (unwritten) or NaN output fails.
struct Compare {
  double diff2 = 0, ref2 = 0, peak = 0;
  std::size_t count = 0, unwritten = 0, clobbered = 0;
  void add(double out, double ref) {
    if (!std::isfinite(out)) {
      ++unwritten;
      return;
    }
    diff2 += (out - ref) * (out - ref);
    ref2 += ref * ref;
    peak = std::max(peak, std::abs(out - ref));
    ++count;
  }
  double rel() const { return ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2); }
  double peak_rel() const { return count && ref2 > 0 ? peak / std::sqrt(ref2 / static_cast<double>(count)) : peak; }
};

// Whether fn throws std::invalid_argument whose message contains `field`; prints the message otherwise.
inline bool throws_naming(const std::function<void()>& fn, const std::string& field) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    if (std::string(e.what()).find(field) != std::string::npos) return true;
    std::printf("  message does not name '%s': %s\n", field.c_str(), e.what());
    return false;
  } catch (const std::exception& e) {
    std::printf("  not std::invalid_argument: %s\n", e.what());
    return false;
  }
  std::printf("  no exception\n");
  return false;
}

}  // namespace strassentile::cuda_test
