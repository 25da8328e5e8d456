"""Matching the employer a worker types against the enterprise registry.

Pure and in memory: no I/O, so the same matcher serves the conversation, staff search and
the benchmark. The rule that matters most: an automatic pick only when it is certain (a
valid USCC, or exactly one registered enterprise with the same normalised name). Anything
else is offered as buttons, because a wrong automatic pick silently counts a member at
the wrong enterprise, while a button costs the worker one tap.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import NamedTuple

import opencc
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from bot.pinyin import full_and_initials, readings
from bot.validation import ValidationError, validate_resident_id, validate_uscc

__all__ = [
    "Candidate",
    "EnterpriseMatcher",
    "Match",
    "brand",
    "find_uscc",
    "full_key",
    "normalise",
]

# ---------------------------------------------------------------------------- normalise


def _words(text: str) -> list[str]:
    return text.split()


# Longest first: "集团有限公司" must go before "有限公司" leaves "集团" behind.
_LEGAL_FORMS = tuple(
    sorted(
        (
            "集团股份有限公司", "集团有限责任公司", "集团有限公司", "集团公司", "股份有限公司",
            "有限责任公司", "有限公司", "股份公司", "总公司", "公司", "集团",
            "有限合伙", "普通合伙", "合伙企业", "个人独资企业", "独资企业",
        ),
        key=len,
        reverse=True,
    )
)  # fmt: skip
_CITY_PREFIXES = ("北京市", "北京")
# A branch (分公司) is a legal unit of its own with its own USCC: kept in the key so the
# head office and each branch stay apart, but the head's legal form before it is dropped.
_BRANCH = re.compile(
    r"^(?P<head>.+?(?:有限责任公司|股份有限公司|有限公司|公司))"
    r"(?P<branch>(?:(?!公司).){1,12}?(?:分公司|分店|分行|支行|营业部|办事处|分部|分厂|分所|分院))$"
)
_BRACKETS = re.compile(r"[(\[【〔［]([^()\[\]【】〔〕［］]*)[)\]】〕］]")
_REGIONS = frozenset(
    _words("中国 北京 天津 上海 重庆 河北 深圳 广州 杭州 南京 武汉 成都 西安 香港 澳门 台湾")
)
_NOT_WORD = re.compile(r"[\W_]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# English legal forms and the city, dropped from Latin names ("ByteDance Co., Ltd.").
_LATIN_DROP = frozenset(
    _words(
        "co ltd limited inc incorporated corp corporation company llc plc group holdings "
        "gmbh sa ag the"
    )
)
# Trailing industry words: what is left is the brand workers abbreviate to ("字节跳动").
# 科技/技术 stay in the key (they tell 华创科技 from 华创物业); only `brand` drops them.
_INDUSTRY = tuple(
    sorted(
        set(
            _words(
                "信息技术 网络科技 科技发展 技术开发 技术服务 信息科技 数据科技 智能科技 "
                "电子商务 文化传媒 文化传播 文化发展 文化艺术 传媒 广告 餐饮管理 餐饮服务 餐饮 "
                "建筑工程 工程技术 工程 建设 物业管理 物业服务 物业 管理咨询 企业管理 咨询 "
                "商贸 贸易 商业 投资管理 投资 资产管理 房地产开发 房地产 置业 教育科技 教育 "
                "培训 医药 生物 健康 服务 发展 实业 网络 软件 数据 智能 设计 装饰 物流 运输 "
                "供应链 人力资源 家政 酒店管理 酒店 旅游 汽车 电子 通信 新能源 环保 文化 "
                "体育 金融 保险 出版 印刷 制造 科技 技术 信息 管理 国际 控股 企业管理咨询 企业 "
                "信息服务 互联网 经纪 房地产经纪 家政服务 装饰工程 网络技术 生物技术 "
                "商务服务 劳务派遣 劳务 清洁服务 保安服务 美容美发 超市 商店 商场 门诊部 诊所"
            )
        ),
        key=len,
        reverse=True,
    )
)


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _fold(text: str) -> str:
    """Width, case and traditional characters folded (about 2 µs): 字節跳動 is 字节跳动."""
    return _t2s().convert(unicodedata.normalize("NFKC", text).lower())


def _bracket(inner: str, chinese_name: bool) -> str:
    """（北京） and （有限合伙） say nothing about which enterprise it is, and a Latin name
    in brackets after a Chinese one is an alias: all dropped. Other bracketed text
    ("（集团）") stays, without the brackets."""
    inner = _NOT_WORD.sub("", inner)
    if inner in _REGIONS or inner.removesuffix("市") in _REGIONS or inner in _LEGAL_FORMS:
        return ""
    if chinese_name and not _CJK.search(inner):
        return ""
    return inner


def _strip_legal_forms(text: str) -> str:
    changed = True
    while changed and text not in _LEGAL_FORMS:  # "有限公司" alone stays itself
        changed = False
        for form in _LEGAL_FORMS:
            if text.endswith(form) and len(text) - len(form) >= 2:
                text, changed = text[: -len(form)], True
                break
    return text


def _strip_city(text: str) -> str:
    for prefix in _CITY_PREFIXES:
        if text.startswith(prefix) and len(text) - len(prefix) >= 2:
            return text[len(prefix) :]
    return text


def _latin_words(text: str) -> list[str]:
    """The words of a Latin name without its legal form, city and articles."""
    words = [w for w in _NOT_WORD.split(text) if w]
    while len(words) > 1 and words[-1] in _LATIN_DROP:
        words.pop()
    if len(words) > 1 and words[0] == "beijing":
        words.pop(0)
    return [w for w in words if w != "the"] or words


def _resolved(name: str) -> tuple[str, bool]:
    """The folded name with its brackets resolved, and whether it is a Chinese name."""
    text = _fold(name).strip()
    chinese = _CJK.search(text) is not None
    return _BRACKETS.sub(lambda found: _bracket(found.group(1), chinese), text), chinese


@lru_cache(maxsize=65_536)
def _parts(name: str) -> tuple[str, str]:
    """(head key, branch): the branch part is empty for a head office."""
    text, chinese = _resolved(name)
    if not chinese:
        return "".join(_latin_words(text)), ""
    text = _NOT_WORD.sub("", text)
    head, branch = text, ""
    found = _BRANCH.match(text)
    if found is not None:
        head, branch = found.group("head"), found.group("branch")
    return _strip_legal_forms(_strip_city(head)), branch


def normalise(name: str) -> str:
    """A comparison key: "北京字节跳动科技有限公司" → "字节跳动科技".

    Width-folded and lower-cased; brackets, spaces and punctuation removed (a region or
    legal form in brackets is removed with its content); the 北京市/北京 prefix and the
    legal-form suffix dropped; a branch keeps its name ("…有限公司海淀分公司" → "…海淀分公司").
    """
    head, branch = _parts(name)
    return head + branch


@lru_cache(maxsize=65_536)
def full_key(name: str) -> str:
    """The whole name, legal form, city and branch kept, only folded: tells
    北京泰悦物流有限责任公司 from 北京泰悦物流股份有限公司, which `normalise` makes equal. A
    Latin name in brackets after a Chinese one is an alias and left out."""
    text = _fold(name)
    if _CJK.search(text):
        text = _BRACKETS.sub(_chinese_only, text)
    return _NOT_WORD.sub("", text)


def _chinese_only(found: re.Match[str]) -> str:
    return found.group(1) if _CJK.search(found.group(1)) else ""


@lru_cache(maxsize=65_536)
def _alias_form(text: str) -> str:
    """How aliases are compared: a Chinese one by its key, a Latin one by its words in
    sorted order ("LUCKIN-COFFEE Co., Ltd." → "coffee luckin"), as token-sort does."""
    resolved, chinese = _resolved(text)
    return normalise(text) if chinese else " ".join(sorted(_latin_words(resolved)))


def _alias_keys(text: str) -> frozenset[str]:
    """Exact alias keys: the words in typed and in sorted order ("LuckinCoffee" too)."""
    return frozenset((normalise(text), _alias_form(text).replace(" ", ""))) - {""}


def brand(name: str) -> str:
    """The brand: the key without branch and trailing industry words, which is what
    workers abbreviate a name to ("北京字节跳动科技有限公司海淀分公司" → "字节跳动")."""
    key = _parts(name)[0]
    changed = True
    while changed:
        changed = False
        for word in _INDUSTRY:
            if key.endswith(word) and len(key) - len(word) >= 2:
                key, changed = key[: -len(word)], True
                break
    return key


# ---------------------------------------------------------------------------- USCC

_USCC_TOKEN = re.compile(r"(?<![0-9A-Z])[0-9A-Z]{18}(?![0-9A-Z])")


def find_uscc(text: str) -> tuple[str | None, bool]:
    """(a valid USCC found in the text, whether something looked like one but failed)."""
    compact = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", text)).upper()
    looked_like_one = False
    for token in _USCC_TOKEN.findall(compact):
        if _is_resident_id(token):
            # A worker's id number typed into the wrong field passes the USCC check one
            # time in 31; taken for a USCC it would be stored in plain text (invariant 7).
            continue
        looked_like_one = looked_like_one or sum(ch.isdigit() for ch in token) >= 8
        try:
            return validate_uscc(token), False
        except ValidationError:
            continue
    return None, looked_like_one


def _is_resident_id(token: str) -> bool:
    try:
        validate_resident_id(token)
    except ValidationError:
        return False
    return True


# ---------------------------------------------------------------------------- pinyin


@lru_cache(maxsize=65_536)
def _pinyin(text: str) -> tuple[str, str]:
    """(full pinyin, initials) of the Chinese characters; other characters kept as is."""
    return full_and_initials(text)


@lru_cache(maxsize=65_536)
def _syllables(text: str) -> tuple[str, ...]:
    """The pinyin of each character: 瑞幸 and 瑞兴 are both ("rui", "xing")."""
    return tuple(readings(text))


def _is_subsequence(short: Sequence[str], long: Sequence[str]) -> bool:
    chars = iter(long)
    return all(ch in chars for ch in short)


# ---------------------------------------------------------------------------- branches

# What a worker adds for their store or branch (盒马鲜生望京店, 中国银行西城支行), longest
# first so that 门店 wins over 店; a place name of up to six characters goes before it.
_BRANCH_WORDS = (
    "分公司",
    "办事处",
    "营业部",
    "服务点",
    "分店",
    "门店",
    "网点",
    "支行",
    "分行",
    "店",
)
_BRANCH_WORD = re.compile("(?:" + "|".join(_BRANCH_WORDS) + r")\s*$")
_PLACE_MAX = 6


# ---------------------------------------------------------------------------- matcher


class Candidate(NamedTuple):
    id: int
    name: str
    score: int


@dataclass(frozen=True)
class Match:
    """`auto`: the enterprise picked without asking (only when certain), else None.
    `candidates`: the best few, best first, to offer as buttons.
    `uscc`: a valid USCC found in the text (even one the registry does not know).
    `uscc_invalid`: the text looked like a USCC but the check character is wrong.
    `branch`: the store or branch typed after the employer ("望京店"), when the employer
    was found without it; worth keeping as a note on the application."""

    auto: int | None = None
    candidates: tuple[Candidate, ...] = ()
    uscc: str | None = None
    uscc_invalid: bool = False
    branch: str | None = None


Entry = tuple[int, str, str | None, int | None]
_POOL = 25  # candidates taken from each field before reranking
_CUTOFF = 40.0  # retrieval, per field
_MIN_SCORE = 60  # below this a candidate is noise, not worth a button
_RIVAL = 95
_PROVISIONAL_RIVAL = 85
# Typed characters found in a name score at least _EVIDENCE (up to +10 for how much of
# the name they cover); a match on sound alone then stays below it.
_EVIDENCE = 80
_SOUND_CAP = _EVIDENCE - 1
# Below this a candidate is a weak guess: offered only when it is the best one. Calibrated
# with bench/bench_matching.py: typos of registered names against unregistered employers.
# A second or third button also needs `_holds`: the score alone cannot tell a typo from
# an unregistered neighbour (both share the trade words and one character of the brand).
_PLAUSIBLE = 83


@dataclass
class _Fields:
    keys: list[str] = field(default_factory=list)
    brands: list[str] = field(default_factory=list)
    branches: list[str] = field(default_factory=list)
    pinyin: list[str] = field(default_factory=list)
    brand_pinyin: list[str] = field(default_factory=list)
    brand_initials: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    alias_owner: list[int] = field(default_factory=list)  # alias index → entry index


class _Found(NamedTuple):
    auto: int | None
    candidates: tuple[Candidate, ...]
    best: float  # the best candidate's score, 0 with none


class EnterpriseMatcher:
    """Built once from (id, name, uscc, street_id) rows; `match` takes about a millisecond
    for a few thousand names (rapidfuzz over precomputed choice lists).

    `aliases`: other names of an enterprise (brands such as 盒马鲜生, English names).
    `provisional`: enterprises made from workers' text (they yield to registered ones).
    `unconfirmed`: provisional ones no staff member has confirmed: `match` never returns
    them unless asked (`include_unconfirmed`, for staff), because their names are whatever
    one worker typed and must not be offered to other workers."""

    def __init__(
        self,
        entries: Iterable[Entry],
        *,
        aliases: Mapping[int, Sequence[str]] | None = None,
        provisional: Collection[int] = (),
        unconfirmed: Collection[int] = (),
    ) -> None:
        self.ids: list[int] = []
        self.names: list[str] = []
        self.streets: list[int | None] = []
        self.provisional: list[bool] = []
        self.unconfirmed: list[bool] = []
        self._by_uscc: dict[str, int] = {}
        self._by_full: dict[str, list[int]] = {}
        self._by_key: dict[str, list[int]] = {}
        self._by_brand: dict[str, list[int]] = {}
        self._by_first: dict[str, list[int]] = {}
        self._by_alias: dict[str, set[int]] = {}
        self._aliases: dict[int, list[str]] = {}
        self._f = _Fields()
        provisional_ids, unconfirmed_ids = set(provisional), set(unconfirmed)
        for entry_id, name, uscc, street_id in entries:
            self._add(entry_id, name, uscc, street_id, entry_id in provisional_ids)
            self.unconfirmed.append(entry_id in unconfirmed_ids)
        self._any_unconfirmed = any(self.unconfirmed)
        self._position = {entry_id: index for index, entry_id in enumerate(self.ids)}
        for entry_id, names in (aliases or {}).items():
            index = self._position.get(entry_id)
            for alias in names if index is not None else ():
                self._add_alias(index, alias)

    def __len__(self) -> int:
        return len(self.ids)

    def _add(
        self, entry_id: int, name: str, uscc: str | None, street: int | None, provisional: bool
    ) -> None:
        index = len(self.ids)
        head, branch = _parts(name)
        key, core = head + branch, brand(name)
        self.ids.append(entry_id)
        self.names.append(name)
        self.streets.append(street)
        self.provisional.append(provisional)
        if uscc:
            self._by_uscc[uscc.upper()] = index
        self._by_full.setdefault(full_key(name), []).append(index)
        self._by_key.setdefault(key, []).append(index)
        self._by_brand.setdefault(core, []).append(index)
        if key:
            self._by_first.setdefault(key[0], []).append(index)
        full, _initials = _pinyin(key)
        core_full, core_initials = _pinyin(core)
        f = self._f
        f.keys.append(key)
        f.brands.append(core)
        f.branches.append(branch)
        f.pinyin.append(full)
        f.brand_pinyin.append(core_full)
        f.brand_initials.append(core_initials)
        if not _CJK.search(name):
            return
        # An English or pinyin name in brackets, "…（ByteDance）", is an alias.
        for inner in _BRACKETS.findall(unicodedata.normalize("NFKC", name)):
            if inner.strip() and not _CJK.search(inner):
                self._add_alias(index, inner)

    def _add_alias(self, index: int, alias: str) -> None:
        form = _alias_form(alias)
        if not form:
            return
        self._f.aliases.append(form)
        self._f.alias_owner.append(index)
        self._aliases.setdefault(index, []).append(form)
        for key in _alias_keys(alias):
            self._by_alias.setdefault(key, set()).add(index)

    # ------------------------------------------------------------------------ match

    def match(
        self,
        text: str,
        street_id: int | None = None,
        limit: int = 3,
        *,
        include_unconfirmed: bool = False,
    ) -> Match:
        text = text[:200]  # bounds the work on a pasted essay
        uscc, uscc_invalid = find_uscc(text)
        if uscc is not None:
            index = self._by_uscc.get(uscc)
            if index is None or (self.unconfirmed[index] and not include_unconfirmed):
                return Match(uscc=uscc)
            return Match(auto=self.ids[index], candidates=(self._candidate(index, 100),), uscc=uscc)
        shown = include_unconfirmed or not self._any_unconfirmed
        split = self._split_branch(text)
        found = self._find(text, street_id, limit, shown)
        if split is None or self._known(text) or self._registered_branch(found, split[1]):
            return Match(found.auto, found.candidates, None, uscc_invalid)
        head, where = split
        without = self._find(head, street_id, limit, shown)
        if without.candidates and (without.best >= found.best or self._known(head)):
            return Match(without.auto, without.candidates, None, uscc_invalid, where)
        return Match(found.auto, found.candidates, None, uscc_invalid)

    def _find(self, text: str, street_id: int | None, limit: int, shown: bool) -> _Found:
        query = normalise(text)
        if not query:
            return _Found(None, (), 0.0)
        alias_query = _alias_form(text)
        scores = {
            i: s
            for i, s in self._scores(query, alias_query).items()
            if s >= _MIN_SCORE and self._offered(i, shown)
        }
        auto = self._exact(text, shown)
        if auto is None:
            auto = self._auto(query, scores, shown)
        if auto is None:
            auto = self._alias_auto(text, query, scores, shown)
        if auto is not None:
            scores[auto] = 100
        ranked = sorted(scores, key=lambda i: self._rank(i, scores[i], query, street_id, auto))
        # The best is offered even when weak; more buttons only for names that hold what
        # was typed (`_holds`), so an employer the registry lacks gets one guess, not three
        # names that share its trade and one character (泽捷管理咨询: 达泽, 捷拓, 泽拓…).
        offered = ranked[:1] + [
            i
            for i in ranked[1:limit]
            if scores[i] >= _PLAUSIBLE and self._holds(i, query, alias_query)
        ]
        candidates = tuple(self._candidate(i, scores[i]) for i in offered)
        best = scores[ranked[0]] if ranked else 0.0
        return _Found(None if auto is None else self.ids[auto], candidates, best)

    def _offered(self, index: int, shown: bool) -> bool:
        """Whether the entry takes part: unconfirmed provisional ones only when `shown`
        (staff searching). One not taking part is neither picked nor anyone's rival."""
        return shown or not self.unconfirmed[index]

    def _candidate(self, index: int, score: float) -> Candidate:
        return Candidate(self.ids[index], self.names[index], min(100, round(score)))

    def _rank(
        self, index: int, score: float, query: str, street_id: int | None, auto: int | None
    ) -> tuple[float, ...]:
        # The automatic pick first. Ties (a brand shared by the head office and its
        # branches) go to the same street, then to the registered enterprise, then to
        # the closest length, then to the fewest edits: a typo replaces a character in
        # its place (川睿 is nearer 川展 than 展川, which `ratio` scores alike).
        same_street = street_id is not None and self.streets[index] == street_id
        key = self._f.keys[index]
        closeness = fuzz.ratio(query, key)
        return (
            index != auto,
            -round(score),
            -same_street,
            self.provisional[index],
            -closeness,
            Levenshtein.distance(query, key),
            index,
        )

    def _holds(self, index: int, query: str, alias_query: str) -> bool:
        """Whether the name holds what was typed, as a slip of it would: every character
        typed, in order (one left out, an abbreviation), or their sounds in order (a
        homophone picked from the input method), or the whole brand (a word added or
        mistyped after it); a Latin text in the name's pinyin or as an alias, whole or
        in part. An unregistered employer usually matches a name only in part."""
        f = self._f
        key = f.keys[index]
        if _CJK.search(query):
            brand = f.brands[index]
            if (
                _is_subsequence(query, key)
                or (brand and brand in query)
                or _is_subsequence(_syllables(query), _syllables(key))
            ):
                return True
        elif _is_subsequence(query, f.pinyin[index]):  # full pinyin or initials
            return True
        typed = alias_query.split()
        compact = "".join(typed)
        return any(
            set(words) <= set(typed) or _is_subsequence(compact, "".join(words))
            for words in map(str.split, self._aliases.get(index, ()))
        )

    # ------------------------------------------------------------------------ certainty

    def _exact(self, text: str, shown: bool) -> int | None:
        """The one registered enterprise whose whole name, legal form included, is the
        text: 北京泰悦物流有限责任公司, even with 北京泰悦物流股份有限公司 registered too. A
        provisional one is what a worker typed and goes through `_auto`'s rivals."""
        same = [i for i in self._by_full.get(full_key(text), []) if self._offered(i, shown)]
        if len(same) == 1 and not self.provisional[same[0]]:
            return same[0]
        return None

    def _auto(self, query: str, scores: dict[int, float], shown: bool) -> int | None:
        # An unconfirmed enterprise that is not shown is neither picked nor a rival.
        same = [i for i in self._by_key.get(query, []) if self._offered(i, shown)]
        if len(same) != 1:
            return None
        index = same[0]
        # The same key is still not proof when another enterprise is nearly as good:
        # "华创" is the whole name of 华创有限公司 but also the brand of 华创科技有限公司. A
        # worker's spelling stored earlier (provisional) yields to registered ones sooner.
        for other, score in scores.items():
            if other == index:
                continue
            if score >= _RIVAL or (
                self.provisional[index]
                and not self.provisional[other]
                and score >= _PROVISIONAL_RIVAL
            ):
                return None
        return index

    def _alias_auto(
        self, text: str, query: str, scores: dict[int, float], shown: bool
    ) -> int | None:
        """The one enterprise with this alias ("Luckin Coffee", 盒马鲜生), unless another
        has it as its name or is nearly as good a match."""
        owners = {
            i
            for key in _alias_keys(text)
            for i in self._by_alias.get(key, ())
            if self._offered(i, shown)
        }
        if len(owners) != 1:
            return None
        (index,) = owners
        # An unconfirmed one that is not shown is no rival: often it is the very name a
        # worker typed that staff then made this enterprise's alias.
        if any(i != index and self._offered(i, shown) for i in self._by_key.get(query, [])):
            return None
        if any(score >= _RIVAL for other, score in scores.items() if other != index):
            return None
        return index

    # ------------------------------------------------------------------------ branches

    def _known(self, text: str) -> bool:
        """Whether the text is a name, brand or alias of some enterprise, exactly."""
        key = normalise(text)
        return bool(
            full_key(text) in self._by_full
            or key in self._by_key
            or key in self._by_brand
            or not _alias_keys(text).isdisjoint(self._by_alias)
        )

    def _split_branch(self, text: str) -> tuple[str, str] | None:
        """(employer, branch as typed) for "盒马鲜生望京店" → ("盒马鲜生", "望京店"): the
        longest employer part that is a known name, brand or alias, else the one before a
        two-character place."""
        typed = unicodedata.normalize("NFKC", text).strip()
        folded = _t2s().convert(typed)
        if len(folded) != len(typed):  # cut where the simplified text is cut
            typed = folded
        word = _BRANCH_WORD.search(folded)
        if word is None or not _CJK.search(folded[: word.start()]):
            return None
        cuts = [
            cut
            for cut in range(word.start(), 1, -1)
            if len(folded[cut : word.start()].strip()) <= _PLACE_MAX
        ]
        if not cuts:
            return None
        known = next((cut for cut in cuts if self._known(folded[:cut])), None)
        cut = known if known is not None else cuts[min(2, len(cuts) - 1)]
        head, where = typed[:cut].strip(), typed[cut:].strip()
        return (head, where) if len(normalise(head)) >= 2 else None

    def _registered_branch(self, found: _Found, where: str) -> bool:
        """Whether an offered candidate is the registered branch the worker named: one
        with the place typed in its branch name (全聚德前门分店 → …有限公司前门分店)."""
        place = _BRANCH_WORD.sub("", _fold(where)).strip()
        branches = (self._f.branches[self._position[c.id]] for c in found.candidates)
        return bool(place) and any(place in branch for branch in branches)

    # ------------------------------------------------------------------------ scores

    def _scores(self, query: str, alias_query: str) -> dict[int, float]:
        """Retrieve with the cheap `ratio` over every field, then score the pool (a few
        dozen) with the expensive scorers: WRatio over all names costs ~1.5 ms a field."""
        chinese = _CJK.search(query) is not None
        q_pinyin = _pinyin(query)[0] if chinese else query
        pool: set[int] = set()
        for choices, q in self._retrieval_fields(query, q_pinyin, alias_query, chinese):
            for _choice, _score, index in process.extract(
                q, choices, scorer=fuzz.ratio, limit=_POOL, score_cutoff=_CUTOFF
            ):
                pool.add(self._f.alias_owner[index] if choices is self._f.aliases else index)
        evidence = self._evidence(query) if chinese and len(query) >= 2 else {}
        pool.update(evidence)
        scores: dict[int, float] = {}
        for i in pool:
            by_chars, by_sound = self._score(i, query, q_pinyin, alias_query, chinese)
            if evidence and i not in evidence:
                # Characters typed beat sound-alikes: 瑞幸 finds 瑞幸咖啡 before 瑞兴咨询.
                by_sound = min(by_sound, _SOUND_CAP)
            scores[i] = max(by_chars, by_sound, evidence.get(i, 0.0))
        return scores

    def _retrieval_fields(
        self, query: str, q_pinyin: str, alias_query: str, chinese: bool
    ) -> list[tuple[list[str], str]]:
        f = self._f
        fields = [(f.keys, query), (f.pinyin, q_pinyin), (f.brand_pinyin, q_pinyin)]
        fields.append((f.brands, query) if chinese else (f.brand_initials, query))
        if f.aliases:
            fields.append((f.aliases, alias_query))
        return fields

    def _score(
        self, index: int, query: str, q_pinyin: str, alias_query: str, chinese: bool
    ) -> tuple[float, float]:
        """(score by the characters typed, score by their sound)."""
        f = self._f
        by_chars = [fuzz.WRatio(query, f.keys[index])]
        # Typed in pinyin, or a homophone picked from the input method's list.
        by_sound = [
            fuzz.WRatio(q_pinyin, f.pinyin[index]) * (0.9 if chinese else 0.95),
            fuzz.ratio(q_pinyin, f.brand_pinyin[index]) * (0.92 if chinese else 0.98),
        ]
        if chinese:
            by_chars.append(fuzz.ratio(query, f.brands[index]) * 0.98)
        elif len(query) <= 6:
            by_chars.append(fuzz.ratio(query, f.brand_initials[index]) * 0.95)
        by_chars.extend(fuzz.WRatio(alias_query, alias) for alias in self._aliases.get(index, ()))
        return max(by_chars), max(by_sound)

    def _evidence(self, query: str) -> dict[int, float]:
        """Names holding the characters typed, with a score of at least _EVIDENCE:
        abbreviations keep them in order (首旅 for 首都旅游, 中石化 for 中国石油化工;
        looked for among names sharing the first character), and a worker may add a word
        to the brand (盒马鲜生 for 北京盒马网络科技有限公司)."""
        found: dict[int, float] = {}
        for index in self._by_first.get(query[0], ()):
            key = self._f.keys[index]
            if len(key) >= len(query) and _is_subsequence(query, key):
                found[index] = _EVIDENCE + 10 * len(query) / len(key)
        for end in range(2, len(query)):
            for index in self._by_brand.get(query[:end], ()):
                score = _EVIDENCE + 10 * end / len(query)
                found[index] = max(found.get(index, 0.0), score)
        return found
