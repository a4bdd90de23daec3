// The schemas of every strassentile::* operator, in one place: they are the op library's interface (Python's
// torch.ops.strassentile.*, include/strassentile/torch/ops.hpp, torch.compile and opcheck read them), and most
// of the STL ops have several kernels in several files (ATen, CUDA, Meta, Autograd, Autocast), so no one
// implementation file is their natural home. Each file registers its kernels (TORCH_LIBRARY_IMPL) next to their
// code. Arguments added later go last, with a default, so positional callers keep working.
#include <torch/library.h>

TORCH_LIBRARY(strassentile, m) {
  // Y = STL(x; w_hat, enc_x, dec) (+ bias): stl_matmul_aten.cpp (CPU), stl_matmul_cuda.cpp, stl_matmul_meta.cpp,
  // stl_matmul_autograd.cpp, stl_matmul_autocast.cpp. in_features, when given, must equal x.size(-1).
  m.def("stl_matmul(Tensor x, Tensor w_hat, Tensor enc_x, Tensor dec, int[] tile, Tensor? bias=None, "
        "str mode=\"tile\", int? out_features=None, int[]? levels=None, int? in_features=None) -> Tensor");
  m.def("stl_matmul_backward(Tensor grad_y, Tensor x, Tensor w_hat, Tensor enc_x, Tensor dec, int[] tile, "
        "Tensor? bias, str mode, int? out_features, int[]? levels, bool[5] needs, int? in_features=None) -> "
        "(Tensor, Tensor, Tensor, Tensor, Tensor)");
  // The CUDA forward that also returns its workspace (X̂ and Z), and the backward that uses it: what the autograd
  // kernel calls under set_keep_for_backward(True), or with Z alone under set_keep_z_for_backward(True). Off CUDA
  // kernels nothing is kept (an empty byte tensor).
  m.def("stl_matmul_keep(Tensor x, Tensor w_hat, Tensor enc_x, Tensor dec, int[] tile, Tensor? bias=None, "
        "str mode=\"tile\", int? out_features=None, int[]? levels=None, int? in_features=None) -> (Tensor, Tensor)");
  m.def("stl_matmul_backward_kept(Tensor grad_y, Tensor x, Tensor w_hat, Tensor enc_x, Tensor dec, int[] tile, "
        "Tensor? bias, str mode, int? out_features, int[]? levels, bool[5] needs, Tensor kept, "
        "int? in_features=None) -> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def("set_keep_for_backward(bool keep) -> bool");
  m.def("set_lean_backward(bool lean) -> bool");  // backward_switches.cpp, with set_keep_for_backward
  m.def("set_keep_z_for_backward(bool keep) -> bool");
  m.def("backward_switches() -> (bool keep, bool lean, bool keep_z)");
  // Whether one-row tiles run as their dense equivalent: "auto", "always" or "never"; returns the previous setting
  // (stl_matmul_dense_equivalent.cpp).
  m.def("set_dense_equivalent(str policy) -> str");
  // Whether the CUDA forward runs its products and decode as one kernel where that applies (on by default); returns
  // the previous setting (fused_forward_switch.cpp).
  m.def("set_fused_forward(str policy) -> str");
  // Two layers with an activation between them (stl_mlp.cpp): the composition where gradients are wanted, else
  // stl_mlp_inference, which on CUDA fuses layer 1's decode with layer 2's encode (stl_mlp_cuda.cpp).
  // in_features is layer 1's.
  m.def("stl_mlp(Tensor x, Tensor w_hat1, Tensor enc_x1, Tensor dec1, Tensor? bias1, Tensor w_hat2, Tensor enc_x2, "
        "Tensor dec2, Tensor? bias2, int[] tile, str activation=\"gelu_tanh\", str mode=\"tile\", "
        "int? hidden_features=None, int? out_features=None, int[]? levels1=None, int[]? levels2=None, "
        "int? in_features=None) -> Tensor");
  m.def("stl_mlp_inference(Tensor x, Tensor w_hat1, Tensor enc_x1, Tensor dec1, Tensor? bias1, Tensor w_hat2, "
        "Tensor enc_x2, Tensor dec2, Tensor? bias2, int[] tile, str activation=\"gelu_tanh\", str mode=\"tile\", "
        "int? hidden_features=None, int? out_features=None, int[]? levels1=None, int[]? levels2=None, "
        "int? in_features=None) -> Tensor");
  m.def("encode_weight(Tensor w, Tensor enc_w, int[] tile) -> Tensor");
  // The torch-free core reference, for tests (core_reference_op.cpp).
  m.def("stl_reference(Tensor x, Tensor w_hat, Tensor enc_x, Tensor dec, int[] tile, int out_features, int seq_len=0, "
        "str mode=\"tile\", int[]? levels=None) -> Tensor");

  // Algorithms, fitting and costs (algorithm_ops.cpp). x_moment/w_moment (from tile_moments) switch fit, truncate,
  // relative_error and init_parameters to the expected output error on that data instead of on Gaussian tiles.
  m.def("algorithm(str name) -> (Tensor enc_x, Tensor enc_w, Tensor dec, int[] tile, str source)");
  m.def("available_algorithms() -> str[]");
  m.def("tile_moments(Tensor x, Tensor w, int[] tile) -> (Tensor x_moment, Tensor w_moment)");
  m.def("fit_algorithm(int[] tile, int rank, int restarts=8, int iterations=2000, int seed=0, Tensor? x_moment=None, "
        "Tensor? w_moment=None) -> (Tensor enc_x, Tensor enc_w, Tensor dec, int[] tile, str source)");
  m.def("truncate_algorithm(str name, int rank, Tensor? x_moment=None, Tensor? w_moment=None) -> "
        "(Tensor enc_x, Tensor enc_w, Tensor dec, int[] tile, str source)");
  m.def("relative_error(Tensor enc_x, Tensor enc_w, Tensor dec, int[] tile, Tensor? x_moment=None, "
        "Tensor? w_moment=None) -> float");
  m.def("set_data_dir(str path) -> ()");
  m.def("layer_cost(int m, int k, int n, int[] tile, int rank) -> float[]");
  // The speed model (speed_model_ops.cpp): a GPU as [matmul_flops, matmul_flops_f32, bandwidth, launch_seconds,
  // gemm_half_inner]; predict_speed returns [dense_seconds, stl_seconds] of one call, as the op runs it.
  m.def("gpu_spec(str name, int sm_count, float clock_hz=0) -> (float[] gpu, str name, bool guessed)");
  m.def("predict_speed(int m, int k, int n, int[] tile, int rank, float[] gpu, int bytes_per_element=2, "
        "bool training=False, str mode=\"tile\", bool learn_basis=True, bool keep=False, bool lean=False, "
        "bool keep_z=False) -> float[]");

  // Fitting an STL layer to a dense one on calibration inputs (calibrate.cpp).
  m.def("calibrate(Tensor x, Tensor y, Tensor w_hat, Tensor enc_x, Tensor dec, int[] tile, Tensor? bias, int steps=300, "
        "float lr=1e-3, bool train_basis=False) -> (Tensor w_hat, Tensor enc_x, Tensor dec, float error_before, "
        "float error_after)");
  // Initial parameters, shared by the C++ and Python modules (stl_init.cpp); mode "causal": parameters that respect
  // the masks, and the levels they are built for.
  m.def("init_parameters(int in_features, int out_features, int[] tile, int rank, str init, Tensor? x_moment=None, "
        "Tensor? w_moment=None) -> (Tensor w_hat, Tensor enc_x, Tensor enc_w, Tensor dec)");
  m.def("init_causal_parameters(int in_features, int out_features, int[] tile, int rank, str init, "
        "int[]? levels=None) -> (Tensor w_hat, Tensor enc_x, Tensor enc_w, Tensor dec, int[] levels)");

  // What this library was built with, as a JSON object (build_info.cpp).
  m.def("build_info() -> str");
}
