"""Decode TIFF JPEG blocks (Compression=7) the way GDAL does.

GDAL reads JPEG-in-TIFF through libtiff, which hands each tile to the IJG
libjpeg it is linked with (rasterio's wheels ship IJG libjpeg 9), in
"JPEGCOLORMODE_RGB" mode: a plain libjpeg decode with default settings and
``out_color_space = JCS_RGB``. imagecodecs links libjpeg-turbo instead, and the
two libraries differ in one place that matters for YCbCr 4:2:0 data (the
common "YCbCr JPEG" GeoTIFF):

* libjpeg-turbo upsamples the half-resolution chroma planes with its "fancy"
  triangle filter (h2v2_fancy_upsample);
* IJG libjpeg 7 and later never upsample: with ``do_fancy_upsampling`` on (the
  default) they run a scaled 16x16 inverse DCT on each 8x8 chroma block, which
  produces the chroma directly at full resolution (jpeg_idct_16x16).

Luma is decoded identically by both (8x8 "islow" IDCT), and the YCbCr to RGB
arithmetic is the same. Decoding with imagecodecs alone therefore differs from
GDAL by up to ~120 DN near sharp colour edges.

imagecodecs exposes neither the DCT coefficients nor libjpeg's scaling
options, so this module reconstructs them:

1. libjpeg-turbo decodes the block to YCbCr (no colour conversion): luma is
   final, chroma is the fancy-upsampled version of the 8x8-IDCT chroma samples.
2. The fancy upsampling is inverted (least squares; it is well conditioned),
   giving the half-resolution chroma samples to within rounding.
3. A forward DCT of each 8x8 chroma block, divided by the quantisation table
   and rounded, gives the quantised coefficients back. Blocks whose samples hit
   0 or 255 (clipped by the IDCT) or that extend past the image edge are
   refined by alternating projections.
4. The coefficients are checked by re-running libjpeg-turbo's integer 8x8 IDCT
   and fancy upsampler bit-exactly and comparing with step 1; any mismatching
   block is repaired by a small greedy search over its coefficients.
5. The chroma is rebuilt at full resolution with libjpeg's integer 16x16 IDCT
   and converted to RGB with libjpeg's fixed-point YCbCr->RGB tables.

The integer IDCTs are the libjpeg "islow" algorithms written as the integer
matrices they compute (each pass is linear until its final right shift), so
the result is bit-exact with GDAL on every file tried. Everything heavy is
numpy matrix arithmetic or imagecodecs, which release the GIL.

Other layouts go straight through libjpeg-turbo: without chroma subsampling
(RGB, grayscale, YCbCr 1x1) both libraries give the same result.
"""

from __future__ import annotations

import functools
import struct
from typing import Final

import imagecodecs
import numpy as np
import numpy.typing as npt

from .errors import CorruptFileError

__all__ = ["decode_jpeg"]

_YCBCR: Final = 6
_JCS_RGB: Final = 2
_JCS_YCBCR: Final = 3

# ---------------------------------------------------------------------------
# JPEG header parsing (only what the reconstruction needs)

# Position in natural (row-major) order of the k-th coefficient in zigzag order.
_ZIGZAG: Final = np.array(
    [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
     12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
     35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
     58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63],
    dtype=np.intp,
)  # fmt: skip

# Start-of-frame markers of Huffman-coded DCT JPEG (baseline, extended, progressive).
_SOF_DCT: Final = frozenset({0xC0, 0xC1, 0xC2})
_SOF_ANY: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class _Frame:
    __slots__ = ("components", "height", "marker", "precision", "width")

    def __init__(
        self,
        marker: int,
        precision: int,
        height: int,
        width: int,
        components: list[tuple[int, int, int]],
    ) -> None:
        self.marker = marker
        self.precision = precision
        self.height = height
        self.width = width
        self.components = components  # (h_samp, v_samp, quant table id)


