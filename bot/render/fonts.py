"""Finding a font that really covers Chinese text, and drawing text without tofu.

A font "covers" a character when its cmap maps the code point to a real glyph; fontTools
reads the cmap (and the face names inside .ttc collections).

Missing glyphs: the renderers check every string before drawing. A character the main
font lacks (a rare 生僻字 from CJK Extension B+, say) is drawn with the first fallback
font that has it; when no fallback has it, `MissingGlyphsError` names the characters.
Nothing is ever drawn as a tofu box. The bot finds its `FontStack` (main font and
fallbacks) once at start-up; the name check asks the same stack, so the form refuses a
name whose card could not be drawn.
"""

from __future__ import annotations

import contextlib
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

from fontTools.ttLib import TTCollection, TTFont, TTLibError
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

FALLBACK_HINT = (
    "Rare characters in names (CJK Extension B and later) need a fallback font:\n"
    "  - apt-get install fonts-hanazono        (HanaMin: Extensions B-F)\n"
    "  - apt-get install fonts-babelstone-han  (optional: part of Extension G)\n"
    "  - or list font files in render.fallback_fonts in config.toml"
)


class FontNotFoundError(RuntimeError):
    """No usable CJK font; the message says what was tried and how to fix it."""


class MissingGlyphsError(ValueError):
    """Text contains characters that no available font can draw."""

    def __init__(self, chars: Iterable[str]) -> None:
        self.chars: tuple[str, ...] = tuple(sorted(set(chars)))
        listed = ", ".join(f"{c} (U+{ord(c):04X})" for c in self.chars)
        super().__init__(
            f"no available font has glyphs for: {listed}; refusing to draw tofu boxes.\n"
            f"{FALLBACK_HINT}"
        )


# ---------------------------------------------------------------- cmap reading

# What fontTools raises on a damaged or truncated font file; reported as ValueError.
_DAMAGED = (TTLibError, struct.error, AssertionError, EOFError, IndexError, KeyError)


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    try:
        yield
    except _DAMAGED as error:
        raise ValueError(f"{path.name}: unreadable font ({error!r})") from error


@functools.lru_cache(maxsize=32)
def _face_names(path: Path) -> tuple[str, ...]:
    """The "family style" name of every face of a .ttc collection; () for a single font.

    Names as FreeType (and so `FontSpec.family`) reports them: typographic family and
    subfamily (name IDs 16/17) when present, else the legacy ones (1/2).
    """
    with path.open("rb") as fh:
        if fh.read(4) != b"ttcf":
            return ()
    with _reading(path), TTCollection(path, lazy=True) as collection:
        names = []
        for face in collection.fonts:
            table = face["name"]
            family = table.getDebugName(16) or table.getDebugName(1) or ""
            style = table.getDebugName(17) or table.getDebugName(2) or ""
            names.append(f"{family} {style}".strip())
        return tuple(names)


class Coverage:
    """A set of code points as a bitmap: 136 KiB a font, where a frozenset of a CJK
    font's 45,000-60,000 code points took 2-3 MiB."""

    __slots__ = ("_bits",)
    _LIMIT = 0x110000

    def __init__(self, code_points: Iterable[int]) -> None:
        bits = bytearray(self._LIMIT >> 3)
        for point in code_points:
            bits[point >> 3] |= 1 << (point & 7)
        self._bits = bytes(bits)

    def __contains__(self, point: object) -> bool:
        if not isinstance(point, int) or not 0 <= point < self._LIMIT:
            return False
        return bool(self._bits[point >> 3] >> (point & 7) & 1)


@functools.lru_cache(maxsize=32)
def _coverage(path: Path, index: int) -> Coverage:
    """The code points face `index` of `path` maps to a real glyph (not .notdef)."""
    if index != 0 and not _face_names(path):
        raise ValueError(f"face index {index} given for a single-face font")
    with _reading(path), TTFont(path, fontNumber=index, lazy=True) as font:
        cmap = font.getBestCmap()  # Unicode subtables, full repertoire first
        if cmap is None:
            raise ValueError(f"{path.name}: no Unicode cmap")
        return Coverage(cmap)


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
    if not wanted:
        return 0
    names = _face_names(path)
    for word in wanted:
        for i, name in enumerate(names):
            if word in name:
                return i
    return 0


def _accept(spec: FontSpec) -> bool:
    """True when the face loads and covers the probe text."""
    try:
        spec.load(16)
        return not missing_glyphs(spec, PROBE_TEXT)
    except (OSError, ValueError):
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
            except (OSError, ValueError):
                continue


