"""A model of RingDecode's synchronisation (research/benchmarks/fused/wgmma_products.cuh) that searches for deadlock.

The kernel's consumer warpgroups (clusters of 2 CTAs x 2 warpgroups, one 256 x 64 position block each per tile)
walk the product-inner tile order (tile t to cluster t % clusters), so a block's r tiles come from r different
clusters. At each tile a warpgroup, in this order: counts its previous tile on that block's slot (its arrival
index k there is the share of the block it will decode), waits until its current block's slot has been freed (all r
shares of the slot's previous generation decoded), stores the tile, waits until every tile of its previous block has
been counted, decodes share k of that block (rows 256·k/r to 256·(k+1)/r) and counts the share on the slot. A
warpgroup cannot finish a tile's mainloop before all four warpgroups of its cluster have finished the previous tile's
epilogue when k has more 64-wide blocks than the pipeline has stages (3). The model runs every warpgroup as a state
machine under random interleavings; a state from which none can move is a deadlock."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

PIPELINE_STAGES = 3
WARPGROUPS_PER_CLUSTER = 4  # 2 CTAs x 2 consumer warpgroups


def ring_slots(r: int, clusters: int = 64) -> int:
    """The kernel's ring size: 4 * (ceil(clusters / r) + 2) position-block slots."""
    return 4 * (math.ceil(clusters / r) + 2)


def decode_rows(r: int, share: int, rows: int = 256) -> range:
    """The rows of a position block that the warpgroup with arrival index `share` decodes (the kernel's split)."""
    return range(rows * share // r, rows * (share + 1) // r)


@dataclass
class Outcome:
    finished: bool
    stuck: int          # warpgroups that could not finish
    decoded: int        # position blocks whose r shares were all decoded


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
    arrivals, shares = [0] * slots, [0] * slots
    shares_of_block: dict[int, int] = {}
    warpgroups = [(c, w) for c in range(clusters) for w in range(WARPGROUPS_PER_CLUSTER)]
    step = dict.fromkeys(warpgroups, 0)
    phase = dict.fromkeys(warpgroups, "mainloop")
    current: dict = dict.fromkeys(warpgroups)   # the block of the tile in the epilogue (or the last one stored)
    pending: dict = dict.fromkeys(warpgroups)   # the counted block whose share is still to be decoded
    epilogues: dict[tuple[int, int], int] = {}
    coupled = k_blocks > PIPELINE_STAGES

    def count_previous(wg) -> None:  # the tile stored last is counted; its block's share becomes pending
        if current[wg] is not None:
            arrivals[current[wg] % slots] += 1
            pending[wg] = current[wg]

    def complete(block: int) -> bool:  # every tile of the block counted
        return arrivals[block % slots] >= (block // slots + 1) * r

    def decode_share(block: int) -> None:
        shares[block % slots] += 1
        shares_of_block[block] = shares_of_block.get(block, 0) + 1

    moved = True
    while moved:
        moved = False
        order = warpgroups[:]
        rng.shuffle(order)
        for wg in order:
            c, w = wg
            i = step[wg]
            if phase[wg] == "mainloop":
                if i == len(tiles[c]):  # after the loop: count the last tile, then decode its share
                    count_previous(wg)
                    phase[wg] = "last share"
                    moved = True
                    continue
                if coupled and i > 0 and epilogues.get((c, i - 1), 0) < WARPGROUPS_PER_CLUSTER:
                    continue
                if rng.random() < 0.3:  # a slower warpgroup: it may move, just not in this pass
                    moved = True
                    continue
                mb, pair = tiles[c][i]
                count_previous(wg)
                current[wg] = mb * (n // 64) + pair * 4 + w
                phase[wg] = "slot wait"
                moved = True
            elif phase[wg] == "slot wait":
                block = current[wg]
                if shares[block % slots] < (block // slots) * r:
                    continue
                phase[wg] = "share"
                moved = True
            elif phase[wg] in ("share", "last share"):
                if pending[wg] is not None:
                    if not complete(pending[wg]):
                        continue
                    decode_share(pending[wg])
                    pending[wg] = None
                if phase[wg] == "last share":
                    phase[wg] = "done"
                else:
                    epilogues[(c, i)] = epilogues.get((c, i), 0) + 1
                    step[wg] += 1
                    phase[wg] = "mainloop"
                moved = True
    stuck = sum(phase[wg] != "done" for wg in warpgroups)
    return Outcome(stuck == 0, stuck, sum(s == r for s in shares_of_block.values()))
