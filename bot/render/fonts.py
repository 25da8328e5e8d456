"""Finding a font that really covers Chinese text, and drawing text without tofu.

A font "covers" a character when its cmap maps the code point to a real glyph; we read
the cmap ourselves (a few dozen lines of `struct`) so no extra dependency is needed.

Missing glyphs: the renderers check every string before drawing. A character the main
font lacks (a rare 生僻字 from CJK Extension B+, say) is drawn with the first fallback
font that has it; when no fallback has it, `MissingGlyphsError` names the characters.
Nothing is ever drawn as a tofu box.
"""

from __future__ import annotations

import bisect
import functools
import importlib.resources
import importlib.util
import re
import shutil
import struct
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageDraw, ImageFont

# Characters every candidate CJK font must have (card and poster vocabulary).
PROBE_TEXT = "工会会员卡申请德胜街道"

# Default-ignorable characters that never need a glyph of their own.
_IGNORABLE = {0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF} | set(range(0xFE00, 0xFE10))

INSTALL_HINT = (
    "Install a CJK font, then restart:\n"
    "  - pip install noto-cjk-sans-otc      (Noto Sans CJK, bundled with unionbot)\n"
    "  - apt-get install fonts-noto-cjk     (or fonts-wqy-microhei)\n"
    "  - or set render.cjk_font (and render.cjk_font_index for a .ttc) in config.toml"
)


class FontNotFoundError(RuntimeError):
    """No usable CJK font; the message says what was tried and how to fix it."""


class MissingGlyphsError(ValueError):
    """Text contains characters that no available font can draw."""

    def __init__(self, chars: Iterable[str]) -> None:
        self.chars: tuple[str, ...] = tuple(sorted(set(chars)))
        listed = ", ".join(f"{c} (U+{ord(c):04X})" for c in self.chars)
        super().__init__(
            f"no available font has glyphs for: {listed}. Install a font that covers them "
            "(e.g. fonts-hanazono or BabelStone Han for CJK Extension B and later) and pass "
            "it as a fallback font; refusing to draw tofu boxes."
        )


# ---------------------------------------------------------------- cmap reading


