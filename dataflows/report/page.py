"""HTML building blocks shared by the sleeve tearsheet and the meta report: escaping, sections, figures, number
formats and the page's stylesheet. Self-contained pages only: no scripts, fonts or anything fetched.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger("dataflows.report")

NA = "n/a"


def esc(value: Any) -> str:
    """`value` as text, HTML-escaped (quotes too)."""
    return html.escape(str(value), quote=True)


def symbol_html(symbol: Any) -> str:
    """An escaped symbol that may wrap after `/` and `:` (never inside a base or quote name)."""
    return esc(symbol).replace("/", "/<wbr>").replace(":", ":<wbr>")


def section(anchor: str, title: str, body: str) -> str:
    """A page section with an anchor id and a heading."""
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>\n{body}\n</section>'


def fact_box(key: str, value_html: str) -> str:
    """One header fact: a small caption over a value (`value_html` is HTML; escape text first)."""
    return f'<div class="fact"><div class="k">{esc(key)}</div><div class="v">{value_html}</div></div>'


def nav_links(links: Sequence[tuple[str, str]]) -> str:
    """The header's in-page links, one per (anchor, label)."""
    return "<nav>" + "".join(f'<a href="#{esc(a)}">{esc(label)}</a>' for a, label in links) + "</nav>"


def scroll_box(table: str) -> str:
    """A horizontally scrollable box around a wide table."""
    return f'<div class="scroll">{table}</div>'


def figure_html(caption: str, draw: Callable[..., str], *args: Any) -> str:
    """A `<figure>` holding the SVG `draw(*args)` returns, or a visible error box if drawing fails."""
    try:
        svg = draw(*args)
    except Exception as exc:  # a broken chart must not cost the whole report
        log.warning("tearsheet chart %s failed: %s", getattr(draw, "__name__", draw), exc, exc_info=True)
        return f'<div class="chart-error">Chart unavailable ({esc(type(exc).__name__)}: {esc(exc)}).</div>'
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def is_finite(value: Any) -> bool:
    """A real, finite number (not None, bool, NaN or text)."""
    if value is None or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def pct(value: Any, decimals: int = 2) -> str:
    """A fraction as a percentage, or n/a."""
    return f"{float(value):.{decimals}%}" if is_finite(value) else NA


def fmt(value: Any, decimals: int) -> str:
    """A number with thousands separators and fixed decimals, or n/a."""
    return f"{float(value):,.{decimals}f}" if is_finite(value) else NA


# The stylesheet of every page (inlined into each page's <style>).
CSS = """
:root{--ink:#1a202c;--muted:#718096;--line:#e2e8f0;--bg:#f4f6f9;--long:#2b6cb0;--short:#c53030;--card:#fff}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"DejaVu Sans",sans-serif}
main{max-width:1160px;margin:0 auto;padding:24px 24px 40px}
h1{font-size:26px;margin:0 0 2px;letter-spacing:-.01em}
h2{font-size:18px;margin:0 0 14px;padding-bottom:6px;border-bottom:2px solid var(--line)}
h3{font-size:14px;margin:18px 0 8px;color:#2d3748;text-transform:uppercase;letter-spacing:.05em}
code,.sym{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12.5px}
.members .sym{white-space:nowrap}
header.top,section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:20px 24px;
margin:0 0 18px;box-shadow:0 1px 2px rgba(0,0,0,.04)}
.ident{margin:0 0 14px;color:#4a5568}
.facts{display:flex;flex-wrap:wrap;gap:10px;margin:0 0 6px}
.fact{border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:150px;background:#fafbfc}
.fact .k{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.fact .v{font-size:15px;font-weight:600}
.fact .sub{display:block;font-size:12px;font-weight:400;color:var(--muted)}
nav{margin-top:14px;display:flex;flex-wrap:wrap;gap:6px}
nav a{font-size:13px;text-decoration:none;color:var(--long);border:1px solid var(--line);border-radius:999px;
padding:2px 12px}
nav a:hover{background:#ebf4ff}
table.data{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:13px;width:100%}
table.data th,table.data td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
table.data thead th{font-size:11.5px;text-transform:uppercase;letter-spacing:.04em;color:#4a5568;
border-bottom:2px solid #cbd5e0;white-space:nowrap}
table.data tbody tr:nth-child(even){background:#f9fafb}
table.data tfoot td{font-weight:600;border-top:2px solid #cbd5e0;border-bottom:none}
table.kv{width:auto;min-width:320px}
table.kv th{font-weight:500;color:#4a5568;padding-right:28px}
.num{text-align:right!important;white-space:nowrap}
.muted{color:var(--muted)}
.dir-long{color:var(--long)}
.dir-short{color:var(--short);font-weight:600}
.flag{color:#c05621;font-weight:600}
.held{font-weight:700}
.members{line-height:1.7}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:22px;align-items:start}
.scroll{overflow-x:auto}
figure{margin:8px 0 0}
figure svg{display:block;max-width:100%;height:auto;margin:0 auto}
figcaption{font-size:12px;color:var(--muted);margin-top:4px;text-align:center}
.badge{display:inline-block;padding:2px 12px;border-radius:999px;color:#fff;font-weight:700;font-size:12.5px;
letter-spacing:.06em;vertical-align:baseline}
.badge.quiet{background:#2f855a}.badge.normal{background:#2b6cb0}.badge.turbulent{background:#dd6b20}
.badge.crisis{background:#c53030}.badge.unknown{background:#718096}
.empty{padding:12px 16px;background:#fffaf0;border:1px dashed #ed8936;color:#7b341e;border-radius:8px}
.warn,.chart-error{padding:10px 14px;background:#fff5f5;border:1px solid #feb2b2;color:#9b2c2c;border-radius:8px}
.verdict{padding:10px 14px;border-radius:8px;margin:0 0 12px}
.verdict.good{background:#f0fff4;border:1px solid #9ae6b4}
.verdict.bad,.bad{color:#9b2c2c}
.verdict.bad{background:#fff5f5;border:1px solid #feb2b2;font-weight:600}
tr.producer td{background:#f0fff4;font-weight:600}
tr.fail td{color:#9b2c2c}
ul.lines{margin:0;padding-left:20px}
ul.lines li{margin:2px 0}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:8px}
@media print{body{background:#fff}header.top,section{box-shadow:none;break-inside:avoid}nav{display:none}}
"""
