"""Which Han characters the name check accepts and the member card can draw, and what the
check costs: `python -m bench.bench_glyphs [--n 20000] [--fallback FONT ...]`.

For every CJK block (Unicode 15.1) it prints how many characters are assigned, how many
the name check's Han ranges take as they are (NFKC turns most compatibility ideographs
into unified ones first), and how many each face of the bot's font stack covers, and the
stack as a whole. Then the same for Latin letters, and the time of one name check.
`--fallback` adds font files before the well-known ones, as `render.fallback_fonts` does:
a way to measure a candidate font.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
import unicodedata
from pathlib import Path

from bot.render.fonts import FontSpec, FontStack, find_font_stack
from bot.validation import ValidationError, _is_han, _is_latin_letter, validate_name

# Assigned code points per block, Unicode 15.1 (the stdlib's unicodedata may be older).
BLOCKS: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = (
    ("CJK Unified Ideographs", ((0x4E00, 0x9FFF),)),
    ("Extension A", ((0x3400, 0x4DBF),)),
    ("Extension B", ((0x20000, 0x2A6DF),)),
    ("Extension C", ((0x2A700, 0x2B739),)),
    ("Extension D", ((0x2B740, 0x2B81D),)),
    ("Extension E", ((0x2B820, 0x2CEA1),)),
    ("Extension F", ((0x2CEB0, 0x2EBE0),)),
    ("Extension G", ((0x30000, 0x3134A),)),
    ("Extension H", ((0x31350, 0x323AF),)),
    ("Extension I", ((0x2EBF0, 0x2EE5D),)),
    ("Compatibility Ideographs", ((0xF900, 0xFA6D), (0xFA70, 0xFAD9))),
    ("Compatibility Supplement", ((0x2F800, 0x2FA1D),)),
)
SAMPLE_NAMES = ("张晓明", "阿依古丽·买买提", "龙𠀀", "𪚥𠮷", "John Smith", "欧阳修")


def _short(face: FontSpec) -> str:
    return face.family.removesuffix(" Regular")[:18]


def _kept(char: str) -> bool:
    """A Han character the name check keeps as it is (not rewritten by NFKC)."""
    return _is_han(char) and unicodedata.normalize("NFKC", char) == char


def coverage_table(stack: FontStack) -> list[str]:
    faces = [stack.primary, *stack.fallbacks]
    head = f"{'block':<26}{'assigned':>9}{'accepted':>9}"
    head += "".join(f"{_short(f):>20}" for f in faces) + f"{'stack':>9}{'refused':>9}"
    lines = [head]
    totals = [0] * (len(faces) + 4)
    for name, ranges in BLOCKS:
        chars = [chr(c) for lo, hi in ranges for c in range(lo, hi + 1)]
        accepted = [c for c in chars if _kept(c)]
        per_face = [sum(1 for c in chars if f.covers(c)) for f in faces]
        drawn = sum(1 for c in chars if stack.font_for(c) is not None)
        refused = sum(1 for c in accepted if stack.font_for(c) is None)
        row = [len(chars), len(accepted), *per_face, drawn, refused]
        totals = [t + r for t, r in zip(totals, row, strict=True)]
        lines.append(_row(name, row))
    lines.append(_row("all Han blocks", totals))
    return lines


def _row(name: str, row: list[int]) -> str:
    assigned, accepted, *faces, drawn, refused = row
    text = f"{name:<26}{assigned:>9}{accepted:>9}" + "".join(f"{n:>20}" for n in faces)
    return text + f"{drawn:>9}{refused:>9}"


def latin_summary(stack: FontStack) -> str:
    letters = [
        chr(c)
        for c in range(sys.maxunicode + 1)
        if _is_latin_letter(chr(c)) and unicodedata.normalize("NFKC", chr(c)) == chr(c)
    ]
    lacking = [c for c in letters if stack.font_for(c) is None]
    sample = " ".join(f"U+{ord(c):04X}" for c in lacking[:6])
    return (
        f"Latin letters the name check accepts: {len(letters)}; the stack draws "
        f"{len(letters) - len(lacking)}, refuses {len(lacking)} (e.g. {sample})"
    )


def check_cost(stack: FontStack, n: int) -> str:
    times_us = []
    for i in range(n):
        raw = SAMPLE_NAMES[i % len(SAMPLE_NAMES)]
        start = time.perf_counter()
        with contextlib.suppress(ValidationError):  # refused names cost the same
            validate_name(raw, stack.missing)
        times_us.append((time.perf_counter() - start) * 1e6)
    median = statistics.median(times_us)
    p95 = statistics.quantiles(times_us, n=100)[94]
    return f"name check with the glyph test: median {median:.1f} µs, p95 {p95:.1f} µs ({n} runs)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000, help="name checks to time")
    parser.add_argument(
        "--fallback", type=Path, action="append", default=[], help="a fallback font to try"
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    stack = find_font_stack(fallbacks=args.fallback)
    found_ms = (time.perf_counter() - start) * 1000
    print(f"Python unicodedata {unicodedata.unidata_version}; blocks as of Unicode 15.1")
    for face in (stack.primary, *stack.fallbacks):
        size_mb = face.path.stat().st_size / 1e6
        print(f"face  {face.family:<28} {face}  ({size_mb:.1f} MB)")
    print(f"font stack found (cmaps read) in {found_ms:.0f} ms\n")
    print("\n".join(coverage_table(stack)))
    print("\naccepted: Han characters the name check takes as they are; refused: of those,")
    print("the ones no face has, which the form now refuses (the card could not show them)\n")
    print(latin_summary(stack))
    print(check_cost(stack, args.n))


if __name__ == "__main__":
    main()
