"""A few training steps of a small STL model, single-process, DDP or FSDP2, with a resumable sharded checkpoint.

    python3 research/scripts/train_distributed.py --strategy single --steps 4
    torchrun --nproc_per_node 2 research/scripts/train_distributed.py --strategy ddp --steps 4 --check
    torchrun --nproc_per_node 2 research/scripts/train_distributed.py --strategy fsdp --steps 4 --check --checkpoint-dir ckpt
    torchrun --nproc_per_node 2 research/scripts/train_distributed.py --strategy ddp fsdp --check --checkpoint-dir ckpt

Device and backend follow the machine: one CUDA GPU per process with NCCL when CUDA is present, else CPU with
gloo, so the same command runs on 2 CPU processes and on 2 GPUs (STRASSENTILE_DIST_SHARE_GPU=1: every process on
GPU 0 with gloo, for a one-GPU machine). Every process sees the same global batch of
synthetic data and trains on its own equal slice, so with ``--check`` the losses and parameters must equal
those of one process training on the whole batch (rank 0 runs that reference and prints the differences).
``--checkpoint-dir`` saves model and optimiser state with torch.distributed.checkpoint after ``--save-at``
steps (sharded under FSDP2), loads it into a fresh model and optimiser, and checks the next loss is the same.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from strassentile import STLLinear  # noqa: E402


@dataclass
class Config:
    in_dim: int = 12
    dim: int = 16
    hidden: int = 32
    seq: int = 8
    classes: int = 5
    depth: int = 2
    global_batch: int = 8  # split evenly over the processes
    lr: float = 1e-2
    seed: int = 0


class Block(nn.Module):
    """Pre-norm MLP block whose two linear layers are STL (<4,4,4>, r = 24, mode tile)."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(cfg.dim)
        self.fc1 = STLLinear(cfg.dim, cfg.hidden, tile=4, rank=24)
        self.fc2 = STLLinear(cfg.hidden, cfg.dim, tile=4, rank=24)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(F.gelu(self.fc1(self.norm(x))))


class TinyModel(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.embed = nn.Linear(cfg.in_dim, cfg.dim)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.head = nn.Linear(cfg.dim, cfg.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        for block in self.blocks:
            h = block(h)
        return self.head(h.mean(1))


def build_model(cfg: Config, device: torch.device) -> TinyModel:
    torch.manual_seed(cfg.seed)  # same initial parameters in every process
    return TinyModel(cfg).to(device)


def global_batch(cfg: Config, step: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + step)  # the same batch in every process, for any world size
    x = torch.randn(cfg.global_batch, cfg.seq, cfg.in_dim, generator=g)
    # Labels from a fixed random teacher: a task the model can learn in a few steps.
    teacher = torch.randn(cfg.in_dim, cfg.classes, generator=torch.Generator().manual_seed(999))
    y = (x.mean(1) @ teacher).argmax(-1)
    return x.to(device), y.to(device)


def local_slice(t: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    assert t.shape[0] % world == 0, f"global batch {t.shape[0]} must split evenly over {world} processes"
    n = t.shape[0] // world
    return t[rank * n:(rank + 1) * n]


def train_steps(model: nn.Module, opt: torch.optim.Optimizer, cfg: Config, steps: range, device: torch.device,
                rank: int = 0, world: int = 1) -> list[float]:
    """Trains on steps (global step indices); returns each step's loss over the global batch."""
    losses = []
    for step in steps:
        x, y = global_batch(cfg, step, device)
        loss = F.cross_entropy(model(local_slice(x, rank, world)), local_slice(y, rank, world))
        opt.zero_grad(set_to_none=True)
        loss.backward()  # DDP and FSDP2 average the gradients over processes: the global batch's mean loss
        opt.step()
        total = loss.detach().clone()
        if world > 1:
            dist.all_reduce(total)
            total /= world
        losses.append(total.item())
    return losses


def full_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """Name → whole parameter on the CPU (FSDP2's DTensor shards are gathered; DDP's "module." prefix dropped)."""
    out = {}
    for name, p in model.named_parameters():
        t = gather_dim0_shards(p) if hasattr(p, "full_tensor") else p
        out[name.removeprefix("module.")] = t.detach().cpu().clone()
    return out


def gather_dim0_shards(p: torch.Tensor) -> torch.Tensor:
    """The whole tensor of an FSDP2 parameter (a DTensor sharded on dim 0)."""
    if os.environ.get("STRASSENTILE_DIST_SHARE_GPU") != "1":
        return p.full_tensor()
    # gloo's functional all-gather of CUDA tensors (what full_tensor runs) segfaulted on torch 2.11 with both
    # ranks on one GPU: gather CPU copies of the shards instead (torch.chunk order, so concatenation restores it).
    assert [type(pl).__name__ for pl in p.placements] == ["Shard"] and p.placements[0].dim == 0, p.placements
    pieces = [None] * dist.get_world_size()
    dist.all_gather_object(pieces, p.to_local().detach().cpu())
    return torch.cat(pieces, 0)


def wrap(model: nn.Module, strategy: str, device: torch.device) -> nn.Module:
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if strategy == "fsdp":
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(device.type, (dist.get_world_size(),))
        for block in model.blocks:  # one all-gather per block, then the root for the rest
            fully_shard(block, mesh=mesh)
        fully_shard(model, mesh=mesh)
        return model
    return model


def make_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)


def save_checkpoint(model: nn.Module, opt: torch.optim.Optimizer, path: str) -> None:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_sd, optim_sd = get_state_dict(model, opt)
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=path)


def load_checkpoint(model: nn.Module, opt: torch.optim.Optimizer, path: str) -> None:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    model_sd, optim_sd = get_state_dict(model, opt)  # the layout (shards) to load into
    state = {"model": model_sd, "optim": optim_sd}
    dcp.load(state, checkpoint_id=path)
    set_state_dict(model, opt, model_state_dict=state["model"], optim_state_dict=state["optim"])


def pick_device() -> tuple[torch.device, str]:
    """One GPU per process with NCCL, or CPU with gloo. STRASSENTILE_DIST_SHARE_GPU=1 puts every process on GPU 0
    with gloo (NCCL refuses two ranks on one GPU): the CUDA kernels under DDP/FSDP2 on a one-GPU machine."""
    if torch.cuda.is_available():
        share = os.environ.get("STRASSENTILE_DIST_SHARE_GPU") == "1"
        local = 0 if share else int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local), "gloo" if share else "nccl"
    return torch.device("cpu"), "gloo"


