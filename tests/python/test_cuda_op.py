"""torch.ops.strassentile.stl_matmul on CUDA tensors (the src/cuda kernels) against the same op on the CPU in
float64: the output and all five gradients, over shapes, tile formats and dtypes; mixed dtypes (16-bit x, fp32
parameters), the needs mask, non-contiguous inputs, the float64 fallback, and that the CUDA key really runs the
strassentile kernels. Both sides see the same inputs (rounded to the tested dtype first); error measure:
max|got - ref| / max|ref|."""
import itertools
import math

import pytest
import torch

import strassentile  # noqa: F401  (loads the op library)
from strassentile import algorithms
from tolerances import assert_close, kind_of

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; run on the device")

FORMATS = [((2, 2, 2), 7), ((3, 3, 3), 23), ((4, 4, 4), 24), ((2, 4, 4), 16), ((1, 4, 4), 12), ((4, 2, 4), 12),
           ((1, 4, 2), 3), ((4, 4, 1), 6), ((2, 1, 2), 3), ((2, 3, 4), 13)]
# (x shape, N): 2-D ragged; batch x seq with seq 13 (a multiple of no a > 1); 1-D; 4-D; aligned sizes.
SHAPES = [((37, 30), 22), ((3, 13, 67), 45), ((35,), 18), ((2, 2, 7, 40), 33), ((4, 64, 256), 192)]


def make_inputs(x_shape, n_out, tile, rank):
    a, b, c = tile
    k, n = math.ceil(x_shape[-1] / b), math.ceil(n_out / c)
    g = dict(dtype=torch.float64)
    return dict(x=torch.randn(*x_shape, **g), w_hat=torch.randn(rank, k, n, **g) / math.sqrt(k),
                enc_x=torch.randn(rank, a * b, **g) / math.sqrt(a * b), dec=torch.randn(a * c, rank, **g) / math.sqrt(rank),
                bias=torch.randn(n_out, **g), grad_y=torch.randn(*x_shape[:-1], n_out, **g))


def rounded(inputs, x_dtype, param_dtype):
    return {name: t.to(x_dtype if name in ("x", "grad_y") else param_dtype).double() for name, t in inputs.items()}


def run(inputs, tile, n_out, device, x_dtype, param_dtype, wants=("x", "w_hat", "enc_x", "dec", "bias"), mode="tile",
        levels=None):
    leaves = {name: t.to(device, x_dtype if name == "x" else param_dtype).detach().requires_grad_(name in wants)
              for name, t in inputs.items() if name != "grad_y"}
    y = torch.ops.strassentile.stl_matmul(leaves["x"], leaves["w_hat"], leaves["enc_x"], leaves["dec"], list(tile),
                                          leaves["bias"], mode, n_out, levels)
    y.backward(inputs["grad_y"].to(device, x_dtype))
    return y.detach(), {name: t.grad for name, t in leaves.items()}


def rel_error(got, ref):
    return ((got.double().cpu() - ref).abs().max() / ref.abs().max().clamp_min(1e-300)).item()


# The column tiles of each result (tile_width of assert_close): y's are c wide, dX's b; dŴ's columns one by one.
def tile_widths(tile):
    a, b, c = tile
    return dict(y=c, x=b, w_hat=1, enc_x=1, dec=1, bias=c)


def expect_close(y, grads, y_ref, g_ref, tile, x_dtype):
    """Output and gradients against the float64 references; the computation runs in x_dtype whatever the parameters'
    storage is."""
    widths = tile_widths(tile)
    assert_close("y", y, y_ref, x_dtype, widths["y"])
    for name, ref in g_ref.items():
        assert grads[name] is not None, f"{name}: gradient missing"
        assert_close(f"d{name}", grads[name], ref, x_dtype, widths[name], kind_of(name))


def check(inputs, tile, n_out, x_dtype, param_dtype):
    inputs = rounded(inputs, x_dtype, param_dtype)
    y_ref, g_ref = run(inputs, tile, n_out, "cpu", torch.float64, torch.float64)
    y, grads = run(inputs, tile, n_out, "cuda", x_dtype, param_dtype)
    assert y.dtype == x_dtype
    for name, got in grads.items():
        assert got is not None and got.dtype == (x_dtype if name == "x" else param_dtype), name
    expect_close(y, grads, y_ref, g_ref, tile, x_dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"x{s[0]}-N{s[1]}")
