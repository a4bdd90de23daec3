// The STL decode of one position block (or a range of its rows) on tensor cores, by one warpgroup:
// Y[i·a + u, j·c + w] = Σ_p D[u·c + w, p] · Z[p][i][j] + bias[j·c + w] for 256 rows i × 64 columns j of positions
// (the block a consumer warpgroup of wgmma_products.cuh stores). Shared by the fused kernel (Z read back from an
// L2-resident ring once the block's last product is stored, in r shares of rows) and by a standalone decode kernel
// over a whole Z (the unfused comparison), so the two differ only in where Z comes from and when.
//
// Per row i a warp runs mma.sync m16n8k16 with A = D (16 outputs q × 16 products, zero beyond a·c and r) and
// B = Z (16 products × 8 positions). Lane (g, t) loads Z[2t, 2t+1, 2t+8, 2t+9][i][8g .. 8g+7] as four 16-byte
// vectors; the e-th of eight MMAs takes position 8g + e from each, so 64 positions cost four loads per lane and
// 16-product chunk. The 64 × a·c fp32 results go through shared memory (padded against bank conflicts) to become
// 16-byte row segments of Y with the bias added.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace block_decode {

using bf16 = __nv_bfloat16;

constexpr int kRows = 256;     // position rows i per block (the products tile's BN)
constexpr int kColumns = 64;   // position columns j per block (a consumer warpgroup's share of BM)
constexpr int kRowsInFlight = 2;  // rows per warp per step: their loads are issued together (L2 latency)

// fp32 staging per warp: a rows of 64·c outputs, 4 floats of padding every 16·c so that the 32 lanes of a store hit
// 32 banks (row pitch ≡ 16 mod 32).
template <int A, int C>
struct Staging {
  static constexpr int kPitch = kColumns * C + 16;
  static constexpr int kFloatsPerWarp = A * kPitch;
  __device__ static int index(int u, int column) { return u * kPitch + column + (column / (16 * C)) * 4; }
};
template <int A, int C>
constexpr int staging_bytes_per_warpgroup() { return 4 * Staging<A, C>::kFloatsPerWarp * 4; }

struct Block {
  const bf16* z;          // Z[0][first row][first column] of the block
  std::int64_t z_ld;      // elements between rows i
  std::int64_t z_stride;  // elements between products
  bf16* y;                // Y[first row · a][first column · c]
  std::int64_t y_ld;      // elements between rows of Y
  const bf16* bias;       // bias[first column · c], or null
};

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// Element e of two 8-bf16 vectors, packed (lo from `lo`, hi from `hi`): the B fragment of position 8g + e.
__device__ __forceinline__ uint32_t pair(const uint4& lo, const uint4& hi, int e) {
  const uint32_t* l = reinterpret_cast<const uint32_t*>(&lo);
  const uint32_t* h = reinterpret_cast<const uint32_t*>(&hi);
  return __byte_perm(l[e >> 1], h[e >> 1], (e & 1) ? 0x7632 : 0x5410);
}

__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// D (a·c × r fp32, row-major) as A fragments, one per chunk of 16 products, rounded to bf16.
template <int A, int C, int R>
__device__ void load_decoder(const float* dec, uint32_t (&frag)[(R + 15) / 16][4], int lane) {
  const int g = lane >> 2, t = lane & 3;
  auto at = [&](int q, int p) { return (q < A * C && p < R) ? dec[q * R + p] : 0.f; };
#pragma unroll
  for (int chunk = 0; chunk < (R + 15) / 16; ++chunk) {
    const int p = chunk * 16 + 2 * t;
    frag[chunk][0] = pack_bf16(at(g, p), at(g, p + 1));
    frag[chunk][1] = pack_bf16(at(g + 8, p), at(g + 8, p + 1));
    frag[chunk][2] = pack_bf16(at(g, p + 8), at(g, p + 9));
    frag[chunk][3] = pack_bf16(at(g + 8, p + 8), at(g + 8, p + 9));
  }
}

