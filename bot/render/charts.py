"""Charts for /stats, the weekly digest and the dashboard, as PNG bytes: matplotlib's Agg
backend through its object interface (no pyplot: no global state, safe in a worker
thread), drawn with the project's CJK font so that street and enterprise names are real
characters, never boxes. Callers render off the event loop (asyncio.to_thread)."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import Any

from bot.pii import mask_numbers
from bot.render.fonts import FontStack
from bot.services.stats import MonthCount, Progress

WIDTH, HEIGHT, DPI = 8.0, 4.5, 120
_registered: dict[tuple[str, int], str] = {}
_lock = threading.Lock()


def _family(fonts: FontStack) -> str:
    """The matplotlib family name of the primary font's face (a .ttc holds several)."""
    key = (str(fonts.primary.path), fonts.primary.index)
    with _lock:
        if key not in _registered:
            from matplotlib import font_manager

            font_manager.fontManager.addfont(key[0])
            faces = [
                entry.name
                for entry in font_manager.fontManager.ttflist
                if entry.fname == key[0] and getattr(entry, "index", 0) == key[1]
            ]
            if not faces:
                raise RuntimeError(f"matplotlib cannot read the font {key[0]} (face {key[1]})")
            _registered[key] = faces[0]
        return _registered[key]


def _figure(fonts: FontStack, height: float = HEIGHT) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH, height), dpi=DPI)
    FigureCanvasAgg(figure)
    family = _family(fonts)
    figure.set_layout_engine("constrained")
    axes = figure.add_subplot()
    for item in (axes.title, axes.xaxis.label, axes.yaxis.label):
        item.set_family(family)
    return figure, axes


def _png(figure: Any, axes: Any, family: str) -> bytes:
    for label in (*axes.get_xticklabels(), *axes.get_yticklabels()):
        label.set_family(family)
    legend = axes.get_legend()
    if legend is not None:
        for text in legend.get_texts():
            text.set_family(family)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def new_members_png(
    rows: Sequence[MonthCount], fonts: FontStack, title: str = "每月新会员"
) -> bytes:
    """New members per month, a stacked bar per street (the eight biggest, the rest as 其他)."""
    figure, axes = _figure(fonts)
    months = sorted({r.month for r in rows})
    totals: dict[str, int] = {}
    for r in rows:
        totals[r.street] = totals.get(r.street, 0) + r.members
    shown = sorted(totals, key=lambda s: (-totals[s], s))[:8]
    series: dict[str, list[int]] = {name: [0] * len(months) for name in shown}
    if len(totals) > len(shown):
        series["其他"] = [0] * len(months)
    for r in rows:
        name = r.street if r.street in shown else "其他"
        series[name][months.index(r.month)] += r.members
    bottom = [0] * len(months)
    places = list(range(len(months)))  # positions: "2026-11" read as a date would move
    for name, values in series.items():
        axes.bar(places, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_xticks(places, months)
    axes.set_title(title)
    axes.set_ylabel("新会员（人）")
    if not months:
        axes.text(0.5, 0.5, "暂无数据", ha="center", va="center", transform=axes.transAxes,
                  family=_family(fonts))  # fmt: skip
    elif series:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    axes.tick_params(axis="x", labelrotation=45)
    return _png(figure, axes, _family(fonts))


def threshold_png(
    progress: Sequence[Progress],
    threshold: int,
    fonts: FontStack,
    title: str = "最接近建会人数的企业",
) -> bytes:
    """The enterprises closest to the threshold, as bars toward it."""
    figure, axes = _figure(fonts, height=max(2.5, 0.45 * len(progress) + 1.5))
    # Names typed by workers may hold an id or mobile number: masked, as on review cards.
    shown = [mask_numbers(p.name) for p in progress]
    names = [name if len(name) <= 16 else name[:15] + "…" for name in shown][::-1]
    counts = [p.members for p in progress][::-1]
    axes.barh(names, counts, color="#c0392b")
    axes.axvline(threshold, color="#555555", linestyle="--", linewidth=1)
    axes.set_xlim(0, max([threshold, *counts]) * 1.1)
    axes.set_xlabel(f"个人会员（建会提示：{threshold} 人）")
    axes.set_title(title)
    for y, count in enumerate(counts):
        axes.text(count, y, f" {count}", va="center", family=_family(fonts))
    if not progress:
        axes.text(0.5, 0.5, "暂无数据", ha="center", va="center", transform=axes.transAxes,
                  family=_family(fonts))  # fmt: skip
    return _png(figure, axes, _family(fonts))
