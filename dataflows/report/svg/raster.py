"""Matrices as images: the RdBu_r colour map and a deterministic PNG `data:` URI (one pixel block per cell), so a
large heatmap stays small and nothing is ever fetched."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

# ColorBrewer RdBu (11 classes), reversed: −1 → dark blue, 0 → near white, +1 → dark red (Matplotlib's RdBu_r).
_RDBU_R = np.array(
    [
        (5, 48, 97),
        (33, 102, 172),
        (67, 147, 195),
        (146, 197, 222),
        (209, 229, 240),
        (247, 247, 247),
        (253, 219, 199),
        (244, 165, 130),
        (214, 96, 77),
        (178, 24, 43),
        (103, 0, 31),
    ],
    dtype=np.float64,
)


def png_data_uri(rgb: np.ndarray) -> str:
    """An H×W×3 uint8 image as a `data:image/png;base64,...` URI (deterministic bytes)."""
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = img.shape[:2]
    raw = np.zeros((h, 1 + 3 * w), dtype=np.uint8)
    raw[:, 1:] = img.reshape(h, 3 * w)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def diverging_rgb(values: np.ndarray, vmin: float = -1.0, vmax: float = 1.0, missing: int = 255) -> np.ndarray:
    """RdBu_r colours (uint8 RGB) of `values` on [vmin, vmax]; NaN → grey level `missing`."""
    v = np.asarray(values, dtype=np.float64)
    pos = np.clip((v - vmin) / (vmax - vmin), 0.0, 1.0) * (len(_RDBU_R) - 1)
    pos = np.where(np.isfinite(pos), pos, 0.0)
    k = np.minimum(np.floor(pos).astype(np.int64), len(_RDBU_R) - 2)
    frac = (pos - k)[..., None]
    out = _RDBU_R[k] * (1.0 - frac) + _RDBU_R[k + 1] * frac
    out = np.rint(out).astype(np.uint8)
    out[~np.isfinite(v)] = missing
    return out