class _Coverage:
    """The set of code points a font maps to a glyph, as sorted inclusive ranges."""

    def __init__(self, ranges: Iterable[tuple[int, int]]) -> None:
        merged: list[list[int]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self._starts = [r[0] for r in merged]
        self._ends = [r[1] for r in merged]

    def __contains__(self, codepoint: int) -> bool:
        i = bisect.bisect_right(self._starts, codepoint) - 1
        return i >= 0 and codepoint <= self._ends[i]


def _face_offset(data: bytes, index: int) -> int:
    """Offset of the sfnt table directory of face `index` (TTC or single font)."""
    if data[:4] == b"ttcf":
        (count,) = struct.unpack_from(">I", data, 8)
        if not 0 <= index < count:
            raise ValueError(f"face index {index} out of range (collection has {count})")
        (offset,) = struct.unpack_from(">I", data, 12 + 4 * index)
        return offset
    if index != 0:
        raise ValueError(f"face index {index} given for a single-face font")
    return 0


def _face_count(path: Path) -> int:
    with path.open("rb") as fh:
        head = fh.read(12)
    return struct.unpack_from(">I", head, 8)[0] if head[:4] == b"ttcf" else 1


def _read_table(path: Path, index: int, tag: bytes) -> bytes:
    with path.open("rb") as fh:
        head = fh.read(12 + 4 * (index + 1))
        fh.seek(_face_offset(head, index))
        directory = fh.read(12)
        (num_tables,) = struct.unpack_from(">H", directory, 4)
        records = fh.read(16 * num_tables)
        for i in range(num_tables):
            rec_tag, _check, offset, length = struct.unpack_from(">4sIII", records, 16 * i)
            if rec_tag == tag:
                fh.seek(offset)
                return fh.read(length)
    raise ValueError(f"{path.name} has no {tag.decode()} table")


def _format12_ranges(cmap: bytes, off: int) -> list[tuple[int, int]]:
    (groups,) = struct.unpack_from(">I", cmap, off + 12)
    ranges = []
    for start, end, glyph in struct.iter_unpack(">III", cmap[off + 16 : off + 16 + 12 * groups]):
        if glyph == 0:  # the first code point would map to .notdef
            start += 1
        if start <= end:
            ranges.append((start, end))
    return ranges


def _format4_ranges(cmap: bytes, off: int) -> list[tuple[int, int]]:
    (seg_x2,) = struct.unpack_from(">H", cmap, off + 6)
    n = seg_x2 // 2
    ends = struct.unpack_from(f">{n}H", cmap, off + 14)
    starts = struct.unpack_from(f">{n}H", cmap, off + 16 + seg_x2)
    deltas = struct.unpack_from(f">{n}h", cmap, off + 16 + 2 * seg_x2)
    ro_pos = off + 16 + 3 * seg_x2
    range_offsets = struct.unpack_from(f">{n}H", cmap, ro_pos)
    ranges = []
    for i in range(n):
        for code in range(starts[i], ends[i] + 1):
            if code == 0xFFFF:
                continue
            if range_offsets[i] == 0:
                glyph = (code + deltas[i]) & 0xFFFF
            else:
                pos = ro_pos + 2 * i + range_offsets[i] + 2 * (code - starts[i])
                (glyph,) = struct.unpack_from(">H", cmap, pos)
                glyph = (glyph + deltas[i]) & 0xFFFF if glyph else 0
            if glyph:
                ranges.append((code, code))
    return ranges


# (platform, encoding) pairs in order of preference: full Unicode first, then BMP.
_SUBTABLE_PREFERENCE = [(3, 10), (0, 6), (0, 4), (3, 1), (0, 3), (0, 2), (0, 1), (0, 0)]


@functools.lru_cache(maxsize=32)
def _coverage(path: Path, index: int) -> _Coverage:
    cmap = _read_table(path, index, b"cmap")
    (count,) = struct.unpack_from(">H", cmap, 2)
    subtables: dict[tuple[int, int], int] = {}
    for i in range(count):
        platform, encoding, offset = struct.unpack_from(">HHI", cmap, 4 + 8 * i)
        subtables.setdefault((platform, encoding), offset)
    for key in _SUBTABLE_PREFERENCE:
        if key not in subtables:
            continue
        off = subtables[key]
        (fmt,) = struct.unpack_from(">H", cmap, off)
        if fmt == 12:
            return _Coverage(_format12_ranges(cmap, off))
        if fmt == 4:
            return _Coverage(_format4_ranges(cmap, off))
    raise ValueError(f"{path.name}: no Unicode cmap of format 4 or 12")


# ---------------------------------------------------------------- fonts


# Shared across threads: Pillow holds the GIL during FreeType calls (and, on
# free-threaded builds, a per-font critical section: Pillow PR #9498).
@functools.lru_cache(maxsize=256)
def _load(path: Path, index: int, size: int) -> ImageFont.FreeTypeFont:
    # BASIC layout: CJK needs no shaping, and output does not depend on libraqm.
    return ImageFont.truetype(str(path), size, index=index, layout_engine=ImageFont.Layout.BASIC)


@dataclass(frozen=True)
class FontSpec:
    """One face of a font file: `index` selects the face inside a .ttc collection."""

    path: Path
    index: int = 0

    def load(self, size: int) -> ImageFont.FreeTypeFont:
        """The face at `size` pixels (cached)."""
        return _load(self.path, self.index, size)

    def covers(self, char: str) -> bool:
        return ord(char) in _coverage(self.path, self.index)

    @property
    def family(self) -> str:
        name, style = self.load(16).getname()
        return f"{name} {style}".strip()

    def __str__(self) -> str:
        return f"{self.path}:{self.index}"


_OTHER_SPACE = re.compile(r"[^\S \u3000]")  # tabs, newlines, exotic spaces


def single_line(text: str) -> str:
    """`text` with every line break or tab turned into a plain space."""
    return _OTHER_SPACE.sub(" ", text)


def _needs_glyph(char: str) -> bool:
    return not char.isspace() and ord(char) not in _IGNORABLE


def missing_glyphs(font: FontSpec, text: str) -> set[str]:
    """The characters of `text` (whitespace ignored) that `font` has no glyph for."""
    return {c for c in set(text) if _needs_glyph(c) and not font.covers(c)}


# ---------------------------------------------------------------- search


def _pick_face(path: Path, wanted: Sequence[str]) -> int:
    """Index of the first face whose family name contains one of `wanted`, else 0."""
    count = _face_count(path)
    if count == 1 or not wanted:
        return 0
    for word in wanted:
        for i in range(count):
            if word in FontSpec(path, i).family:
                return i
    return 0


def _accept(spec: FontSpec) -> bool:
    """True when the face loads and covers the probe text."""
    try:
        spec.load(16)
        return not missing_glyphs(spec, PROBE_TEXT)
    except (OSError, ValueError, struct.error):
        return False


def _package_candidates() -> Iterator[FontSpec]:
    if importlib.util.find_spec("noto_cjk_sans_otc") is None:
        return
    resource = importlib.resources.files("noto_cjk_sans_otc").joinpath("NotoSansCJK-Regular.ttc")
    path = Path(str(resource))
    if path.is_file():
        yield FontSpec(path, _pick_face(path, ["CJK SC"]))


def _fontconfig_candidates(pattern: str = ":lang=zh-cn") -> Iterator[FontSpec]:
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return
    try:
        out = subprocess.run(
            [fc_match, "-f", "%{file}:%{index}", pattern],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return
    file, _, index = out.strip().rpartition(":")
    if file and index.isdigit():
        yield FontSpec(Path(file), int(index))


# Well-known locations: (path, preferred face names inside a collection).
_WELL_KNOWN: list[tuple[str, list[str]]] = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", ["CJK SC"]),  # Debian/Ubuntu
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", ["CJK SC"]),  # Arch
    ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc", ["CJK SC"]),  # Fedora
    ("/usr/share/fonts/noto/NotoSansCJK-Regular.ttc", ["CJK SC"]),  # Alpine
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", ["Micro Hei"]),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", ["Zen Hei"]),
    ("/System/Library/Fonts/PingFang.ttc", ["PingFang SC"]),  # macOS
    ("/System/Library/Fonts/STHeiti Light.ttc", ["Heiti SC"]),
    ("/System/Library/Fonts/STHeiti Medium.ttc", ["Heiti SC"]),
    ("C:/Windows/Fonts/msyh.ttc", ["Microsoft YaHei"]),  # Windows
    ("C:/Windows/Fonts/simhei.ttf", []),
]


