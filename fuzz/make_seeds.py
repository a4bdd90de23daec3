"""Regenerates the small seed corpus in fuzz/corpus from Strassen's algorithm (our own data, no catalogue copy),
plus hostile inputs for the verify harness (fuzz_verify.cpp: first byte = what is passed, then the content).

python3 fuzz/make_seeds.py   (needs numpy)
"""
import io
import pathlib
import zipfile

import numpy as np

HERE = pathlib.Path(__file__).parent
# Strassen <2,2,2>:7 in the project's convention (rows: products; columns: row-major tile entries).
ENC_X = np.array([[1, 0, 0, 1], [0, 0, 1, 1], [1, 0, 0, 0], [0, 0, 0, 1], [1, 1, 0, 0], [-1, 0, 1, 0], [0, 1, 0, -1]])
ENC_W = np.array([[1, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, -1], [-1, 0, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0], [0, 0, 1, 1]])
DEC = np.array([[1, 0, 0, 1, -1, 0, 1], [0, 0, 1, 0, 1, 0, 0], [0, 1, 0, 1, 0, 0, 0], [1, -1, 1, 0, 0, 1, 0]])


def npz_bytes(arrays, compress):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        for key, value in arrays.items():
            item = io.BytesIO()
            np.save(item, value, allow_pickle=True)
            z.writestr(key + ".npy", item.getvalue())
    return buf.getvalue()


def main():
    u, v = ENC_X.T, ENC_W.T
    w = DEC.reshape(2, 2, 7).transpose(1, 0, 2).reshape(4, 7)  # AlphaTensor's w gives vec((AB)^T)
    stacked = np.stack([u, v, w]).astype(np.int64)
    objects = np.empty(3, dtype=object)
    objects[:] = [u.astype(np.int32), v.astype(np.int32), w.astype(np.int32)]
    (HERE / "corpus/npz").mkdir(parents=True, exist_ok=True)
    (HERE / "corpus/npz/strassen_stacked.npz").write_bytes(npz_bytes({"2,2,2": stacked}, True))
    (HERE / "corpus/npz/strassen_objects.npz").write_bytes(npz_bytes({"2,2,2": objects}, False))
    (HERE / "corpus/npy").mkdir(parents=True, exist_ok=True)
    for name, value in {"stacked": stacked, "objects": objects, "fortran": np.asfortranarray(u.astype(np.float64))}.items():
        item = io.BytesIO()
        np.save(item, value, allow_pickle=True)
        (HERE / f"corpus/npy/strassen_{name}.npy").write_bytes(item.getvalue())
    (HERE / "corpus/sms").mkdir(parents=True, exist_ok=True)
    for name, m in {"L": ENC_X, "R": ENC_W, "P": DEC}.items():
        (HERE / f"corpus/sms/strassen_{name}.sms").write_text(sms_text(m))
    (HERE / "corpus/sms/rational.sms").write_text("# rational values\n2 2 R\n1 1 -1/2\n2 2 3/8\n1 2 0.25\n0 0 0\n")
    write_verify_seeds(stacked, objects)


def sms_text(m):
    lines = [f"{m.shape[0]} {m.shape[1]} R"]
    lines += [f"{i + 1} {j + 1} {m[i, j]}" for i in range(m.shape[0]) for j in range(m.shape[1]) if m[i, j]]
    return "\n".join(lines + ["0 0 0"]) + "\n"


def write_verify_seeds(stacked, objects):
    """Selector byte (fuzz_verify.cpp): % 3 = 0 an .npz, 1 an .sms triplet (L, R, P joined by NUL; / 3 % 4 picks
    which name is passed: _L, _R, _P or the stem), 2 an algorithm name."""
    out = HERE / "corpus/verify"
    out.mkdir(parents=True, exist_ok=True)
    npz, sms, name = 0, 1, 2

    def seed(filename, selector, content):
        (out / filename).write_bytes(bytes([selector]) + content)

    seed("strassen_stacked.npz", npz, npz_bytes({"2,2,2": stacked}, True))
    seed("strassen_objects.npz", npz, npz_bytes({"2,2,2": objects}, False))
    triplet = b"\0".join(sms_text(m).encode() for m in (ENC_X, ENC_W, DEC))
    for which, suffix in enumerate(["L", "R", "P", "stem"]):
        seed(f"strassen_{suffix}.sms", sms + 3 * which, triplet)
    for algorithm in ["strassen", "laderman", "naive-2x3x4", "poly-2x2x2", "alphatensor-3x4x5", "naive-100x100x100"]:
        seed(f"name_{algorithm}", name, algorithm.encode())
    # Hostile, each refused before the work starts: a <16,16,16> entry with 2000 dense products (more than 2^26
    # multiply-adds to check), one with 256 dense products (2^32), a few hundred bytes that ask for the 4096^3-entry tensor of <64,64,64>, and an SMS
    # triplet of format <256,256,256> in 20 lines.
    seed("dense_16x16x16_rank2000.npz", npz, npz_bytes({"16,16,16": np.ones((3, 256, 2000), np.int8)}, True))
    seed("dense_16x16x16_rank256.npz", npz, npz_bytes({"16,16,16": np.ones((3, 256, 256), np.int8)}, True))
    seed("tiny_64x64x64.npz", npz, npz_bytes({"64,64,64": np.ones((3, 4096, 1), np.int8)}, True))
    wide = "1 65536 R\n1 1 1\n0 0 0\n"
    seed("huge_format.sms", sms, "\0".join([wide, wide, "65536 1 R\n1 1 1\n0 0 0\n"]).encode())


if __name__ == "__main__":
    main()