@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: "<{},{},{}>:{}".format(*f[0], f[1]))
def test_forward_and_gradients_match_the_cpu_op(fmt, shape, dtype):
    torch.manual_seed(0)
    (tile, rank), (x_shape, n_out) = fmt, shape
    check(make_inputs(x_shape, n_out, tile, rank), tile, n_out, dtype, dtype)


@pytest.mark.parametrize("x_dtype", [torch.bfloat16, torch.float16], ids=str)
def test_autocast_style_fp32_parameters(x_dtype):
    torch.manual_seed(1)
    check(make_inputs((3, 13, 67), 45, (4, 4, 4), 24), (4, 4, 4), 45, x_dtype, torch.float32)


@pytest.mark.parametrize("dtypes", [(torch.bfloat16,) * 3, (torch.bfloat16, torch.float32, torch.bfloat16),
                                    (torch.float16, torch.float16, torch.float32)], ids=str)
def test_coefficient_gradients_in_their_parameters_dtypes(dtypes):
    """dE_X, dD and the bias's gradient come out of one fp32 buffer (cast in one launch where the three parameters
    share a 16-bit dtype, one by one otherwise): each in its own parameter's dtype and close to float64, and a second
    backward adds into the first's .grad (views of one buffer) as into separate tensors."""
    torch.manual_seed(11)
    tile, n_out = (2, 2, 2), 45
    inputs = make_inputs((3, 13, 67), n_out, tile, 3)
    types = dict(zip(("enc_x", "dec", "bias"), dtypes), x=torch.bfloat16, w_hat=torch.bfloat16)
    inputs = {name: t.to(types.get(name, torch.bfloat16)).double() for name, t in inputs.items()}
    _, g_ref = run(inputs, tile, n_out, "cpu", torch.float64, torch.float64)
    leaves = {name: t.to("cuda", types[name]).detach().requires_grad_() for name, t in inputs.items() if name != "grad_y"}
    call = lambda: torch.ops.strassentile.stl_matmul(leaves["x"], leaves["w_hat"], leaves["enc_x"], leaves["dec"],
                                                     list(tile), leaves["bias"], "tile", n_out, None)
    call().backward(inputs["grad_y"].to("cuda", torch.bfloat16))
    first = {name: leaves[name].grad.clone() for name in ("enc_x", "dec", "bias")}
    for name, got in first.items():
        assert got.dtype == types[name], name
        assert_close(f"d{name}", got, g_ref[name], torch.bfloat16, tile_widths(tile)[name], kind_of(name))
    call().backward(inputs["grad_y"].to("cuda", torch.bfloat16))
    for name, got in first.items():
        assert torch.equal(leaves[name].grad, got + got), name


@pytest.mark.parametrize("wanted", ["x", "w_hat", "enc_x", "dec", "bias"])
def test_needs_mask_computes_only_what_is_asked(wanted):
    torch.manual_seed(2)
    inputs = rounded(make_inputs((3, 13, 67), 45, (4, 4, 4), 24), torch.float32, torch.float32)
    _, g_ref = run(inputs, (4, 4, 4), 45, "cpu", torch.float64, torch.float64)
    _, grads = run(inputs, (4, 4, 4), 45, "cuda", torch.float32, torch.float32, wants=(wanted,))
    assert all(g is None for name, g in grads.items() if name != wanted)
    assert_close(wanted, grads[wanted], g_ref[wanted], torch.float32, tile_widths((4, 4, 4))[wanted])