def _parse_headers(
    tables: bytes | None, data: bytes
) -> tuple[dict[int, npt.NDArray[np.int64]], _Frame | None]:
    """Quantisation tables (natural order) and frame header of a JPEG stream.

    The JPEGTables stream (an abbreviated SOI..EOI holding DQT/DHT) is read
    first, then the block's own stream up to its first SOS. Raises ValueError
    on a malformed header.
    """
    quant: dict[int, npt.NDArray[np.int64]] = {}
    frame: _Frame | None = None
    for buf in (tables, data):
        if not buf:
            continue
        if len(buf) < 4 or buf[0] != 0xFF or buf[1] != 0xD8:
            raise ValueError("JPEG stream does not start with SOI")
        pos = 2
        end = len(buf)
        while pos + 4 <= end:
            if buf[pos] != 0xFF:
                raise ValueError(f"expected a JPEG marker at byte {pos}")
            marker = buf[pos + 1]
            if marker == 0xFF:  # fill byte
                pos += 1
                continue
            if marker == 0xD9:  # EOI
                break
            if marker == 0x01 or 0xD0 <= marker <= 0xD7:
                pos += 2
                continue
            (length,) = struct.unpack_from(">H", buf, pos + 2)
            if length < 2 or pos + 2 + length > end:
                raise ValueError(f"JPEG segment 0x{marker:02X} overruns the stream")
            seg = buf[pos + 4 : pos + 2 + length]
            if marker == 0xDB:
                k = 0
                while k < len(seg):
                    pq, tq = seg[k] >> 4, seg[k] & 15
                    k += 1
                    size = 128 if pq else 64
                    if k + size > len(seg) or tq > 3:
                        raise ValueError("malformed DQT segment")
                    dtype = ">u2" if pq else "u1"
                    values = np.frombuffer(seg, dtype=dtype, count=64, offset=k).astype(np.int64)
                    k += size
                    table = np.zeros(64, dtype=np.int64)
                    table[_ZIGZAG] = values
                    quant[tq] = table.reshape(8, 8)
            elif marker in _SOF_ANY:
                if len(seg) < 6:
                    raise ValueError("malformed SOF segment")
                precision = seg[0]
                height, width = struct.unpack_from(">HH", seg, 1)
                ncomp = seg[5]
                if len(seg) < 6 + 3 * ncomp:
                    raise ValueError("malformed SOF segment")
                comps = [
                    (seg[7 + 3 * c] >> 4, seg[7 + 3 * c] & 15, seg[8 + 3 * c]) for c in range(ncomp)
                ]
                frame = _Frame(marker, precision, height, width, comps)
            elif marker == 0xDA:
                break
            pos += 2 + length
    return quant, frame


# ---------------------------------------------------------------------------
# libjpeg's integer ("islow") inverse DCTs as integer matrices

_CONST_BITS: Final = 13
_PASS1_BITS: Final = 2


def _fix(x: float) -> int:
    return int(x * (1 << _CONST_BITS) + 0.5)


def _kernel8(x: list[npt.NDArray[np.int64]]) -> list[npt.NDArray[np.int64]]:
    """Libjpeg's 8-point islow IDCT kernel, before its final descale."""
    z1 = (x[2] + x[6]) * _fix(0.541196100)
    even2 = z1 + x[2] * _fix(0.765366865)
    even3 = z1 - x[6] * _fix(1.847759065)
    sum04 = (x[0] + x[4]) << _CONST_BITS
    dif04 = (x[0] - x[4]) << _CONST_BITS
    e0, e3 = sum04 + even2, sum04 - even2
    e1, e2 = dif04 + even3, dif04 - even3
    # Odd part: inputs 7, 5, 3, 1.
    i7, i5, i3, i1 = x[7], x[5], x[3], x[1]
    za = i7 + i3
    zb = i5 + i1
    zc = (za + zb) * _fix(1.175875602)
    za = za * -_fix(1.961570560) + zc
    zb = zb * -_fix(0.390180644) + zc
    zd = (i7 + i1) * -_fix(0.899976223)
    ze = (i5 + i3) * -_fix(2.562915447)
    o0 = i7 * _fix(0.298631336) + zd + za
    o3 = i1 * _fix(1.501321110) + zd + zb
    o1 = i5 * _fix(2.053119869) + ze + zb
    o2 = i3 * _fix(3.072711026) + ze + za
    return [e0 + o3, e1 + o2, e2 + o1, e3 + o0, e3 - o0, e2 - o1, e1 - o2, e0 - o3]


