"""RingDecode's synchronisation model (strassentile_lab.ring_protocol): the kernel's ring finishes every benchmark
case under random interleavings, with fewer resident clusters too, and every block's r shares are decoded; the
shares cover a block's rows once; a ring too small for the schedule deadlocks (the model can find one)."""
import pytest

from strassentile_lab.ring_protocol import decode_rows, ring_slots, simulate

# ring_decode_bench's cases: (m, n, k blocks) per format, m = M / a, n = N / c, k = K / b.
CASES = [(4096, 1024, 16, 24), (4096, 1024, 32, 12), (4096, 512, 8, 24), (4096, 512, 16, 12), (4096, 768, 3, 24),
         (4096, 768, 6, 12)]


@pytest.mark.parametrize("m,n,k_blocks,r", CASES)
@pytest.mark.parametrize("clusters", [64, 60])
def test_the_kernels_ring_never_deadlocks(m, n, k_blocks, r, clusters):
    for seed in range(3):
        outcome = simulate(m, n, r, k_blocks, clusters=clusters, seed=seed)
        assert outcome.finished, f"seed {seed}: {outcome.stuck} warpgroups stuck"
        assert outcome.decoded == (m // 256) * (n // 64)


@pytest.mark.parametrize("r", [12, 24, 7, 49])
def test_the_shares_cover_every_row_once(r):
    rows = [i for share in range(r) for i in decode_rows(r, share)]
    assert rows == list(range(256))


def test_a_ring_too_small_deadlocks():
    assert ring_slots(24) == 20
    outcome = simulate(4096, 1024, 24, 16, slots=12)
    assert not outcome.finished and outcome.stuck > 0


def test_more_products_than_clusters_deadlocks():
    # A cluster then holds two tiles of one block and waits for the block before counting its own second tile:
    # the kernel refuses r above the resident clusters.
    outcome = simulate(1024, 256, 24, 4, clusters=16, slots=ring_slots(24, 16) * 4)
    assert not outcome.finished