def test_non_contiguous_inputs():
    torch.manual_seed(3)
    x = torch.randn(30, 45, dtype=torch.float64).t()
    w_hat = torch.randn(24, 6, 8, dtype=torch.float64).transpose(1, 2) / 3
    enc_x, dec = torch.randn(16, 24, dtype=torch.float64).t() / 4, torch.randn(16, 24, dtype=torch.float64) / 5
    args = lambda dev, dt: [t.to(dev, dt) for t in (x, w_hat, enc_x, dec)]
    ref = torch.ops.strassentile.stl_matmul(*args("cpu", torch.float64), [4], None, "tile", 22)
    got = torch.ops.strassentile.stl_matmul(*args("cuda", torch.float32), [4], None, "tile", 22)
    assert_close("y", got, ref, torch.float32, 4)


def test_float64_on_cuda_falls_back_to_aten():
    torch.manual_seed(4)
    inputs = make_inputs((3, 13, 67), 45, (2, 3, 4), 13)
    y_ref, g_ref = run(inputs, (2, 3, 4), 45, "cpu", torch.float64, torch.float64)
    y, grads = run(inputs, (2, 3, 4), 45, "cuda", torch.float64, torch.float64)
    assert rel_error(y, y_ref) <= 1e-10
    assert all(rel_error(grads[name], g_ref[name]) <= 1e-10 for name in g_ref)


def test_exact_algorithm_reproduces_the_product_in_bf16():
    torch.manual_seed(5)
    alg = algorithms.get("strassen2")
    x, w = torch.randn(2, 50, 96, dtype=torch.float64), torch.randn(96, 80, dtype=torch.float64)
    bf = dict(device="cuda", dtype=torch.bfloat16)
    w_hat = torch.ops.strassentile.encode_weight(w.to(**bf), alg.enc_w.to(**bf), [4])
    y = torch.ops.strassentile.stl_matmul(x.to(**bf), w_hat, alg.enc_x.to(**bf), alg.dec.to(**bf), [4], None, "tile", 80)
    assert rel_error(y, x @ w) <= 3e-2


def test_build_info_reports_the_cuda_kernels():
    """The op library these tests load was built with src/cuda: otherwise the CUDA key would run the ATen composition
    and every comparison above would test that instead."""
    info = strassentile.build_info()
    assert info["cuda_kernels"] is True, info


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
def test_cuda_key_runs_the_strassentile_kernels(kernel_names, dtype):
    """The CUDA dispatch key reaches src/cuda: the forward runs the project's encode and decode kernels (the tensor-core
    encode_mma/decode_mma in bf16, the CUDA-core ones in fp32), and the backward its own encodes, with the bias's
    gradient summed inside the dZ pass in bf16 (which folds dD there) and by a column-sum kernel in fp32."""
    inputs = make_inputs((4, 64, 256), 192, (4, 4, 4), 24)
    cuda = {name: t.to("cuda", dtype) for name, t in inputs.items()}
    call = lambda: torch.ops.strassentile.stl_matmul(cuda["x"], cuda["w_hat"], cuda["enc_x"], cuda["dec"], [4],  # noqa: E731
                                                     cuda["bias"], "tile", 192)
    _, names = kernel_names(call)
    ours = [n for n in names if "strassentile::cuda" in n]
    assert any("encode" in n for n in ours) and any("decode" in n for n in ours), names
    if dtype == torch.bfloat16:
        assert any("encode_mma" in n for n in ours) and any("decode_mma" in n for n in ours), ours
    needs = [True] * 5
    _, names = kernel_names(lambda: torch.ops.strassentile.stl_matmul_backward(
        cuda["grad_y"], cuda["x"], cuda["w_hat"], cuda["enc_x"], cuda["dec"], [4, 4, 4], cuda["bias"], "tile", 192,
        None, needs))
    ours = [n for n in names if "strassentile::cuda" in n]
    assert any("encode" in n for n in ours), names
    assert any("column_partials" in n for n in ours) == (dtype == torch.float32), ours


def sm90():
    return torch.cuda.get_device_capability() == (9, 0)


@pytest.mark.parametrize("shape", [((37, 30), 22), ((3, 13, 67), 45), ((2, 300, 384), 1540), ((1000, 100), 260)],
                         ids=lambda s: f"x{s[0]}-N{s[1]}")
@pytest.mark.parametrize("fmt", [((2, 2, 2), 3), ((1, 4, 2), 3), ((2, 4, 1), 2), ((1, 2, 4), 1), ((4, 4, 1), 3)],
                         ids=lambda f: "<{},{},{}>:{}".format(*f[0], f[1]))