def _kernel16(x: list[npt.NDArray[np.int64]]) -> list[npt.NDArray[np.int64]]:
    """Libjpeg's 16-point islow IDCT kernel (jpeg_idct_16x16), before its final descale."""
    dc = x[0] << _CONST_BITS
    a4 = x[4] * _fix(1.306562965)
    b4 = x[4] * _fix(0.541196100)
    s10, s11, s12, s13 = dc + a4, dc - a4, dc + b4, dc - b4
    d26 = x[2] - x[6]
    q7 = d26 * _fix(0.275899379)
    q1 = d26 * _fix(1.387039845)
    t0 = q1 + x[6] * _fix(2.562915447)
    t1 = q7 + x[2] * _fix(0.899976223)
    t2 = q1 - x[2] * _fix(0.601344887)
    t3 = q7 - x[6] * _fix(0.509795579)
    ev = [s10 + t0, s12 + t1, s13 + t2, s11 + t3, s11 - t3, s13 - t2, s12 - t1, s10 - t0]
    # Odd part.
    z1, z2, z3, z4 = x[1], x[3], x[5], x[7]
    p13 = z1 + z3
    o1 = (z1 + z2) * _fix(1.353318001)
    o2 = p13 * _fix(1.247225013)
    o3 = (z1 + z4) * _fix(1.093201867)
    o10 = (z1 - z4) * _fix(0.897167586)
    o11 = p13 * _fix(0.666655658)
    o12 = (z1 - z2) * _fix(0.410524528)
    o0 = o1 + o2 + o3 - z1 * _fix(2.286341144)
    o13 = o10 + o11 + o12 - z1 * _fix(1.835730603)
    w = (z2 + z3) * _fix(0.138617169)
    o1 = o1 + w + z2 * _fix(0.071888074)
    o2 = o2 + w - z3 * _fix(1.125726048)
    w = (z3 - z2) * _fix(1.407403738)
    o11 = o11 + w - z3 * _fix(0.766367282)
    o12 = o12 + w + z2 * _fix(1.971951411)
    z24 = z2 + z4
    w = z24 * -_fix(0.666655658)
    o1 = o1 + w
    o3 = o3 + w + z4 * _fix(1.065388962)
    w = z24 * -_fix(1.247225013)
    o10 = o10 + w + z4 * _fix(3.141271809)
    o12 = o12 + w
    w = (z3 + z4) * -_fix(1.353318001)
    o2 = o2 + w
    o3 = o3 + w
    w = (z4 - z3) * _fix(0.410524528)
    o10 = o10 + w
    o11 = o11 + w
    od = [o0, o1, o2, o3, o10, o11, o12, o13]
    out: list[npt.NDArray[np.int64]] = [np.zeros(0, np.int64)] * 16
    for k in range(8):
        out[k] = ev[k] + od[k]
        out[15 - k] = ev[k] - od[k]
    return out


def _kernel_matrix(kernel: object) -> npt.NDArray[np.int64]:
    unit = np.eye(8, dtype=np.int64)
    rows = kernel([unit[k] for k in range(8)])  # type: ignore[operator]
    return np.array(rows, dtype=np.int64)  # (n_out, 8)


_M8: Final = _kernel_matrix(_kernel8)  # (8, 8)
_M16: Final = _kernel_matrix(_kernel16)  # (16, 8)
_M8T: Final = np.ascontiguousarray(_M8.T)
_M16T: Final = np.ascontiguousarray(_M16.T)
# Pass 1 keeps PASS1_BITS of extra precision; pass 2 folds in the +128 level
# shift's rounding. Both passes round half up (libjpeg's "fudge factors").
_ROUND1: Final = 1 << (_CONST_BITS - _PASS1_BITS - 1)
_SHIFT1: Final = _CONST_BITS - _PASS1_BITS
_ROUND2: Final = 1 << (_CONST_BITS + _PASS1_BITS + 2)
_SHIFT2: Final = _CONST_BITS + _PASS1_BITS + 3