// Decodes rows [row_begin, row_end) of the block with the 128 threads of a warpgroup (thread = 0..127): the whole
// block in the standalone kernel, one of r shares in the fused one. `staging` holds
// staging_bytes_per_warpgroup<A, C>() bytes. Z is read with ld.global.cg: in the fused kernel another SM wrote it
// moments ago, and this SM's L1 may hold the ring slot's previous contents.
template <int A, int C, int R>
__device__ void decode_block(const Block& block, const uint32_t (&dec)[(R + 15) / 16][4], float* staging, int thread,
                             int row_begin = 0, int row_end = kRows) {
  static_assert(A * C <= 16, "one m16 tile of outputs");
  constexpr int kChunks = (R + 15) / 16;
  using S = Staging<A, C>;
  const int warp = thread / 32, lane = thread % 32, g = lane >> 2, t = lane & 3;
  float* stage = staging + warp * S::kFloatsPerWarp;
  const uint4 zero = make_uint4(0, 0, 0, 0);

#pragma unroll 1
  for (int row0 = row_begin + warp * kRowsInFlight; row0 < row_end; row0 += 4 * kRowsInFlight) {
    uint4 z[kRowsInFlight][kChunks][4];
#pragma unroll
    for (int rr = 0; rr < kRowsInFlight; ++rr) {
#pragma unroll
      for (int chunk = 0; chunk < kChunks; ++chunk) {
#pragma unroll
        for (int v = 0; v < 4; ++v) {
          const int p = chunk * 16 + 2 * t + (v & 1) + (v >> 1) * 8;
          const bool live = p < R && row0 + rr < row_end;
          z[rr][chunk][v] = live ? __ldcg(reinterpret_cast<const uint4*>(block.z + p * block.z_stride +
                                                                         (row0 + rr) * block.z_ld + 8 * g))
                                 : zero;
        }
      }
    }
#pragma unroll
    for (int rr = 0; rr < kRowsInFlight; ++rr) {
      if (row0 + rr >= row_end) break;  // the same for the whole warp
      float out[8][4];
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        out[e][0] = out[e][1] = out[e][2] = out[e][3] = 0.f;
#pragma unroll
        for (int chunk = 0; chunk < kChunks; ++chunk) {
          mma_16816(out[e], dec[chunk], pair(z[rr][chunk][0], z[rr][chunk][1], e),
                    pair(z[rr][chunk][2], z[rr][chunk][3], e));
        }
      }
      // out[e] = {q g at j 16t+e, q g at j 16t+8+e, q g+8 at 16t+e, q g+8 at 16t+8+e}.
#pragma unroll
      for (int e = 0; e < 8; ++e) {
#pragma unroll
        for (int h = 0; h < 4; ++h) {
          const int q = g + (h >> 1) * 8;
          const int j = 16 * t + (h & 1) * 8 + e;
          if (q < A * C) stage[S::index(q / C, j * C + q % C)] = out[e][h];
        }
      }
      __syncwarp();
      // a rows of 64·c outputs, 8 per lane and step: 16-byte stores.
      const int row = row0 + rr;
#pragma unroll
      for (int chunk = lane; chunk < A * kColumns * C / 8; chunk += 32) {
        const int u = chunk / (kColumns * C / 8);
        const int column = (chunk % (kColumns * C / 8)) * 8;
        const float4 lo = *reinterpret_cast<const float4*>(&stage[S::index(u, column)]);
        const float4 hi = *reinterpret_cast<const float4*>(&stage[S::index(u, column) + 4]);
        float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
        if (block.bias != nullptr) {
          const uint4 raw = *reinterpret_cast<const uint4*>(block.bias + column);
          const __nv_bfloat162* b = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
          for (int k = 0; k < 4; ++k) {
            const float2 f = __bfloat1622float2(b[k]);
            v[2 * k] += f.x;
            v[2 * k + 1] += f.y;
          }
        }
        uint4 packed;
        packed.x = pack_bf16(v[0], v[1]);
        packed.y = pack_bf16(v[2], v[3]);
        packed.z = pack_bf16(v[4], v[5]);
        packed.w = pack_bf16(v[6], v[7]);
        *reinterpret_cast<uint4*>(block.y + (static_cast<std::int64_t>(row) * A + u) * block.y_ld + column) = packed;
      }
      __syncwarp();
    }
  }
}

// The unfused comparison: one warpgroup per block of a whole Z ((r·m) × n row-major, product p's rows at p·m).
template <int A, int C, int R>
__global__ void __launch_bounds__(128) decode_kernel(const bf16* z, int m, int n, const float* dec, const bf16* bias,
                                                      bf16* y) {
  extern __shared__ __align__(16) float staging[];
  uint32_t frag[(R + 15) / 16][4];
  load_decoder<A, C, R>(dec, frag, threadIdx.x % 32);
  const int blocks_n = n / kColumns;
  const int i0 = (blockIdx.x / blocks_n) * kRows, j0 = (blockIdx.x % blocks_n) * kColumns;
  const std::int64_t ldy = static_cast<std::int64_t>(n) * C;
  const Block block{z + static_cast<std::int64_t>(i0) * n + j0, n, static_cast<std::int64_t>(m) * n,
                    y + static_cast<std::int64_t>(i0) * A * ldy + static_cast<std::int64_t>(j0) * C, ldy,
                    bias == nullptr ? nullptr : bias + static_cast<std::int64_t>(j0) * C};
  decode_block<A, C, R>(block, frag, staging, threadIdx.x);
}

}  // namespace block_decode
