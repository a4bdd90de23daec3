"""torch.compile and the strassentile ops: opcheck of every op a model calls, and whole models traced with
fullgraph=True (no graph break) whose outputs and gradients match eager. CPU, backend aot_eager (AOTAutograd
with FakeTensor tracing, no code generation, so it stays fast on CI); inductor timings are in
docs/TRAINING_GUIDE.md."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import strassentile as st

OPCHECK_TESTS = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")


def stl_inputs(mode="tile", bias=True, shape=(2, 7, 10), tile=(4, 4, 4), rank=24, out_features=9):
    torch.manual_seed(0)
    layer = st.STLLinear(shape[-1], out_features, bias=bias, tile=tile, rank=rank, mode=mode)
    x = torch.randn(*shape, requires_grad=True)
    return layer, x


@pytest.mark.parametrize("mode,bias", [("tile", True), ("causal", False)])
def test_opcheck_stl_matmul(mode, bias):
    layer, x = stl_inputs(mode, bias)
    args = (x, layer.w_hat, layer.enc_x, layer.dec, list(layer.tile), layer.bias, mode, layer.out_features, layer._levels)
    torch.library.opcheck(torch.ops.strassentile.stl_matmul.default, args, test_utils=OPCHECK_TESTS)


def test_opcheck_stl_matmul_backward():
    layer, x = stl_inputs()
    grad_y = torch.randn(2, 7, layer.out_features)
    common = (grad_y, x.detach(), layer.w_hat.detach(), layer.enc_x.detach(), layer.dec.detach(), list(layer.tile),
              layer.bias.detach(), "tile", layer.out_features, None)
    # Every gradient, and some left out (undefined outputs).
    for needs in ([True] * 5, [True, True, False, False, True]):
        torch.library.opcheck(torch.ops.strassentile.stl_matmul_backward.default, (*common, needs),
                              test_utils=OPCHECK_TESTS)


def test_opcheck_encode_weight():
    layer, _ = stl_inputs()
    w = torch.randn(10, 9, requires_grad=True)
    torch.library.opcheck(torch.ops.strassentile.encode_weight.default, (w, layer.enc_w, list(layer.tile)),
                          test_utils=OPCHECK_TESTS)


def test_opcheck_stl_mlp_inference():
    """The inference op takes no gradients (stl_mlp routes recording calls to the composition): plain inputs."""
    torch.manual_seed(0)
    fc1, fc2 = st.STLLinear(10, 20, tile=4, rank=24), st.STLLinear(20, 9, tile=4, rank=16)
    with torch.no_grad():
        args = (torch.randn(2, 7, 10), fc1.w_hat.detach(), fc1.enc_x.detach(), fc1.dec.detach(), fc1.bias.detach(),
                fc2.w_hat.detach(), fc2.enc_x.detach(), fc2.dec.detach(), fc2.bias.detach(), [4, 4, 4], "gelu_tanh",
                "tile", 20, 9, None, None)
    torch.library.opcheck(torch.ops.strassentile.stl_mlp_inference.default, args,
                          test_utils=("test_schema", "test_faketensor", "test_aot_dispatch_dynamic"))


def test_stl_mlp_fullgraph_compile_matches_eager():
    torch.manual_seed(0)
    mlp = st.STLMLP(st.STLLinear(16, 40, tile=4, rank=24), st.STLLinear(40, 12, tile=4, rank=24), "gelu_tanh")
    x = torch.randn(3, 8, 16)
    loss_fn = lambda y: y.square().mean()  # noqa: E731
    eager_loss, eager_grads = loss_and_grads(mlp, x, loss_fn)
    torch._dynamo.reset()
    compiled = torch.compile(mlp, backend="aot_eager", fullgraph=True)
    compiled_loss, compiled_grads = loss_and_grads(mlp, x, loss_fn, compiled)
    assert torch.allclose(compiled_loss, eager_loss, rtol=1e-5, atol=1e-6)
    assert eager_grads.keys() == compiled_grads.keys() and len(eager_grads) == 8
    for name, g in eager_grads.items():
        assert torch.allclose(compiled_grads[name], g, rtol=1e-5, atol=1e-6), name
    with torch.no_grad():  # the inference op, traced
        assert torch.allclose(compiled(x), mlp(x), rtol=1e-5, atol=1e-6)


def test_meta_tensors_give_shapes_without_data():
    layer, x = stl_inputs()
    layer = layer.to("meta")
    y = layer(torch.empty(3, 5, 10, device="meta"))
    assert y.device.type == "meta" and tuple(y.shape) == (3, 5, 9)


class ViTBlock(nn.Module):
    """Pre-norm transformer block with STL qkv, projection and MLP (mode tile: bidirectional)."""

    def __init__(self, dim=16, heads=2, mode="tile", tile=4, rank=24):
        super().__init__()
        self.heads, self.mode = heads, mode
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = st.STLLinear(dim, 3 * dim, tile=tile, rank=rank, mode=mode)
        self.proj = st.STLLinear(dim, dim, tile=tile, rank=rank, mode=mode)
        self.fc1 = st.STLLinear(dim, 2 * dim, tile=tile, rank=rank, mode=mode)
        self.fc2 = st.STLLinear(2 * dim, dim, tile=tile, rank=rank, mode=mode)

    def forward(self, x):
        b, s, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, s, 3, self.heads, d // self.heads).unbind(2)
        att = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                             is_causal=self.mode == "causal")
        x = x + self.proj(att.transpose(1, 2).reshape(b, s, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class TinyViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(12, 16)
        self.blocks = nn.Sequential(ViTBlock())
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        return self.head(self.blocks(self.embed(x)).mean(1))


class TinyLM(nn.Module):
    """Byte-level decoder: causal STL layers (<4,4,4>, r=24) and token-local ones (<1,4,4>, r=7)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(32, 16)
        self.blocks = nn.Sequential(ViTBlock(mode="causal"), ViTBlock(mode="token-local", tile=(1, 4, 4), rank=7))
        self.head = nn.Linear(16, 32)

    def forward(self, tokens):
        return self.head(self.blocks(self.embed(tokens)))


