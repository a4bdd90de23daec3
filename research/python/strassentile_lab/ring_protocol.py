"""A model of RingDecode's synchronisation (research/benchmarks/fused/wgmma_products.cuh) that searches for deadlock.

The kernel's consumer warpgroups (clusters of 2 CTAs x 2 warpgroups, one 256 x 64 position block each per tile)
walk the product-inner tile order (tile t to cluster t % clusters). At each tile a warpgroup, in this order:
counts its previous tile on that block's slot (the count that completes a block makes it the block's decoder),
waits until its current block's slot has been freed (the slot's previous generation decoded), stores the tile,
then decodes the block it completed and frees that slot. A warpgroup cannot finish a tile's mainloop before all four
warpgroups of its cluster have finished the previous tile's epilogue when k has more 64-wide blocks than the
pipeline has stages (3). The model runs every warpgroup as a state machine under random interleavings; a state from
which none can move is a deadlock."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

PIPELINE_STAGES = 3
WARPGROUPS_PER_CLUSTER = 4  # 2 CTAs x 2 consumer warpgroups


def ring_slots(r: int, clusters: int = 64) -> int:
    """The kernel's ring size: 4 * (ceil(clusters / r) + 2) position-block slots."""
    return 4 * (math.ceil(clusters / r) + 2)


@dataclass
class Outcome:
    finished: bool
    stuck: int          # warpgroups that could not finish
    decoded: int        # position blocks decoded


def simulate(m: int, n: int, r: int, k_blocks: int, clusters: int = 64, slots: int | None = None,
             seed: int = 0) -> Outcome:
    """m x n positions (m, n: multiples of 256), r products; k_blocks: 64-wide blocks of k."""
    pairs, m_blocks = n // 256, m // 256
    slots = slots or ring_slots(r)
    tiles: list[list[tuple[int, int]]] = [[] for _ in range(clusters)]
    t = 0
    for mb in range(m_blocks):
        for pair in range(pairs):
            for _ in range(r):
                tiles[t % clusters].append((mb, pair))
                t += 1
    rng = random.Random(seed)
    arrivals, decoded = [0] * slots, [0] * slots
    warpgroups = [(c, w) for c in range(clusters) for w in range(WARPGROUPS_PER_CLUSTER)]
    step = dict.fromkeys(warpgroups, 0)
    phase = dict.fromkeys(warpgroups, "mainloop")
    current: dict = dict.fromkeys(warpgroups)
    completes: dict = dict.fromkeys(warpgroups)
    epilogues: dict[tuple[int, int], int] = {}
    blocks_decoded = 0
    coupled = k_blocks > PIPELINE_STAGES

    def count(block: int) -> bool:
        arrivals[block % slots] += 1
        return arrivals[block % slots] % r == 0

    def free(block: int) -> None:
        nonlocal blocks_decoded
        decoded[block % slots] += 1
        blocks_decoded += 1

    moved = True
    while moved:
        moved = False
        order = warpgroups[:]
        rng.shuffle(order)
        for wg in order:
            c, w = wg
            i = step[wg]
            if phase[wg] == "mainloop":
                if i == len(tiles[c]):
                    if current[wg] is not None and count(current[wg]):
                        free(current[wg])
                    phase[wg] = "done"
                    moved = True
                    continue
                if coupled and i > 0 and epilogues.get((c, i - 1), 0) < WARPGROUPS_PER_CLUSTER:
                    continue
                if rng.random() < 0.3:  # a slower warpgroup: it may move, just not in this pass
                    moved = True
                    continue
                mb, pair = tiles[c][i]
                block = mb * (n // 64) + pair * 4 + w
                completes[wg] = current[wg] if current[wg] is not None and count(current[wg]) else None
                current[wg] = block
                phase[wg] = "wait"
                moved = True
            elif phase[wg] == "wait":
                block = current[wg]
                if decoded[block % slots] < block // slots:
                    continue
                if completes[wg] is not None:
                    free(completes[wg])
                    completes[wg] = None
                epilogues[(c, i)] = epilogues.get((c, i), 0) + 1
                step[wg] += 1
                phase[wg] = "mainloop"
                moved = True
    stuck = sum(phase[wg] != "done" for wg in warpgroups)
    return Outcome(stuck == 0, stuck, blocks_decoded)