def test_fused_forward_matches_the_cpu_op_and_runs_on_sm90(kernel_names, fmt, shape):
    """bf16, rank <= 3, (a, c) among the fused kernel's pairs: the forward (the fused products + decode on an sm_90
    GPU with set_fused_forward("always")) and the gradients against the CPU op in float64, and the same with
    set_fused_forward("never"); on an sm_90 GPU the profiler must see the fused kernel, and not with "never"."""
    tile, rank = fmt
    x_shape, n_out = shape
    inputs = rounded(make_inputs(x_shape, n_out, tile, rank), torch.bfloat16, torch.bfloat16)
    y_ref, g_ref = run(inputs, tile, n_out, "cpu", torch.float64, torch.float64)
    for fused in (True, False):
        previous = strassentile.set_fused_forward("always" if fused else "never")
        previous_dense = strassentile.set_dense_equivalent("never")  # one-row tiles on the STL kernels too
        try:
            (y, grads), names = kernel_names(lambda: run(inputs, tile, n_out, "cuda", torch.bfloat16, torch.bfloat16))
        finally:
            strassentile.set_fused_forward(previous)
            strassentile.set_dense_equivalent(previous_dense)
        expect_close(y, grads, y_ref, g_ref, tile, torch.bfloat16)
        ours = [n for n in names if "strassentile" in n]
        assert any("products_decode_sm90" in n for n in names) == (fused and sm90()), (fused, sm90(), ours)


def test_empty_batch_forward_and_backward():
    """M = 0 rows: an empty output of the right shape, an empty dX, and parameter gradients that are exactly zero."""
    for dtype in (torch.float32, torch.bfloat16):
        inputs = make_inputs((0, 30), 22, (4, 4, 4), 24)
        leaves = {name: t.to("cuda", dtype).requires_grad_() for name, t in inputs.items() if name != "grad_y"}
        y = torch.ops.strassentile.stl_matmul(leaves["x"], leaves["w_hat"], leaves["enc_x"], leaves["dec"], [4],
                                              leaves["bias"], "tile", 22)
        assert y.shape == (0, 22) and y.dtype == dtype and y.is_cuda
        y.backward(torch.empty(0, 22, device="cuda", dtype=dtype))
        assert leaves["x"].grad.shape == (0, 30)
        for name in ("w_hat", "enc_x", "dec", "bias"):
            grad = leaves[name].grad
            assert grad is not None and grad.shape == leaves[name].shape, name
            assert (grad == 0).all(), f"{name}: gradient of an empty batch is not zero"
        batched = torch.ops.strassentile.stl_matmul(leaves["x"].detach().reshape(0, 5, 30), leaves["w_hat"].detach(),
                                                    leaves["enc_x"].detach(), leaves["dec"].detach(), [4], None,
                                                    "tile", 22)
        assert batched.shape == (0, 5, 22)