def _islow(
    dequant: npt.NDArray[np.int64], m: npt.NDArray[np.int64], mt: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Integer IDCT of dequantised blocks (..., 8, 8) -> samples (..., n, n) in 0..255.

    Computed with float64 matrix products (BLAS, GIL released): every
    intermediate is an integer far below 2**53, so the arithmetic is exact
    and floor() reproduces libjpeg's arithmetic right shifts.
    """
    lead = dequant.shape[:-2]
    n = m.shape[0]
    blocks = dequant.reshape(-1, 8, 8).astype(np.float64)
    nblk = blocks.shape[0]
    # Pass 1 (columns): work[b, r, c] = sum_k m[r, k] * blocks[b, k, c]
    cols = blocks.transpose(1, 0, 2).reshape(8, nblk * 8)
    work = m.astype(np.float64) @ cols
    work += _ROUND1
    work *= 1.0 / (1 << _SHIFT1)
    np.floor(work, out=work)
    work = work.reshape(n, nblk, 8).transpose(1, 0, 2).reshape(nblk * n, 8)
    # Pass 2 (rows): out[b, r, c] = sum_k work[b, r, k] * m[c, k]
    out = work @ mt.astype(np.float64)
    out += _ROUND2
    out *= 1.0 / (1 << _SHIFT2)
    np.floor(out, out=out)
    out += 128.0
    np.clip(out, 0.0, 255.0, out=out)
    result: npt.NDArray[np.int64] = out.astype(np.int64).reshape(*lead, n, n)
    return result


# ---------------------------------------------------------------------------
# libjpeg-turbo's h2v2 "fancy" upsampling: exact model and its least-squares inverse


def _fancy_h2v2(s: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """Upsample (..., h, w) samples to (..., 2h, 2w) exactly as libjpeg-turbo does.

    Edges are replicated (libjpeg's context rows and its first/last column
    special cases).
    """
    up = np.concatenate([s[..., :1, :], s[..., :-1, :]], axis=-2)
    down = np.concatenate([s[..., 1:, :], s[..., -1:, :]], axis=-2)
    h, w = s.shape[-2:]
    col = np.empty((*s.shape[:-2], 2 * h, w), dtype=np.int32)
    col[..., 0::2, :] = 3 * s + up
    col[..., 1::2, :] = 3 * s + down
    left = np.concatenate([col[..., :1], col[..., :-1]], axis=-1)
    right = np.concatenate([col[..., 1:], col[..., -1:]], axis=-1)
    out = np.empty((*s.shape[:-2], 2 * h, 2 * w), dtype=np.int32)
    out[..., 0::2] = (3 * col + left + 8) >> 4
    out[..., 1::2] = (3 * col + right + 7) >> 4
    return out


@functools.lru_cache(maxsize=32)
def _fancy_pinv(n_out: int, n_in: int) -> npt.NDArray[np.float32]:
    """Pseudo-inverse of the 1-D fancy upsampling of n_in samples cropped to n_out."""
    a = np.zeros((n_out, n_in))
    for i in range(n_in):
        for k, nb in ((2 * i, max(i - 1, 0)), (2 * i + 1, min(i + 1, n_in - 1))):
            if k < n_out:
                a[k, i] += 0.75
                a[k, nb] += 0.25
    pinv = np.linalg.solve(a.T @ a, a.T).astype(np.float32)  # a has full column rank
    pinv.setflags(write=False)
    return pinv


def _dct_matrix() -> npt.NDArray[np.float64]:
    u = np.arange(8)[:, None]
    x = np.arange(8)[None, :]
    c = np.sqrt(2 / 8) * np.cos((2 * x + 1) * u * np.pi / 16)
    c[0] /= np.sqrt(2)
    result: npt.NDArray[np.float64] = c
    return result


_C8: Final = _dct_matrix()  # orthonormal 8-point DCT-II: coefficients = C @ x @ C.T
_C8T: Final = np.ascontiguousarray(_C8.T)
# The 2-D DCT of a row-major flattened block: coefficients = _DCT64T.T @ block.
_DCT64T: Final = np.ascontiguousarray(np.kron(_C8, _C8).T)


def _blocks(plane: npt.NDArray[np.generic], by: int, bx: int) -> npt.NDArray[np.generic]:
    """(by*8, bx*8) -> (by, bx, 8, 8)."""
    return plane.reshape(by, 8, bx, 8).transpose(0, 2, 1, 3)


def _unblock(blocks: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """(by, bx, n, n) -> (by*n, bx*n)."""
    by, bx, n, _ = blocks.shape
    return blocks.transpose(0, 2, 1, 3).reshape(by * n, bx * n)


def _project(
    target: npt.NDArray[np.float64],
    known: npt.NDArray[np.bool_],
    coef: npt.NDArray[np.int64],
    qt: npt.NDArray[np.int64],
    iterations: int = 40,
) -> npt.NDArray[np.int64]:
    """Refine quantised coefficients of blocks with clipped or unseen samples.

    target: level-shifted sample estimates (k, 8, 8); known: which samples were
    observed. Alternates between the sample constraints (observed samples keep
    their value, samples clipped at 0/255 may lie beyond the clip, unseen ones
    are free) and the quantisation lattice.
    """
    k = target.shape[0]
    flat_target = target.reshape(k, 64)
    rounded = np.rint(flat_target)
    seen = known.reshape(k, 64)
    high = seen & (rounded >= 127)
    low = seen & (rounded <= -128)
    exact = seen & ~high & ~low
    step = qt.reshape(64).astype(np.float64)
    levels = coef.reshape(k, 64).astype(np.float64)
    for _ in range(iterations):
        samples = (levels * step) @ _DCT64T.T
        want = np.where(exact, flat_target, samples)
        want = np.where(high, np.maximum(samples, flat_target), want)
        want = np.where(low, np.minimum(samples, flat_target), want)
        new = np.rint((want @ _DCT64T) / step)
        if np.array_equal(new, levels):
            break
        levels = new
    return levels.astype(np.int64).reshape(k, 8, 8)


@functools.lru_cache(maxsize=1)
def _repair_moves() -> npt.NDArray[np.int64]:
    """Coefficient changes tried by `_repair`.

    ±1 on any coefficient, and ±1/±1 pairs among the lowest frequencies.
    """
    moves = []
    for k in range(64):
        for sign in (1, -1):
            m = np.zeros(64, dtype=np.int64)
            m[k] = sign
            moves.append(m)
    low = _ZIGZAG[:10]
    for a in range(len(low)):
        for b in range(a + 1, len(low)):
            for sa in (1, -1):
                for sb in (1, -1):
                    m = np.zeros(64, dtype=np.int64)
                    m[low[a]] = sa
                    m[low[b]] = sb
                    moves.append(m)
    out = np.array(moves).reshape(-1, 8, 8)
    out.setflags(write=False)
    return out


def _repair(
    coef: npt.NDArray[np.int64],
    qt: npt.NDArray[np.int64],
    *,
    upsampled: npt.NDArray[np.int32],
    samples: npt.NDArray[np.int32],
    bad: npt.NDArray[np.intp],
    h: int,
    w: int,
) -> None:
    """Search bad blocks' coefficients greedily until libjpeg-turbo's output is reproduced.

    For each block, the candidate changes of `_repair_moves` are scored by the
    number of upsampled pixels around the block that differ from `upsampled`
    (integer IDCT and fancy upsampling simulated bit-exactly). coef and
    samples are updated in place.
    """
    height, width = upsampled.shape
    moves = _repair_moves()
    nmoves = len(moves)
    for bi, bj in bad.tolist():
        # Sample window: the block plus two samples of context on each side.
        r0, r1 = max(8 * bi - 2, 0), min(8 * bi + 10, h)
        c0, c1 = max(8 * bj - 2, 0), min(8 * bj + 10, w)
        br0, br1 = 8 * bi, min(8 * bi + 8, h)
        bc0, bc1 = 8 * bj, min(8 * bj + 8, w)
        if br0 >= br1 or bc0 >= bc1:
            continue
        # The upsampled rows/cols that the window determines exactly.
        lo_r = r0 if r0 == 0 else r0 + 1
        hi_r = r1 if r1 == h else r1 - 1
        lo_c = c0 if c0 == 0 else c0 + 1
        hi_c = c1 if c1 == w else c1 - 1
        orow = slice(2 * (lo_r - r0), min(2 * (hi_r - r0), height - 2 * r0))
        ocol = slice(2 * (lo_c - c0), min(2 * (hi_c - c0), width - 2 * c0))
        ref = upsampled[2 * r0 : 2 * r1, 2 * c0 : 2 * c1][orow, ocol]
        window = samples[r0:r1, c0:c1]
        current = coef[bi, bj]
        cost = int(np.count_nonzero(_fancy_h2v2(window)[orow, ocol] != ref))
        for _ in range(16):
            if cost == 0:
                break
            cand = current + moves
            cand_samples = _islow(cand * qt, _M8, _M8T)
            windows = np.broadcast_to(window, (nmoves, *window.shape)).copy()
            windows[:, br0 - r0 : br1 - r0, bc0 - c0 : bc1 - c0] = cand_samples[
                :, : br1 - br0, : bc1 - bc0
            ]
            costs = np.count_nonzero(_fancy_h2v2(windows)[:, orow, ocol] != ref, axis=(1, 2))
            best = int(np.argmin(costs))
            if costs[best] >= cost:
                break
            cost = int(costs[best])
            current = cand[best]
            window = windows[best]
        coef[bi, bj] = current
        samples[r0:r1, c0:c1] = window


def _chroma_coefficients(
    upsampled: npt.NDArray[np.uint8], qt: npt.NDArray[np.int64], by: int, bx: int
) -> npt.NDArray[np.int64]:
    """Recover the quantised DCT coefficients of a 2x2-subsampled chroma plane.

    upsampled: libjpeg-turbo's fancy-upsampled plane (height, width).
    Returns (by, bx, 8, 8) coefficients.
    """
    height, width = upsampled.shape
    h, w = (height + 1) // 2, (width + 1) // 2
    # 2. Undo the upsampling (least squares).
    est = _fancy_pinv(height, h) @ upsampled.astype(np.float32) @ _fancy_pinv(width, w).T
    # 3. Back to quantised coefficients; pad like libjpeg's encoder (edge replication).
    padded = np.pad(est.astype(np.float64), ((0, by * 8 - h), (0, bx * 8 - w)), mode="edge")
    padded -= 128.0
    target = _blocks(padded, by, bx)
    flat = np.ascontiguousarray(target).reshape(-1, 64) @ _DCT64T
    coef = np.rint(flat.reshape(by, bx, 8, 8) / qt).astype(np.int64)
    known_plane = np.zeros((by * 8, bx * 8), dtype=bool)
    known_plane[:h, :w] = True
    known: npt.NDArray[np.bool_] = _blocks(known_plane, by, bx)  # type: ignore[assignment]
    rounded = np.rint(target)
    suspect = (~known | (rounded >= 127) | (rounded <= -128)).any(axis=(2, 3))
    if suspect.any():
        coef[suspect] = _project(target[suspect], known[suspect], coef[suspect], qt)
    # 4. Verify bit-exactly against libjpeg-turbo's output; repair what differs.
    samples = np.ascontiguousarray(_unblock(_islow(coef * qt, _M8, _M8T))[:h, :w], dtype=np.int32)
    ref = upsampled.astype(np.int32)
    diff = _fancy_h2v2(samples)[:height, :width] != ref
    if diff.any():
        # A wrong upsampled pixel comes from its own sample's block or a neighbour's.
        hit = np.zeros((by + 2, bx + 2), dtype=bool)
        rows, cols = np.nonzero(diff)
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                rr = np.clip(rows // 2 + dr, 0, h - 1) // 8
                cc = np.clip(cols // 2 + dc, 0, w - 1) // 8
                hit[rr + 1, cc + 1] = True
        bad = np.argwhere(hit[1:-1, 1:-1])
        _repair(coef, qt, upsampled=ref, samples=samples, bad=bad, h=h, w=w)
    return coef


# ---------------------------------------------------------------------------
# YCbCr -> RGB, libjpeg's fixed-point tables (jdcolor.c)


def _fix16(v: float) -> int:
    return int(v * (1 << 16) + 0.5)


# libjpeg's jdcolor.c constants. The green ones are IJG libjpeg 9's
# (libjpeg-turbo keeps the older 0.71414/0.34414, which differs by 1 DN on a
# few pixels).
_CR_R: Final = _fix16(1.40200)
_CB_B: Final = _fix16(1.77200)
_CR_G: Final = _fix16(0.714136286)
_CB_G: Final = _fix16(0.344136286)
_HALF16: Final = 1 << 15


def _ycc_to_rgb(
    y: npt.NDArray[np.uint8], cb: npt.NDArray[np.generic], cr: npt.NDArray[np.generic]
) -> npt.NDArray[np.uint8]:
    """Libjpeg's fixed-point YCbCr -> RGB (its lookup tables, computed inline)."""
    yi = y.astype(np.int32)
    x_cb = cb.astype(np.int32) - 128
    x_cr = cr.astype(np.int32) - 128
    out = np.empty((*y.shape, 3), dtype=np.uint8)
    red = (x_cr * _CR_R + _HALF16) >> 16
    red += yi
    np.clip(red, 0, 255, out=red)
    out[..., 0] = red
    green = (x_cb * -_CB_G + _HALF16 - x_cr * _CR_G) >> 16
    green += yi
    np.clip(green, 0, 255, out=green)
    out[..., 1] = green
    blue = (x_cb * _CB_B + _HALF16) >> 16
    blue += yi
    np.clip(blue, 0, 255, out=blue)
    out[..., 2] = blue
    return out


def _decode_ycbcr420(
    data: bytes, tables: bytes | None, quant: dict[int, npt.NDArray[np.int64]], frame: _Frame
) -> npt.NDArray[np.uint8]:
    ycc = imagecodecs.jpeg8_decode(
        data, tables=tables, colorspace=_JCS_YCBCR, outcolorspace=_JCS_YCBCR
    )
    if ycc.ndim != 3 or ycc.shape[2] != 3:
        raise ValueError(f"JPEG decoded to shape {ycc.shape}, expected 3 YCbCr planes")
    height, width = ycc.shape[:2]
    by, bx = -(-height // 16), -(-width // 16)
    chroma = []
    for c in (1, 2):
        tq = frame.components[c][2]
        if tq not in quant:
            raise ValueError(f"JPEG quantisation table {tq} is missing")
        qt = quant[tq]
        coef = _chroma_coefficients(np.ascontiguousarray(ycc[..., c]), qt, by, bx)
        full = _unblock(_islow(coef * qt, _M16, _M16T))
        chroma.append(full[:height, :width])
    return _ycc_to_rgb(ycc[..., 0], chroma[0], chroma[1])


def decode_jpeg(
    data: bytes,
    *,
    tables: bytes | None,
    photometric: int,
    samples: int,
    subsampling: tuple[int, int],  # noqa: ARG001 - the stream's SOF is authoritative
    path: str,
) -> npt.NDArray[np.uint8]:
    """Decode one JPEG-compressed TIFF block to (rows, cols, samples) uint8, as GDAL does.

    Args:
        data: The block's bytes (a JPEG stream, possibly abbreviated).
        tables: The JPEGTables tag (347), or None.
        photometric: PhotometricInterpretation of the image (6 = YCbCr).
        samples: SamplesPerPixel of the block (1, 3 or 4).
        subsampling: YCbCrSubsampling (horizontal, vertical). Informational: like
            libjpeg, the sampling factors in the JPEG frame header are used.
        path: Used in error messages.

    Raises:
        CorruptFileError: The data is not a decodable JPEG stream.
    """
    try:
        if photometric == _YCBCR and samples == 3:
            quant, frame = _parse_headers(tables or None, data)
            if (
                frame is not None
                and frame.marker in _SOF_DCT
                and frame.precision == 8
                and len(frame.components) == 3
                and frame.components[0][:2] == (2, 2)
                and frame.components[1][:2] == (1, 1)
                and frame.components[2][:2] == (1, 1)
            ):
                arr = _decode_ycbcr420(data, tables or None, quant, frame)
            else:
                # No chroma upsampling (1x1), or a layout GDAL's libjpeg scales
                # differently that is not reconstructed here (e.g. 2x1):
                # libjpeg-turbo's conversion is exact for the former.
                arr = imagecodecs.jpeg8_decode(
                    data, tables=tables or None, colorspace=_JCS_YCBCR, outcolorspace=_JCS_RGB
                )
        else:
            arr = imagecodecs.jpeg8_decode(data, tables=tables or None)
        arr = np.asarray(arr)
    except CorruptFileError:
        raise
    except Exception as exc:
        raise CorruptFileError(path, f"cannot decode JPEG block: {exc}") from exc
    if arr.dtype != np.uint8:
        raise CorruptFileError(path, f"JPEG block decoded to {arr.dtype}, expected 8-bit samples")
    if arr.ndim == 2:
        arr = arr[:, :, np.newaxis]
    if arr.ndim != 3 or arr.shape[2] != samples:
        raise CorruptFileError(
            path, f"JPEG block decoded to shape {arr.shape}, expected {samples} samples per pixel"
        )
    return arr
