"""Characters for the tests of rare names: one the bot's fonts draw with a fallback font,
one that no font of a stack has."""

from __future__ import annotations

import itertools

from bot.render.fonts import FALLBACK_HINT, FontSpec, FontStack

# U+20000, the first character of CJK Extension B: not in Noto Sans CJK, in HanaMinB.
EXT_B = "\U00020000"
# U+2A6A5 𪚥 (four 龍), Extension B, and U+20001: also drawn by the fallback only.
EXT_B_OTHERS = ("\U0002a6a5", "\U00020001")


def ext_b_face(stack: FontStack) -> FontSpec:
    """The fallback face that draws EXT_B; fails, saying what to install, without one."""
    face = stack.font_for(EXT_B)
    assert face is not None, f"no font on this machine has CJK Extension B.\n{FALLBACK_HINT}"
    assert face != stack.primary, "the main font was expected to lack Extension B"
    return face


def undrawable_han(stack: FontStack) -> str:
    """A character the name check takes as Han but no font of `stack` has: the first one
    missing from Extensions G, H and I, else an unassigned code point of those ranges."""
    candidates = itertools.chain(range(0x30000, 0x323B0), range(0x2EBF0, 0x2EE60))
    for code in candidates:
        if stack.font_for(chr(code)) is None:
            return chr(code)
    raise AssertionError("the fonts cover every code point of Extensions G-I")
