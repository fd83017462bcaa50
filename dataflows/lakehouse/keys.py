"""Reversible, path-safe keys for symbols and run ids.

A symbol key keeps `[A-Za-z0-9_-]` and percent-encodes every other UTF-8 byte (`/` → `%2F`, `.` → `%2E`), so
`BTC/USDT:USDT`, `BRK.B` and `../../etc/passwd` all map to a single path component that cannot escape its folder,
and `decode_symbol(encode_symbol(s)) == s` for every valid symbol.
"""

from __future__ import annotations

import re
from pathlib import Path

from dataflows.errors import UnsafeKey

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MAX_SYMBOL_LEN = 100


def validate_symbol(symbol: object) -> str:
    """Return `symbol` if it is a usable venue symbol, else raise `UnsafeKey` naming it."""
    if not isinstance(symbol, str) or not symbol or len(symbol) > MAX_SYMBOL_LEN:
        msg = f"symbol {symbol!r} must be a non-empty string of at most {MAX_SYMBOL_LEN} characters"
        raise UnsafeKey(msg)
    if any(not ch.isprintable() or ch.isspace() or ch == "|" for ch in symbol):
        msg = f"symbol {symbol!r} contains whitespace, control characters or '|' (reserved for atom ids)"
        raise UnsafeKey(msg)
    return symbol


def encode_symbol(symbol: str) -> str:
    """Path-safe, reversible file stem for `symbol`."""
    validate_symbol(symbol)
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in symbol.encode("utf-8"))


def decode_symbol(key: str) -> str:
    """Inverse of `encode_symbol`; raises `UnsafeKey` on anything `encode_symbol` cannot produce."""
    if not key.isascii():
        msg = f"symbol key {key!r} is not ASCII"
        raise UnsafeKey(msg)
    out, i, raw = bytearray(), 0, key.encode("ascii")
    while i < len(raw):
        b = raw[i]
        if b == ord("%") and re.fullmatch(rb"[0-9A-F]{2}", raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        elif b in _SAFE:
            out.append(b)
            i += 1
        else:
            msg = f"symbol key {key!r} is not a valid encoded symbol"
            raise UnsafeKey(msg)
    try:
        symbol = out.decode("utf-8")
    except UnicodeDecodeError:
        msg = f"symbol key {key!r} does not decode to UTF-8"
        raise UnsafeKey(msg) from None
    if encode_symbol(symbol) != key:
        msg = f"symbol key {key!r} is not canonical"
        raise UnsafeKey(msg)
    return symbol


def validate_run_id(run_id: object) -> str:
    """Return `run_id` if it is one safe path component (letters, digits, `_.-`, no leading dot)."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        msg = (
            f"run.id {run_id!r} is not allowed: use 1-128 letters, digits, '_', '.', '-', "
            "starting with a letter or digit and without '..'"
        )
        raise UnsafeKey(msg)
    return run_id


def contained(root: Path, *parts: str) -> Path:
    """`root / parts...`, guaranteed to stay inside `root` (raises `UnsafeKey` otherwise)."""
    root_resolved = root.resolve()
    path = root_resolved.joinpath(*parts).resolve()
    if path != root_resolved and root_resolved not in path.parents:
        msg = f"path {'/'.join(parts)!r} escapes {root}"
        raise UnsafeKey(msg)
    return path
