#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/): small valid
inputs of each format, so that fuzzing starts from files the loaders accept. Run from
anywhere; deterministic (fixed seeds), so the committed corpora can be regenerated."""
import gzip
import os
import struct
import zlib

import numpy as np

SEP = b"@@@@"
HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261202)


def npy(a):
    a = np.require(a, requirements="C")  # keeps 0-d arrays 0-d (ascontiguousarray does not)
    descr = {np.dtype("<f4"): "<f4", np.dtype("<f8"): "<f8", np.dtype("u1"): "|u1"}[a.dtype]
    shape = "(" + "".join(f"{s}, " for s in a.shape).rstrip(" ") + ")"
    if len(a.shape) > 1:
        shape = shape.replace(", )", ")")
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + a.tobytes()


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png(pixels, colour, depth=8, palette=None, trns=None):
    h, w = pixels.shape[:2]
    raw = b"".join(b"\0" + pixels[y].tobytes() for y in range(h))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0))
    if palette is not None:
        out += chunk(b"PLTE", palette.tobytes())
    if trns is not None:
        out += chunk(b"tRNS", trns)
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def idx(a):
    return bytes([0, 0, 8, a.ndim]) + b"".join(struct.pack(">I", s) for s in a.shape) + a.tobytes()


def fnv1a(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def u8(*shape):
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


# .npy: float32 rows, float64 images, uint8 images (N,C,H,W), format version 2.
write("fuzz_npy", "f32-rows", npy(rng.standard_normal((3, 5)).astype("<f4")))
write("fuzz_npy", "f64-images", npy(rng.standard_normal((2, 4, 4))))
write("fuzz_npy", "u8-nchw", npy(u8(2, 3, 2, 2)))
v2 = npy(rng.standard_normal((2, 2)).astype("<f4"))
write("fuzz_npy", "version2", b"\x93NUMPY\x02\x00" + struct.pack("<I", struct.unpack("<H", v2[8:10])[0]) + v2[10:])

# IDX: flags byte, images, SEP, labels.
images, labels = idx(u8(3, 4, 4)), idx(rng.integers(0, 10, size=3, dtype=np.uint8))
write("fuzz_idx", "raw-with-labels", b"\x00" + images + SEP + labels)
write("fuzz_idx", "gz-with-labels", b"\x03" + images + SEP + labels)
write("fuzz_idx", "rows", b"\x00" + idx(u8(4, 6)))
write("fuzz_idx", "gz-as-given", b"\x04" + gzip.compress(images, mtime=0))

# CIFAR-10: flags byte (1: pad to whole records), files separated by SEP.
def cifar(n):
    return b"".join(bytes([int(rng.integers(0, 10))]) + u8(3072).tobytes() for _ in range(n))
write("fuzz_cifar", "one-file", b"\x00" + cifar(1))
write("fuzz_cifar", "two-files", b"\x00" + cifar(1) + SEP + cifar(1))
write("fuzz_cifar", "padded", b"\x01" + bytes([3]) + u8(40).tobytes())

# PNG: grey, RGB, RGBA, 16-bit grey, 1-bit grey, palette with tRNS.
grey, rgb = png(u8(4, 5), 0), png(u8(3, 3, 3), 2)
pal = png(rng.integers(0, 4, size=(3, 4), dtype=np.uint8), 3, palette=u8(4, 3), trns=bytes([0, 128, 255]))
for name, data in [("grey", grey), ("rgb", rgb), ("rgba", png(u8(2, 2, 4), 6)),
                   ("grey16", png(rng.integers(0, 65536, size=(2, 3), dtype=np.uint16).astype(">u2"), 0, 16)),
                   ("grey1", png(u8(2, 1), 0, 1)), ("palette-trns", pal)]:
    write("fuzz_png", name, data)
write("fuzz_png_folder", "two-grey", grey + SEP + png(u8(4, 5), 0))
write("fuzz_png_folder", "mixed", grey + SEP + rgb + SEP + pal)

# Model folders: model.txt, then parts of a byte naming the file and the file.
NAMES = ["mean.npy", "means.npy", "weights.npy", "eigvals.npy", "eigvecs.npy", "cov.npy",
         "covs.npy", "residual.npy", "data.npy"]
def part(name, data):
    return SEP + bytes([NAMES.index(name)]) + data
d, r, k = 6, 2, 2
q = [np.linalg.qr(rng.standard_normal((d, d)))[0][:, :r] for _ in range(k)]
lam = np.sort(rng.uniform(0.1, 1, size=(k, r)))[:, ::-1]
gauss = (b"kind = gaussian\nd = 6\nsigma_data = 0.5 # a comment\n" + part("mean.npy", npy(rng.standard_normal(d)))
         + part("eigvals.npy", npy(lam[0].copy())) + part("eigvecs.npy", npy(q[0]))
         + part("residual.npy", npy(np.array(0.01))))
write("fuzz_model", "gaussian", gauss)
write("fuzz_model", "gmm", b"kind = gmm\nd = 6\nk = 2\nrank = 2\n" + part("weights.npy", npy(np.array([0.25, 0.75])))
      + part("means.npy", npy(rng.standard_normal((k, d)))) + part("eigvals.npy", npy(lam.copy()))
      + part("eigvecs.npy", npy(np.stack(q))) + part("residual.npy", npy(np.array([0.01, 0.02]))))
a = rng.standard_normal((d, d))
write("fuzz_model", "gaussian-cov", b"kind = gaussian\nd = 6\nrank = 3\n" + part("mean.npy", npy(np.zeros(d)))
      + part("cov.npy", npy(a @ a.T)))
data = npy(rng.standard_normal((5, d)).astype("<f4"))
write("fuzz_model", "empirical", b"kind = empirical\nd = 6\nn = 5\ndata = data.npy\ndata_bytes = %d\n"
      b"data_checksum = 0x%016x\n" % (len(data), fnv1a(data)) + part("data.npy", data))

# The sigma list.
write("fuzz_sigma", "plain", b"80\n10\n1\n0.002\n0\n")
write("fuzz_sigma", "comments", b"# sigmas\n80 # first\n\n  2.5\t\n0.01\n")

# The resume manifest: flags, config.txt, shards of the 5 x 3 float32 run in batches of 2.
config = b"n=5\nbatch=2\nseed=1\n"
shards = [npy(rng.standard_normal((rows, 3)).astype("<f4")) for rows in (2, 2, 1)]
write("fuzz_resume", "all-done", b"\x00" + config + SEP + SEP.join(shards))
write("fuzz_resume", "one-done", b"\x00" + config + SEP + shards[0])
write("fuzz_resume", "complete", b"\x01" + config)

# The command line: arguments separated by NUL bytes.
write("fuzz_cli", "all-types", b"--name\0abc\0--count=5\0--scale\0000.25\0--flag")
write("fuzz_cli", "memory", b"--name=1.5G\0--count\0-3\x00512M")
write("fuzz_cli", "help", b"--help")