def _configured(path: Path, index: int | None) -> FontSpec:
    if not path.is_file():
        raise FontNotFoundError(
            f"render.cjk_font is set to {path}, but that file does not exist.\n{INSTALL_HINT}"
        )
    try:
        spec = FontSpec(path, index if index is not None else _pick_face(path, ["SC"]))
        spec.load(16)
    except (OSError, ValueError) as error:
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


# Fonts with the rare characters of names (CJK Extension B and later), in the order they
# are tried after the configured ones. Figures: `python -m bench.bench_glyphs`.
_WELL_KNOWN_FALLBACKS: list[tuple[str, list[str]]] = [
    # Debian fonts-hanazono (OFL or Hanazono licence): HanaMinB has Extensions B-F,
    # HanaMinA the compatibility ideographs.
    ("/usr/share/fonts/truetype/hanazono/HanaMinB.ttf", []),
    ("/usr/share/fonts/truetype/hanazono/HanaMinA.ttf", []),
    # Debian fonts-babelstone-han: characters of Unicode 13-15 and part of Extension G.
    ("/usr/share/fonts/truetype/babelstone/BabelStoneHan.ttf", []),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", ["CJK SC"]),
    ("C:/Windows/Fonts/simsunb.ttf", []),  # SimSun-ExtB
    ("/System/Library/Fonts/Supplemental/Songti.ttc", ["SC"]),
]


def _configured_fallback(path: Path) -> FontSpec:
    if not path.is_file():
        raise FontNotFoundError(
            f"render.fallback_fonts lists {path}, but that file does not exist.\n{FALLBACK_HINT}"
        )
    try:
        spec = FontSpec(path, _pick_face(path, ["SC"]))
        spec.load(16)
        _coverage(spec.path, spec.index)
    except (OSError, ValueError) as error:
        raise FontNotFoundError(
            f"render.fallback_fonts: {path} cannot be loaded: {error}\n{FALLBACK_HINT}"
        ) from error
    return spec


def _well_known_fallbacks() -> Iterator[FontSpec]:
    for name, wanted in _WELL_KNOWN_FALLBACKS:
        path = Path(name)
        if not path.is_file():
            continue
        try:
            spec = FontSpec(path, _pick_face(path, wanted))
            spec.load(16)
            _coverage(spec.path, spec.index)
        except (OSError, ValueError):
            continue  # a damaged system font is no reason not to start
        yield spec


def find_fallback_fonts(configured: Sequence[Path] = ()) -> tuple[FontSpec, ...]:
    """The fonts for characters the main font lacks, in the order they are tried.

    The configured files first (an error if one is unusable: no silent fallback), then
    the well-known fonts with CJK Extension B and later that this machine has. The same
    list serves the renderers and the name check, so a name is accepted exactly when
    its card can be drawn.
    """
    chosen: list[FontSpec] = []
    seen: set[Path] = set()
    specs = [_configured_fallback(Path(p)) for p in configured]
    for spec in [*specs, *_well_known_fallbacks()]:
        real = spec.path.resolve()
        if real not in seen:
            seen.add(real)
            chosen.append(spec)
    return tuple(chosen)


def find_font_stack(
    configured: Path | None = None,
    configured_index: int | None = None,
    fallbacks: Sequence[Path] = (),
) -> FontStack:
    """The main Chinese font (see find_cjk_font) and the fallback fonts (see
    find_fallback_fonts): everything the bot draws with, found once at start-up."""
    return FontStack(find_cjk_font(configured, configured_index), find_fallback_fonts(fallbacks))


# ---------------------------------------------------------------- drawing


@dataclass(frozen=True)
class FontStack:
    """A main font plus fallbacks; measures and draws text run by run."""

    primary: FontSpec
    fallbacks: tuple[FontSpec, ...] = ()

    @classmethod
    def of(
        cls, font: FontSpec | FontStack, fallbacks: Sequence[FontSpec] | None = None
    ) -> FontStack:
        """`font` as a stack: a FontStack as it is; a FontSpec with `fallbacks`, or with
        the fallback fonts of this machine (find_fallback_fonts) when that is None."""
        if isinstance(font, FontStack):
            if fallbacks is not None:
                raise ValueError("fallbacks are given by the FontStack itself")
            return font
        return cls(font, find_fallback_fonts() if fallbacks is None else tuple(fallbacks))

    def require(self, texts: Iterable[str]) -> None:
        """Raise MissingGlyphsError, naming them, if no font has some characters of `texts`."""
        lacking = self.missing("\n".join(texts))
        if lacking:
            raise MissingGlyphsError(lacking)

    def font_for(self, char: str) -> FontSpec | None:
        if not _needs_glyph(char) or self.primary.covers(char):
            return self.primary
        return next((f for f in self.fallbacks if f.covers(char)), None)

    def missing(self, text: str) -> set[str]:
        """The characters of `text` that no font of the stack has (cheap: cached cmaps)."""
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
