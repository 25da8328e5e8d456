"""Pinyin of enterprise names and of what workers type, for the matcher.

pypinyin's phrase dictionary (47,000 words, about 45 MiB resident) is not loaded. Each
character is read on its own, with its most common reading, except in the few words of
company names that read otherwise (PHRASES: 银行 yin hang, 重庆 chong qing, 长安 chang an,
…). Names and queries go through the same function, so they are read alike; what a
worker types in pinyin is compared with these readings (bench/bench_matching.py).
"""

from __future__ import annotations

import functools
import os
from types import ModuleType

# Words of enterprise and place names whose reading is not their characters' first
# ones, without tones ("v" for ü, as pypinyin writes it); the longest match wins. A
# reading a Beijing worker types wins over pypinyin's phrase dictionary (which has
# 朝阳门 zhao yang, 支行 zhi xing).
PHRASES: dict[str, str] = {
    # 长 cháng (the character alone reads zhǎng)
    "长安": "chang an", "长城": "chang cheng", "长江": "chang jiang", "长春": "chang chun",
    "长沙": "chang sha", "长治": "chang zhi", "长丰": "chang feng", "长阳": "chang yang",
    "长兴": "chang xing", "长寿": "chang shou", "长虹": "chang hong", "长征": "chang zheng",
    "长青": "chang qing", "长远": "chang yuan", "长天": "chang tian", "长方": "chang fang",
    "长期": "chang qi", "长途": "chang tu", "长久": "chang jiu", "长河": "chang he",
    # banks and trades: 行 háng, not xíng
    "银行": "yin hang", "分行": "fen hang", "支行": "zhi hang", "总行": "zong hang",
    "商行": "shang hang", "行业": "hang ye", "行长": "hang zhang", "央行": "yang hang",
    "工行": "gong hang",
    "农行": "nong hang", "中行": "zhong hang", "建行": "jian hang", "交行": "jiao hang",
    "招行": "zhao hang", "车行": "che hang", "琴行": "qin hang",
    # places
    "重庆": "chong qing", "朝阳": "chao yang", "厦门": "xia men", "西藏": "xi zang",
    "成都": "cheng du", "首都": "shou du", "都市": "du shi", "六安": "lu an",
    "蚌埠": "beng bu", "番禺": "pan yu",
    # trades
    "音乐": "yin yue", "乐器": "yue qi", "会计": "kuai ji", "空调": "kong tiao",
    "调味": "tiao wei", "调料": "tiao liao", "模具": "mu ju",
}  # fmt: skip
_LONGEST = max(map(len, PHRASES))


@functools.cache
def _pypinyin() -> ModuleType:
    # pypinyin reads PYPINYIN_NO_PHRASES when it is first imported; put back at once so
    # that processes this one starts do not inherit it. Imported earlier elsewhere (the
    # benchmark does), it has its phrases, which readings() does not use either way.
    before = os.environ.get("PYPINYIN_NO_PHRASES")
    os.environ["PYPINYIN_NO_PHRASES"] = "1"
    try:
        import pypinyin
    finally:
        if before is None:
            del os.environ["PYPINYIN_NO_PHRASES"]
        else:
            os.environ["PYPINYIN_NO_PHRASES"] = before
    return pypinyin


def _by_character(text: str) -> list[str]:
    # A list of single characters: pypinyin reads each one alone (its phrases, when
    # loaded, are never consulted), one item for every character.
    pypinyin = _pypinyin()
    return list(pypinyin.lazy_pinyin(list(text), errors=lambda chars: list(chars)))


def readings(text: str) -> list[str]:
    """One item per character of `text`: its pinyin (lower case, no tones) for a Chinese
    character, the character itself for any other."""
    out: list[str] = []
    plain_from = at = 0
    while at < len(text):
        for length in range(min(_LONGEST, len(text) - at), 1, -1):
            word = PHRASES.get(text[at : at + length])
            if word is not None:
                out += _by_character(text[plain_from:at]) if plain_from < at else []
                out += word.split()
                at += length
                plain_from = at
                break
        else:
            at += 1
    out += _by_character(text[plain_from:]) if plain_from < len(text) else []
    return out


def full_and_initials(text: str) -> tuple[str, str]:
    """(full pinyin, initials) of `text`, other characters kept as they are."""
    read = readings(text)
    return "".join(read), "".join(syllable[:1] for syllable in read)