def _well_known_candidates() -> Iterator[FontSpec]:
    for name, wanted in _WELL_KNOWN:
        path = Path(name)
        if path.is_file():
            try:
                yield FontSpec(path, _pick_face(path, wanted))
            except (OSError, ValueError, struct.error):
                continue


def _configured(path: Path, index: int | None) -> FontSpec:
    if not path.is_file():
        raise FontNotFoundError(
            f"render.cjk_font is set to {path}, but that file does not exist.\n{INSTALL_HINT}"
        )
    try:
        spec = FontSpec(path, index if index is not None else _pick_face(path, ["SC"]))
        spec.load(16)
    except (OSError, ValueError, struct.error) as error:
        raise FontNotFoundError(
            f"render.cjk_font {path} (face {index}) cannot be loaded: {error}\n{INSTALL_HINT}"
        ) from error
    lacking = missing_glyphs(spec, PROBE_TEXT)
    if lacking:
        raise FontNotFoundError(
            f"render.cjk_font {spec} ({spec.family}) has no glyphs for "
            f"{''.join(sorted(lacking))}; it is not a Chinese font.\n{INSTALL_HINT}"
        )
    return spec


def find_cjk_font(configured: Path | None = None, configured_index: int | None = None) -> FontSpec:
    """Find a font covering Chinese, or raise FontNotFoundError.

    Order: the configured file (an error if unusable, no silent fallback); the
    `noto-cjk-sans-otc` package; fontconfig's choice for zh-cn; well-known system paths.
    """
    if configured is not None:
        return _configured(Path(configured), configured_index)
    tried: list[str] = []
    sources = (_package_candidates, _fontconfig_candidates, _well_known_candidates)
    for source in sources:
        for spec in source():
            if _accept(spec):
                return spec
            tried.append(str(spec))
    detail = f" (rejected: {', '.join(tried)})" if tried else ""
    raise FontNotFoundError(f"No font with Chinese glyphs was found{detail}.\n{INSTALL_HINT}")


