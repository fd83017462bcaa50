"""The SVG document and its text: a `Canvas` to append elements to, escaping, coordinates, estimated text widths,
short labels and one-line legends."""

from __future__ import annotations

import html
from collections.abc import Sequence

FONT = "system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,'DejaVu Sans',sans-serif"
INK = "#2d3748"
AXIS = "#a0aec0"
GRID = "#e2e8f0"
ZERO = "#718096"
_CHAR = 0.6  # average glyph width / font size of a sans-serif face (an over-estimate keeps labels inside)


def esc(value: object) -> str:
    """`value` as text, HTML-escaped (quotes too: safe in attributes)."""
    return html.escape(str(value), quote=True)


def num(x: float) -> str:
    """A coordinate: one decimal, no trailing `.0` (keeps the markup short)."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else ("0" if text == "-0.0" else text)


def text_width(text: str, size: float) -> float:
    """Estimated rendered width of `text` at font `size` (px)."""
    return len(text) * size * _CHAR


def day_label(text: str) -> str:
    """`2026-01-31T00:00:00Z` (a midnight UTC stamp) → `2026-01-31`; anything else unchanged."""
    stamp = str(text)
    if len(stamp) > 10 and stamp[10] == "T" and stamp[11:] in ("00:00:00Z", "00:00:00+00:00", "00:00:00"):
        return stamp[:10]
    return stamp


def shorten(name: str, limit: int = 24) -> str:
    """`name` truncated to `limit` characters with an ellipsis (tables show the full name)."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


class Canvas:
    """An SVG document under construction: append elements, then `render()`."""

    def __init__(self, width: float, height: float, label: str) -> None:
        self.width, self.height, self.label = width, height, label
        self.parts: list[str] = []

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def text(
        self,
        x: float,
        y: float,
        value: str,
        *,
        size: float = 11.0,
        anchor: str = "start",
        color: str = INK,
        bold: bool = False,
        rotate: bool = False,
        middle: bool = True,
    ) -> None:
        """Text at (x, y); `middle` centres it vertically on y, `rotate` turns it −90° about (x, y)."""
        attrs = f'x="{num(x)}" y="{num(y)}"'
        if size != 11.0:
            attrs += f' font-size="{num(size)}"'
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        if color != INK:
            attrs += f' fill="{color}"'
        if bold:
            attrs += ' font-weight="bold"'
        if middle:
            attrs += ' dominant-baseline="central"'
        if rotate:
            attrs += f' transform="rotate(-90 {num(x)} {num(y)})"'
        self.parts.append(f"<text {attrs}>{esc(value)}</text>")

    def line(self, x1: float, y1: float, x2: float, y2: float, color: str, width: float = 1.0, dash: str = "") -> None:
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" stroke="{color}" '
            f'stroke-width="{num(width) if width >= 0.1 else width}"{extra}/>'
        )

    def rect(
        self, x: float, y: float, w: float, h: float, fill: str, *, tip: str = "", stroke: str = "", opacity: float = 1
    ) -> None:
        attrs = f'x="{num(x)}" y="{num(y)}" width="{num(max(w, 0.0))}" height="{num(max(h, 0.0))}" fill="{fill}"'
        if stroke:
            attrs += f' stroke="{stroke}"'
        if opacity != 1:
            attrs += f' fill-opacity="{opacity:g}"'
        if tip:
            self.parts.append(f"<rect {attrs}><title>{esc(tip)}</title></rect>")
        else:
            self.parts.append(f"<rect {attrs}/>")

    def render(self) -> str:
        w, h = num(self.width), num(self.height)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
            f'font-family="{FONT}" font-size="11" fill="{INK}"><title>{esc(self.label)}</title>'
            + "".join(self.parts)
            + "</svg>"
        )


def legend_width(items: Sequence[tuple[str, str, str]], size: float = 10.0) -> float:
    """Width in px of the legend `legend` draws for `items`."""
    return sum(22 + text_width(label, size) + 12 for _, _, label in items)


def legend(canvas: Canvas, items: Sequence[tuple[str, str, str]], right: float, y: float, size: float = 10.0) -> None:
    """A one-line legend ending at x = `right`: (kind 'line'|'box'|'mark', colour, label) per item."""
    widths = [22 + text_width(label, size) + 12 for _, _, label in items]
    x = right - sum(widths)
    for (kind, color, label), w in zip(items, widths, strict=True):
        if kind == "box":
            canvas.rect(x, y - 5, 14, 10, color)
        elif kind == "mark":
            canvas.add(f'<path d="M{num(x + 2)},{num(y - 5)} h10 l-5,9 Z" fill="{color}"/>')
        else:
            canvas.line(x, y, x + 16, y, color, 2.0)
        canvas.text(x + 20, y, label, size=size)
        x += w
