"""Regenerates the small seed corpus in fuzz/corpus from Strassen's algorithm (our own data, no catalogue copy).

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
        lines = [f"{m.shape[0]} {m.shape[1]} R"]
        lines += [f"{i + 1} {j + 1} {m[i, j]}" for i in range(m.shape[0]) for j in range(m.shape[1]) if m[i, j]]
        lines += ["0 0 0"]
        (HERE / f"corpus/sms/strassen_{name}.sms").write_text("\n".join(lines) + "\n")
    (HERE / "corpus/sms/rational.sms").write_text("# rational values\n2 2 R\n1 1 -1/2\n2 2 3/8\n1 2 0.25\n0 0 0\n")


if __name__ == "__main__":
    main()