@pytest.mark.parametrize("fmt", [((2, 2, 2), 3), ((4, 4, 4), 24)], ids=lambda f: "<{},{},{}>:{}".format(*f[0], f[1]))
def test_training_step_replays_as_cuda_graphs(fmt):
    """STLLinear's forward and backward captured as CUDA graphs (torch.cuda.make_graphed_callables, what
    torch.compile's reduce-overhead mode relies on): no host synchronisation or allocation outside the graph pool
    breaks the capture, and a replay on new inputs gives the eager output and gradients bit for bit."""
    torch.manual_seed(3)
    tile, rank = fmt
    layer = strassentile.STLLinear(200, 136, tile=tile, rank=rank).cuda().to(torch.bfloat16)
    x = torch.randn(4, 96, 200, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    graphed = torch.cuda.make_graphed_callables(layer, (x,), num_warmup_iters=3)
    x_new = torch.randn_like(x)
    dy = torch.randn(4, 96, 136, device="cuda", dtype=torch.bfloat16)
    results = []
    for module in (layer, graphed):
        layer.zero_grad(set_to_none=True)
        x.grad = None
        with torch.no_grad():
            x.copy_(x_new)  # the graph reads the captured input's memory
        y = module(x)
        y.backward(dy)
        results.append([y.detach().clone(), x.grad.clone()] + [p.grad.clone() for p in layer.parameters()])
    for eager, replayed in zip(*results):
        assert torch.equal(eager, replayed)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("layout", ["transposed", "sliced"])
def test_non_contiguous_grad_output_gives_every_gradient(dtype, layout):
    """dL/dY as a transposed or sliced view (what a transpose or a narrow after the layer hands back): all five
    gradients equal those from the same values made contiguous, bit for bit, and match the float64 CPU op."""
    torch.manual_seed(7)
    tile, n_out = (4, 4, 4), 45
    inputs = rounded(make_inputs((37, 67), n_out, tile, 24), dtype, dtype)
    _, g_ref = run(inputs, tile, n_out, "cpu", torch.float64, torch.float64)
    grad_y = inputs["grad_y"].to("cuda", dtype)
    if layout == "transposed":
        view = grad_y.t().contiguous().t()
    else:
        view = torch.cat([grad_y, torch.zeros_like(grad_y[:, :7])], dim=1)[:, :n_out]
    assert not view.is_contiguous() and torch.equal(view, grad_y)

    def gradients(g):
        leaves = {name: t.to("cuda", dtype).requires_grad_() for name, t in inputs.items() if name != "grad_y"}
        y = torch.ops.strassentile.stl_matmul(leaves["x"], leaves["w_hat"], leaves["enc_x"], leaves["dec"], list(tile),
                                              leaves["bias"], "tile", n_out)
        y.backward(g)
        return {name: t.grad for name, t in leaves.items()}

    strided, dense = gradients(view), gradients(grad_y)
    widths = tile_widths(tile)
    for name, ref in g_ref.items():
        assert torch.equal(strided[name], dense[name]), name
        assert_close(f"d{name}", strided[name], ref, dtype, widths[name], kind_of(name))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("fmt", [((4, 4, 4), 24), ((3, 2, 4), 10), ((1, 4, 4), 12)], ids=lambda f: "<{},{},{}>:{}".format(*f[0], f[1]))
def test_causal_mode_matches_the_cpu_op_and_masks_the_gradients(fmt, dtype):
    """Dense enc_x/dec (masked entries nonzero) and random levels: the kernels must see the masked basis, and the
    masked coefficients must get exactly zero gradient on the GPU too."""
    torch.manual_seed(6)
    (tile, rank), (x_shape, n_out) = fmt, ((3, 13, 67), 45)
    a, b, c = tile
    levels = torch.randint(0, a, (rank,)).tolist()
    inputs = rounded(make_inputs(x_shape, n_out, tile, rank), dtype, dtype)
    y_ref, g_ref = run(inputs, tile, n_out, "cpu", torch.float64, torch.float64, mode="causal", levels=levels)
    y, grads = run(inputs, tile, n_out, "cuda", dtype, dtype, mode="causal", levels=levels)
    expect_close(y, grads, y_ref, g_ref, tile, dtype)
    lv = torch.tensor(levels)
    ex_masked = (torch.arange(a * b) // b)[None, :] > lv[:, None]
    dec_masked = (torch.arange(a * c) // c)[:, None] < lv[None, :]
    assert (grads["enc_x"].cpu()[ex_masked] == 0).all() and (grads["dec"].cpu()[dec_masked] == 0).all()


def test_deterministic_algorithms_give_cublas_choice_results():
    """Under torch.use_deterministic_algorithms(True) the op's GEMMs keep cuBLAS's own choice instead of the timed
    one (GemmChoice::cublas_default); forward and gradients still match the float64 CPU op, and two runs agree bit
    for bit, the bias gradient included: its column sums add per-block partial sums in a fixed order (no atomics).
    1200 rows: five blocks of rows, so the second pass runs."""
    inputs = rounded(make_inputs((4, 300, 256), 192, (4, 4, 4), 24), torch.bfloat16, torch.float32)
    y_ref, g_ref = run(inputs, (4, 4, 4), 192, "cpu", torch.float64, torch.float64)
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        y1, g1 = run(inputs, (4, 4, 4), 192, "cuda", torch.bfloat16, torch.float32)
        y2, g2 = run(inputs, (4, 4, 4), 192, "cuda", torch.bfloat16, torch.float32)
    finally:
        torch.use_deterministic_algorithms(before)
    expect_close(y1, g1, y_ref, g_ref, (4, 4, 4), torch.bfloat16)
    assert torch.equal(y1, y2)
    for name in g_ref:
        assert torch.equal(g1[name], g2[name]), name


@pytest.mark.parametrize("rows", [256, 257, 5000, 70000])
def test_bias_gradient_over_many_row_blocks(rows):
    """The bias gradient (column sums of dY in blocks of 256 rows, then the blocks' partial sums in order) against
    float64 sums, at one block (the first pass writes the result), one block and a row, 20 and 274 blocks; twice,
    bit for bit."""
    grad_y = torch.randn(rows, 40, dtype=torch.float64)
    x = torch.randn(rows, 8, dtype=torch.float64)
    w_hat, enc_x = torch.randn(24, 2, 10, dtype=torch.float64), torch.randn(24, 16, dtype=torch.float64)
    dec, bias = torch.randn(16, 24, dtype=torch.float64), torch.randn(40, dtype=torch.float64)
    args = [t.cuda().float() for t in (grad_y, x, w_hat, enc_x, dec)]
    needs = [False, False, False, False, True]
    one = torch.ops.strassentile.stl_matmul_backward(*args, [4, 4, 4], bias.cuda().float(), "tile", 40, None, needs)
    two = torch.ops.strassentile.stl_matmul_backward(*args, [4, 4, 4], bias.cuda().float(), "tile", 40, None, needs)
    assert torch.equal(one[4], two[4])
    assert rel_error(one[4], grad_y.sum(0)) <= 1e-5


@pytest.mark.parametrize("fmt", [((4, 4, 4), 24), ((2, 2, 2), 7), ((2, 2, 2), 3), ((4, 2, 4), 12)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("mode", ["tile", "causal"])
@pytest.mark.parametrize("switch", ["set_keep_for_backward", "set_keep_z_for_backward"])
def test_keep_for_backward_gives_the_same_gradients(fmt, dtype, mode, switch):
    """strassentile.set_keep_for_backward(True): the CUDA forward keeps X̂ and Z (stl_matmul_keep) and the backward
    uses them (stl_matmul_backward_kept); set_keep_z_for_backward(True): Z alone, written outside the forward's
    workspace. Output and dX are bit for bit those of the recomputing path on the same forward kernels (keeping runs
    the pipeline, so the plain run has the fused forward off: its rounding differs; dX never reads X̂ or Z); dŴ, dE_X,
    dD and the bias gradient agree within the dtype's tolerance, and all match the float64 CPU op. (4,64,256)→192
    keeps Z (n a multiple of 8); <2,2,2>'s n = 96 and <4,2,4>'s 48 too; (37, 30)→22 recomputes Z (n = 6 or 11)."""
    torch.manual_seed(8)
    tile, rank = fmt
    levels = None
    for shape, n_out in [((4, 64, 256), 192), ((37, 30), 22)]:
        inputs = rounded(make_inputs(shape, n_out, tile, rank), dtype, torch.float32)
        y_ref, g_ref = run(inputs, tile, n_out, "cpu", torch.float64, torch.float64, mode=mode, levels=levels)
        fused = strassentile.set_fused_forward("never")
        try:
            y0, g0 = run(inputs, tile, n_out, "cuda", dtype, torch.float32, mode=mode, levels=levels)
        finally:
            strassentile.set_fused_forward(fused)
        previous = getattr(strassentile, switch)(True)
        try:
            y1, g1 = run(inputs, tile, n_out, "cuda", dtype, torch.float32, mode=mode, levels=levels)
        finally:
            getattr(strassentile, switch)(previous)
        assert previous is False
        assert torch.equal(y0, y1)
        assert torch.equal(g0["x"], g1["x"])
        expect_close(y1, g1, y_ref, g_ref, tile, dtype)


@pytest.mark.parametrize("fmt", [((4, 4, 4), 24), ((4, 2, 4), 12), ((2, 2, 2), 7)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("mode", ["tile", "causal"])
def test_lean_backward_gives_the_same_gradients(fmt, dtype, mode):
    """strassentile.set_lean_backward(True): the CUDA backward runs its rows in blocks (whole tiles, or whole
    sequences where a sequence ends inside a tile: (3, 30, 40)). The output is bit for bit the plain one (the forward
    is untouched); every gradient matches the float64 CPU op within the dtype's tolerance, and dŴ, summed over the
    blocks in fp32 (into the parameters' own dtype: both fp32 and 16-bit parameters run)."""
    torch.manual_seed(9)
    tile, rank = fmt
    shapes = [((4, 64, 256), 192), ((3, 30, 40), 36), ((203, 96), 72)]
    for (shape, n_out), params in itertools.product(shapes, dict.fromkeys((torch.float32, dtype))):
        inputs = rounded(make_inputs(shape, n_out, tile, rank), dtype, params)
        y_ref, g_ref = run(inputs, tile, n_out, "cpu", torch.float64, torch.float64, mode=mode)
        y0, _ = run(inputs, tile, n_out, "cuda", dtype, params, mode=mode)
        previous = strassentile.set_lean_backward(True)
        try:
            y1, g1 = run(inputs, tile, n_out, "cuda", dtype, params, mode=mode)
        finally:
            strassentile.set_lean_backward(previous)
        assert previous is False
        assert torch.equal(y0, y1)
        expect_close(y1, g1, y_ref, g_ref, tile, dtype)


def test_keep_for_backward_really_keeps_on_cuda():
    """stl_matmul_keep returns the forward's workspace on CUDA (X̂ then Z: more bytes than x and y together) and an
    empty byte tensor for float64 (the ATen composition keeps nothing); a wrong-sized kept tensor is refused with a
    message naming stl_matmul_keep."""
    inputs = make_inputs((4, 64, 256), 192, (4, 4, 4), 24)
    cast = {k: v.cuda().to(torch.bfloat16 if k in ("x", "grad_y") else torch.float32) for k, v in inputs.items()}
    y, kept = torch.ops.strassentile.stl_matmul_keep(cast["x"], cast["w_hat"], cast["enc_x"], cast["dec"], [4, 4, 4],
                                                     cast["bias"], "tile", 192, None)
    plain = torch.ops.strassentile.stl_matmul(cast["x"], cast["w_hat"], cast["enc_x"], cast["dec"], [4, 4, 4],
                                              cast["bias"], "tile", 192, None)
    assert torch.equal(y, plain)
    assert kept.dtype == torch.uint8 and kept.is_cuda
    assert kept.numel() >= 1.5 * (cast["x"].numel() + y.numel()) * 2
    previous = strassentile.set_keep_z_for_backward(True)
    try:  # Z alone: r·m·n bf16 entries, 1.5× y's at <4,4,4> r = 24 (192 is a multiple of 8: no padding)
        y_z, kept_z = torch.ops.strassentile.stl_matmul_keep(cast["x"], cast["w_hat"], cast["enc_x"], cast["dec"],
                                                             [4, 4, 4], cast["bias"], "tile", 192, None)
    finally:
        strassentile.set_keep_z_for_backward(previous)
    assert torch.equal(y_z, plain)
    assert kept_z.numel() == 1.5 * y.numel() * 2
    d = {k: v.cuda() for k, v in inputs.items()}
    _, none = torch.ops.strassentile.stl_matmul_keep(d["x"], d["w_hat"], d["enc_x"], d["dec"], [4, 4, 4], d["bias"],
                                                     "tile", 192, None)
    assert none.numel() == 0
    with pytest.raises(RuntimeError, match="stl_matmul_keep"):
        torch.ops.strassentile.stl_matmul_backward_kept(cast["grad_y"], cast["x"], cast["w_hat"], cast["enc_x"],
                                                        cast["dec"], [4, 4, 4], cast["bias"], "tile", 192, None,
                                                        [True] * 5, kept[:-1])