# Fonts known to cover CJK Extension B and later (rare characters in names).
_WELL_KNOWN_FALLBACKS = [
    "/usr/share/fonts/truetype/hanazono/HanaMinB.ttf",  # Debian fonts-hanazono
    "/usr/share/fonts/truetype/hanazono/HanaMinA.ttf",
    "/usr/share/fonts/truetype/babelstone/BabelStoneHan.ttf",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "C:/Windows/Fonts/simsunb.ttf",  # SimSun-ExtB
    "/System/Library/Fonts/Supplemental/Songti.ttc",
]


@functools.lru_cache(maxsize=1024)
def _fontconfig_for_char(char: str) -> tuple[FontSpec, ...]:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return ()
    try:
        out = subprocess.run(
            [fc_list, "-f", "%{file}:%{index}\n", f":charset={ord(char):x}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    specs = []
    for line in sorted(out.splitlines()):  # sorted: same choice on every run
        file, _, index = line.rpartition(":")
        if file and index.isdigit():
            specs.append(FontSpec(Path(file), int(index)))
    return tuple(specs)


def _safe_covers(spec: FontSpec, char: str) -> bool:
    try:
        return spec.covers(char)
    except (OSError, ValueError, struct.error):
        return False


def _fallback_pool(char: str, configured: Sequence[FontSpec]) -> Iterator[FontSpec]:
    yield from configured
    yield from (FontSpec(Path(p)) for p in _WELL_KNOWN_FALLBACKS if Path(p).is_file())
    yield from _fontconfig_for_char(char)  # only asked when the others lack `char`


def find_fallback_fonts(
    text: str, primary: FontSpec, configured: Sequence[FontSpec] = ()
) -> tuple[FontSpec, ...]:
    """Fonts that supply the characters of `text` that `primary` lacks.

    Looks at `configured` first, then well-known Extension-B fonts, then fontconfig.
    Characters that no font has are simply not covered; the caller reports them.
    """
    chosen: list[FontSpec] = []
    for char in sorted(missing_glyphs(primary, text)):
        if any(_safe_covers(spec, char) for spec in chosen):
            continue
        found = next((f for f in _fallback_pool(char, configured) if _safe_covers(f, char)), None)
        if found is not None:
            chosen.append(found)
    return tuple(chosen)


# ---------------------------------------------------------------- drawing


@dataclass(frozen=True)
class FontStack:
    """A main font plus fallbacks; measures and draws text run by run."""

    primary: FontSpec
    fallbacks: tuple[FontSpec, ...] = ()

    @classmethod
    def for_texts(
        cls, primary: FontSpec, texts: Iterable[str], fallbacks: Sequence[FontSpec] | None
    ) -> FontStack:
        """A stack able to draw all `texts`, or MissingGlyphsError.

        `fallbacks=None` looks for fallback fonts on this machine (only when needed);
        a sequence (possibly empty) is used as given.
        """
        joined = "\n".join(texts)
        if fallbacks is None:
            lacking = missing_glyphs(primary, joined)
            fallbacks = find_fallback_fonts(joined, primary) if lacking else ()
        stack = cls(primary, tuple(fallbacks))
        lacking = stack.missing(joined)
        if lacking:
            raise MissingGlyphsError(lacking)
        return stack

    def font_for(self, char: str) -> FontSpec | None:
        if not _needs_glyph(char) or self.primary.covers(char):
            return self.primary
        return next((f for f in self.fallbacks if f.covers(char)), None)

    def missing(self, text: str) -> set[str]:
        return {c for c in set(text) if self.font_for(c) is None}

    def runs(self, text: str) -> list[tuple[FontSpec, str]]:
        """Split `text` into maximal runs drawn with the same font."""
        runs: list[tuple[FontSpec, str]] = []
        for char in single_line(text):
            if ord(char) in _IGNORABLE and not self.primary.covers(char):
                continue  # invisible anyway; never draw it as .notdef
            font = self.font_for(char)
            if font is None:
                raise MissingGlyphsError([char])
            if runs and runs[-1][0] == font:
                runs[-1] = (font, runs[-1][1] + char)
            else:
                runs.append((font, char))
        return runs

    def length(self, text: str, size: int) -> float:
        """Advance width of `text` at `size` pixels."""
        if not self.fallbacks:  # fast path: one run
            return self.primary.load(size).getlength(single_line(text))
        return sum(font.load(size).getlength(run) for font, run in self.runs(text))

    def metrics(self, size: int) -> tuple[int, int]:
        """(ascent, descent) of the primary font at `size`."""
        return self.primary.load(size).getmetrics()

    def draw(
        self,
        draw: ImageDraw.ImageDraw,
        xy: tuple[float, float],
        text: str,
        size: int,
        fill: str | tuple[int, ...],
        *,
        bold: bool = False,
    ) -> float:
        """Draw `text` with its left baseline at `xy`; return the advance width."""
        x, y = xy
        stroke = max(1, size // 40) if bold else 0
        for font, run in self.runs(text):
            face = font.load(size)
            draw.text(
                (x, y),
                run,
                font=face,
                fill=fill,
                anchor="ls",
                stroke_width=stroke,
                stroke_fill=fill,
            )
            x += face.getlength(run)
        return x - xy[0]


# ---------------------------------------------------------------- layout


def _tokens(text: str) -> list[str]:
    """Break opportunities: ASCII words stay whole, every other character stands alone,
    and closing punctuation sticks to the token before it."""
    closing = set("，。、；：？！）》」』】〕…,.;:?!)%")
    tokens: list[str] = []
    for char in text:
        glue = tokens and (
            char in closing
            or (
                char.isascii()
                and char.isalnum()
                and tokens[-1][-1].isascii()
                and tokens[-1][-1].isalnum()
            )
        )
        if glue:
            tokens[-1] += char
        else:
            tokens.append(char)
    return tokens


def wrap(stack: FontStack, text: str, size: int, max_width: float) -> list[str]:
    """Greedy line breaking; a token wider than the line is split by character."""
    lines: list[str] = []
    line = ""
    for token in _tokens(text):
        if stack.length(line + token, size) <= max_width:
            line += token
            continue
        if line:
            lines.append(line.rstrip())
            line = ""
        token = token.lstrip()
        for char in token:  # a very long word: break anywhere
            if line and stack.length(line + char, size) > max_width:
                lines.append(line)
                line = ""
            line += char
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _ellipsize(stack: FontStack, text: str, size: int, max_width: float) -> str:
    while text and stack.length(text + "…", size) > max_width:
        text = text[:-1]
    return text + "…"


@dataclass(frozen=True)
class FittedText:
    size: int
    lines: tuple[str, ...]
    line_height: int


def fit_text(
    stack: FontStack,
    text: str,
    *,
    max_width: float,
    max_height: float,
    max_size: int,
    min_size: int,
    max_lines: int = 1,
    leading: float = 1.3,
) -> FittedText:
    """The largest size (≥ min_size) at which `text` fits the box, wrapping if allowed.

    At `min_size` a text that still does not fit is cut with an ellipsis, so the result
    always fits: every line is at most `max_width` wide, and the lines fit `max_height`
    (a box lower than one line at `min_size` still gets that one line).
    """
    for size in range(max_size, min_size - 1, -1):
        line_height = round(size * leading)
        lines = wrap(stack, text, size, max_width) or [""]
        height = size + line_height * (len(lines) - 1)
        if len(lines) <= max_lines and height <= max_height:
            return FittedText(size, tuple(lines), line_height)
    line_height = round(min_size * leading)
    room = max(1, min(max_lines, 1 + int((max_height - min_size) // line_height)))
    lines = wrap(stack, text, min_size, max_width) or [""]
    kept = lines[:room]
    if len(lines) > room:
        kept[-1] = _ellipsize(stack, kept[-1], min_size, max_width)
    return FittedText(min_size, tuple(kept), line_height)
