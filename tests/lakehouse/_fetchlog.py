"""Reading the fetch log (`Registry.fetches()`): the evidence that no (symbol, range) was fetched twice."""

from __future__ import annotations

import collections


def duplicate_fetches(fetches: list[dict]) -> dict:
    """(symbol, start, end) asked more than once, with who asked (holder, reask, rows) each time. Allowed besides
    the one ask: one delayed re-ask (`reask`) by the holder of an earlier ask that covered the range (its miss)."""
    asks = collections.defaultdict(list)
    for f in fetches:
        asks[(f["symbol"], f["start_ts"], f["end_ts"])].append(f)
    covering = collections.defaultdict(list)  # symbol -> plain asks: (start, end, holder, log position)
    for i, f in enumerate(fetches):
        if not f.get("reask", 0):
            covering[f["symbol"]].append((f["start_ts"], f["end_ts"], f["holder"], i))
    out = {}
    for (symbol, start, end), rows in asks.items():
        plain = [a for a in rows if not a.get("reask", 0)]
        reasks = [a for a in rows if a.get("reask", 0)]
        ok = len(plain) <= 1 and len(reasks) <= 1 and (plain or reasks)
        for r in reasks:
            pos = fetches.index(r)
            ok = ok and any(s <= start and end <= e and h == r["holder"] and i < pos for s, e, h, i in covering[symbol])
        if not ok:
            out[(symbol, start, end)] = [(a["holder"], a.get("reask", 0), a["rows"]) for a in rows]
    return out


def split_symbols(fetches: list[dict]) -> dict:
    """Symbols fetched by more than one holder (a symbol's whole repair is one holder's, under its lease)."""
    holders = collections.defaultdict(set)
    for f in fetches:
        holders[f["symbol"]].add(f["holder"])
    return {s: h for s, h in holders.items() if len(h) > 1}