def model_and_loss(kind, device="cpu"):
    torch.manual_seed(0)
    if kind == "vit":
        model, x = TinyViT().to(device), torch.randn(4, 9, 12, device=device)
        y = torch.randint(0, 5, (4,), device=device)
        return model, x, lambda out: F.cross_entropy(out, y)
    model, tokens = TinyLM().to(device), torch.randint(0, 32, (3, 11), device=device)
    return model, tokens, lambda out: F.cross_entropy(out[:, :-1].reshape(-1, 32), tokens[:, 1:].reshape(-1))


def loss_and_grads(model, x, loss_fn, run=None):
    """Loss of run(x) (run: model or its compiled form, which shares its parameters) and model's gradients."""
    model.zero_grad(set_to_none=True)
    loss = loss_fn((model if run is None else run)(x))
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("kind", ["vit", "lm"])
def test_fullgraph_compile_matches_eager(kind):
    model, x, loss_fn = model_and_loss(kind)
    eager_loss, eager_grads = loss_and_grads(model, x, loss_fn)
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)  # raises on any graph break
    compiled_loss, compiled_grads = loss_and_grads(model, x, loss_fn, compiled)
    assert torch.allclose(compiled_loss, eager_loss, rtol=1e-5, atol=1e-6)
    assert eager_grads.keys() == compiled_grads.keys() and any("w_hat" in n for n in eager_grads)
    for name, g in eager_grads.items():
        assert torch.allclose(compiled_grads[name], g, rtol=1e-5, atol=1e-6), name


def test_dynamic_shapes_compile_once():
    torch.manual_seed(0)
    layer = st.STLLinear(10, 9, tile=4, rank=24)
    torch._dynamo.reset()
    counter = torch._dynamo.testing.CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(layer, backend=counter, fullgraph=True, dynamic=True)
    for batch, seq in ((2, 7), (3, 5), (5, 13)):
        x = torch.randn(batch, seq, 10)
        assert torch.allclose(compiled(x), layer(x), rtol=1e-5, atol=1e-6)
    assert counter.frame_count == 1  # the symbolic meta kernel let one graph serve every batch and length


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (run on the GPU machine)")


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_opcheck_on_cuda(dtype):
    """The CUDA kernels against the Meta kernels: 16-bit x and w_hat with the fp32 basis, as under autocast."""
    layer, x = stl_inputs()
    layer = layer.cuda()
    x = x.detach().cuda().to(dtype).requires_grad_()
    w_hat = layer.w_hat.detach().to(dtype).requires_grad_()
    args = (x, w_hat, layer.enc_x, layer.dec, list(layer.tile), layer.bias, "tile", layer.out_features, None)
    torch.library.opcheck(torch.ops.strassentile.stl_matmul.default, args, test_utils=OPCHECK_TESTS,
                          atol=1e-2 if dtype == torch.bfloat16 else None, rtol=1e-2 if dtype == torch.bfloat16 else None)


@needs_cuda
@pytest.mark.parametrize("kind", ["vit", "lm"])
def test_inductor_fullgraph_on_cuda_matches_eager(kind):
    model, x, loss_fn = model_and_loss(kind, "cuda")
    eager_loss, eager_grads = loss_and_grads(model, x, loss_fn)
    torch._dynamo.reset()
    compiled_loss, compiled_grads = loss_and_grads(model, x, loss_fn, torch.compile(model, fullgraph=True))
    assert torch.allclose(compiled_loss, eager_loss, rtol=1e-5, atol=1e-6)
    for name, g in eager_grads.items():
        assert torch.allclose(compiled_grads[name], g, rtol=1e-4, atol=1e-5), name