def run(strategy: str, steps: int, cfg: Config, checkpoint_dir: str | None = None, save_at: int = 2,
        check: bool = False) -> dict:
    """One process's part; call it in every process of a job (or alone for "single"). Rank 0's result holds
    the losses, the whole final parameters and, with checkpoint_dir, the loss of the resumed step; with check, the
    largest differences from the single-process reference."""
    device, backend = pick_device()
    distributed = strategy != "single"
    if distributed and not dist.is_initialized():
        dist.init_process_group(backend)
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    model = wrap(build_model(cfg, device), strategy, device)
    opt = make_optimizer(model, cfg)
    result = {"strategy": strategy, "world": world, "device": str(device)}
    if checkpoint_dir is None:
        result["losses"] = train_steps(model, opt, cfg, range(steps), device, rank, world)
    else:
        result["losses"] = train_steps(model, opt, cfg, range(save_at), device, rank, world)
        save_checkpoint(model, opt, checkpoint_dir)
        result["losses"] += train_steps(model, opt, cfg, range(save_at, steps), device, rank, world)
        # A fresh model and optimiser (new initial parameters) resumed from the checkpoint.
        fresh = wrap(build_model(Config(**{**cfg.__dict__, "seed": cfg.seed + 1}), device), strategy, device)
        fresh_opt = make_optimizer(fresh, cfg)
        load_checkpoint(fresh, fresh_opt, checkpoint_dir)
        result["resumed_loss"] = train_steps(fresh, fresh_opt, cfg, range(save_at, save_at + 1), device, rank, world)[0]
    result["parameters"] = full_parameters(model)  # collective under FSDP2: every rank takes part
    if check and rank == 0:
        reference = run("single", steps, cfg)
        result["max_loss_diff"] = max(abs(a - b) for a, b in zip(result["losses"], reference["losses"]))
        result["max_param_diff"] = max((result["parameters"][k] - v).abs().max().item()
                                       for k, v in reference["parameters"].items())
    if distributed:
        dist.barrier()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--strategy", nargs="+", choices=("single", "ddp", "fsdp"), default=["ddp"],
                   help="one or more, run one after the other in the same processes")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--checkpoint-dir", help="save a torch.distributed.checkpoint under DIR/<strategy> after --save-at "
                                            "steps and resume from it")
    p.add_argument("--save-at", type=int, default=2)
    p.add_argument("--check", action="store_true", help="rank 0 compares against the single-process run")
    p.add_argument("--output", help="rank 0 writes {strategy: result} (losses, parameters, differences) here with torch.save")
    args = p.parse_args()
    results = {}
    for strategy in args.strategy:
        ckpt = None if args.checkpoint_dir is None else os.path.join(args.checkpoint_dir, strategy)
        r = results[strategy] = run(strategy, args.steps, Config(), ckpt, args.save_at, args.check)
        if dist.is_initialized() and dist.get_rank() != 0:
            continue
        backend = dist.get_backend() if dist.is_initialized() else "none"
        print(f"{r['strategy']}: {r['world']} process(es) on {r['device']}, backend {backend}")
        for i, loss in enumerate(r["losses"]):
            print(f"step {i}: loss {loss:.8f}")
        if "resumed_loss" in r:
            print(f"resumed from the checkpoint after step {args.save_at - 1}: step {args.save_at} loss "
                  f"{r['resumed_loss']:.8f} (uninterrupted {r['losses'][args.save_at]:.8f})")
        if args.check:
            print(f"against one process: max |loss diff| {r['max_loss_diff']:.3g}, max |param diff| {r['max_param_diff']:.3g}")
    if args.output and (not dist.is_initialized() or dist.get_rank() == 0):
        torch.save(results, args.output)
    if dist.is_initialized():
        dist.barrier()  # every rank done (rank 0 wrote --output) before the process group goes
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
