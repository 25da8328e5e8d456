"""The matcher's pinyin: characters read one by one, plus the words of company names that
read otherwise, without pypinyin's phrase dictionary."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bot.matching import EnterpriseMatcher
from bot.pinyin import PHRASES, full_and_initials, readings

REGISTRY = [
    (1, "中国银行股份有限公司北京朝阳支行", None, 1),
    (2, "重庆长安汽车股份有限公司北京分公司", None, 1),
    (3, "北京长城宽带网络服务有限公司", None, 1),
    (4, "北京中兴通讯有限公司", None, 1),
    (5, "北京厦门航空有限公司", None, 1),
]


@pytest.mark.parametrize(
    ("text", "full", "initials"),
    [
        ("中国银行重庆分行", "zhongguoyinhangchongqingfenhang", "zgyhcqfh"),
        ("长安街", "changanjie", "caj"),
        ("朝阳区", "chaoyangqu", "cyq"),
        ("银行行长", "yinhanghangzhang", "yhhz"),
        ("旅行社", "lvxingshe", "lxs"),  # 行 xíng outside the words that say háng
        ("长沙ABC（北京）1号", "changshaABC（beijing）1hao", "csABC（bj）1h"),
        ("", "", ""),
    ],
)
def test_words_of_company_names_read_as_workers_type_them(
    text: str, full: str, initials: str
) -> None:
    assert full_and_initials(text) == (full, initials)


def test_one_reading_per_character() -> None:
    text = "北京ByteDance 银行（长城）〇𠀀"
    assert len(readings(text)) == len(text)


def test_every_phrase_reading_is_a_reading_of_its_characters() -> None:
    from pypinyin import Style, pinyin

    for word, reading in PHRASES.items():
        syllables = reading.split()
        assert len(syllables) == len(word), word
        for char, syllable, known in zip(
            word, syllables, pinyin(word, style=Style.NORMAL, heteronym=True), strict=True
        ):
            assert syllable in known, (word, char, syllable, known)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("zhongguoyinhang", 1),
        ("yinhang chaoyang", 1),
        ("chongqingchangan", 2),
        ("changcheng kuandai", 3),
        ("zhongxing tongxun", 4),
        ("xiamen hangkong", 5),
    ],
)
def test_pinyin_queries_find_names_with_those_words(typed: str, expected: int) -> None:
    match = EnterpriseMatcher(REGISTRY).match(typed)
    assert match.candidates and match.candidates[0].id == expected, match


def test_the_phrase_dictionary_is_not_loaded() -> None:
    probe = (
        "import json, os, sys\n"
        "from bot.matching import EnterpriseMatcher\n"
        "EnterpriseMatcher([(1, '中国银行北京分行', None, 1)]).match('zhongguoyinhang')\n"
        "print(json.dumps(['pypinyin.phrases_dict' in sys.modules, 'pypinyin' in sys.modules,"
        " 'PYPINYIN_NO_PHRASES' in os.environ]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    phrases, loaded, left_in_environment = json.loads(done.stdout)
    assert loaded and not phrases and not left_in_environment
