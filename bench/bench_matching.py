"""Matching what workers type against a registry of ~3,000 Beijing enterprises.

Generates the registry (brands, industry words, legal forms, branches, brands shared by two
enterprises, pairs differing only in their legal form, sound-alike brands such as 瑞幸 and
瑞兴, brand and English aliases) and what workers type for them, then prints, per kind of
query, how often the right enterprise comes first, how often it is among the three
buttons, how often the matcher picked automatically and how often wrongly, and the time
per query. Unregistered employers are typed too: they must never be picked automatically
and get at most one (weak) button.

Two seeds: calibrate on the development seed (the default) only; run the acceptance seed
once, at the end, to check that the figures were not fitted to one generated set.

    python -m bench.bench_matching [--size 3000] [--seed 7] [--queries 12000] [--out DIR]
    python -m bench.bench_matching --seed 20250611   # the acceptance set
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import opencc
from pypinyin import Style, lazy_pinyin

from bot.matching import EnterpriseMatcher, Match, normalise

DEVELOPMENT_SEED = 7
ACCEPTANCE_SEED = 20250611

# Registered name, brand, aliases the registry import gives (brands and English names).
FAMOUS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("北京字节跳动科技有限公司", "字节跳动", ("ByteDance", "抖音")),
    ("北京百度网讯科技有限公司", "百度网讯", ("Baidu", "百度")),
    ("北京京东世纪贸易有限公司", "京东世纪", ("JD.com", "京东")),
    ("北京三快在线科技有限公司", "三快在线", ("Meituan", "美团")),
    ("小米通讯技术有限公司", "小米通讯", ("Xiaomi", "小米")),
    ("北京小桔科技有限公司", "小桔", ("DiDi", "滴滴出行")),
    ("北京新浪互联信息服务有限公司", "新浪互联", ("Sina", "新浪")),
    ("北京搜狐互联网信息服务有限公司", "搜狐", ("Sohu",)),
    ("网易有道信息技术（北京）有限公司", "网易有道", ("Youdao", "有道")),
    ("北京快手科技有限公司", "快手", ("Kuaishou",)),
    ("北京爱奇艺科技有限公司", "爱奇艺", ("iQIYI",)),
    ("北京链家房地产经纪有限公司", "链家", ("Lianjia", "Homelink")),
    ("中国全聚德（集团）股份有限公司", "全聚德", ("Quanjude",)),
    ("北京庆丰包子铺", "庆丰包子铺", ("Qingfeng",)),
    ("中国北京同仁堂（集团）有限责任公司", "同仁堂", ("Tong Ren Tang",)),
    ("北京盒马网络科技有限公司", "盒马", ("盒马鲜生", "Freshippo")),
    ("北京瑞幸咖啡有限公司", "瑞幸", ("Luckin Coffee",)),
    ("北京瑞兴咨询有限公司", "瑞兴", ()),  # sounds like 瑞幸: ruixing
    ("北京海底捞餐饮管理有限公司", "海底捞", ("Haidilao Hot Pot",)),
    ("中国银行股份有限公司", "中国银行", ("Bank of China",)),
)
BRAND_CHARS = (
    "华创信达安博联中金通宏远鑫瑞德盛恒泰嘉元新天正明光海源智汇星辰云睿启航佳和美优众合力丰润"
    "晟昊宇骏腾飞龙凯锦荣诚益康顺兴隆昌祥永长万方东峰岳山川林森蓝青银盈福乐思维尚品致远卓越"
    "精艺鼎弘毅景诺威捷迅拓展铭轩泽雅逸涵"
)
# Characters that sound like brand characters, for sound-alike brands (瑞幸 / 瑞兴).
SOUND_CHARS = BRAND_CHARS + "幸欣馨昕鸿泓锐蕊悦钰昱煜晨臣韵运远园缘圣胜升航杭"
INDUSTRIES = (
    "科技", "信息技术", "网络科技", "文化传媒", "文化传播", "餐饮管理", "建筑工程", "物业管理",
    "管理咨询", "企业管理咨询", "商贸", "贸易", "投资管理", "房地产开发", "教育科技", "医药",
    "物流", "装饰工程", "人力资源", "家政服务", "酒店管理", "旅游", "广告", "软件", "电子商务",
)  # fmt: skip
LEGAL_FORMS = (("有限公司", 70), ("有限责任公司", 15), ("股份有限公司", 8), ("集团有限公司", 4))
DISTRICTS = ("西城", "东城", "海淀", "朝阳", "丰台", "石景山", "德胜", "金融街", "新街口")
# Where a worker's store or branch is, and what they call it.
PLACES = (
    "望京", "西单", "德胜门", "中关村", "五道口", "国贸", "三里屯", "西直门", "前门", "王府井",
    "亦庄", "回龙观", "天通苑", "双井", "大望路", "牡丹园", "北苑", "酒仙桥", "四惠", "方庄",
)  # fmt: skip
BRANCH_WORDS = ("店", "分店", "门店", "营业部", "网点", "服务点", "分公司", "办事处")
STORE_WORDS = ("鲜生", "咖啡", "便利", "优选", "烘焙", "健身", "超市", "书店", "茶饮", "生鲜")
ENGLISH_PARTS = ("Sino", "Hua", "Star", "Link", "Nova", "Bright", "Zen", "Peak", "Luma", "Orion")
ENGLISH_WORDS = ("", "bay", "ridge", "wave", "gate", "field", "stone", "core", "path", "mint")
ENGLISH_TAILS = ("Tech", "Media", "Group", "Labs", "Works", "Soft", "Data", "Foods", "Build")

# The kinds the targets are set for, and the other variants (reported, no target).
TARGETED = (
    "exact", "exact_pair", "alias", "english", "traditional", "branch", "typo", "brand",
    "brand_sign",
)  # fmt: skip
ABSENT = "absent"


@dataclass
class Company:
    id: int
    name: str
    brand: str
    industry: str
    legal: str
    branch: str = ""  # "海淀分公司" for a branch
    aliases: list[str] = field(default_factory=list)
    head_id: int | None = None
    pair_id: int | None = None  # the same name with another legal form


def _legal(rng: random.Random) -> str:
    forms, weights = zip(*LEGAL_FORMS, strict=True)
    return rng.choices(forms, weights)[0]


def _brand(rng: random.Random, used: set[str]) -> str:
    while True:
        size = rng.choices((2, 3, 4), (60, 30, 10))[0]
        brand = "".join(rng.choice(BRAND_CHARS) for _ in range(size))
        if brand not in used and len(set(brand)) == size:
            used.add(brand)
            return brand


def _english(rng: random.Random, used: set[str]) -> str:
    while True:
        name = f"{rng.choice(ENGLISH_PARTS)}{rng.choice(ENGLISH_WORDS)} {rng.choice(ENGLISH_TAILS)}"
        if name not in used:
            used.add(name)
            return name


def _pinyin(text: str, initials: bool = False) -> str:
    style = Style.FIRST_LETTER if initials else Style.NORMAL
    return "".join(lazy_pinyin(text, style=style))


def _sound_alike(brand: str, rng: random.Random, used: set[str]) -> str | None:
    """The same pinyin in other characters (瑞兴 for 瑞幸), or None if there is none."""
    chars = []
    for ch in brand:
        same = [c for c in SOUND_CHARS if c != ch and _pinyin(c) == _pinyin(ch)]
        chars.append(rng.choice(same) if same and rng.random() < 0.7 else ch)
    alike = "".join(chars)
    if alike == brand or alike in used:
        return None
    used.add(alike)
    return alike


def _compose(brand: str, industry: str, legal: str, rng: random.Random) -> str:
    shape = rng.random()
    if shape < 0.85:
        return f"北京{brand}{industry}{legal}"
    if shape < 0.95:
        return f"{brand}（北京）{industry}{legal}"
    return f"{brand}{industry}{legal}"


def _famous() -> list[Company]:
    companies = []
    for name, brand, aliases in FAMOUS:
        company = Company(len(companies) + 1, name, brand, "", "", aliases=list(aliases))
        companies.append(company)
    return companies


def _new_company(companies: list[Company], rng: random.Random, used: set[str]) -> Company | None:
    """One more enterprise of a random kind (None when the kind does not apply)."""
    roll = rng.random()
    heads = [c for c in companies if not c.branch and c.industry]
    if roll < 0.07:  # a branch of an existing enterprise
        head = rng.choice(heads)
        where = rng.choice(DISTRICTS) + rng.choice(("分公司", "分公司", "分店", "营业部"))
        company = Company(0, head.name + where, head.brand, head.industry, head.legal, where)
        company.head_id = head.id
        return company
    if roll < 0.13:  # a brand shared with another enterprise in another trade
        other = rng.choice(heads)
        industry = rng.choice([i for i in INDUSTRIES if i != other.industry])
        legal = _legal(rng)
        return Company(0, _compose(other.brand, industry, legal, rng), other.brand, industry, legal)
    if roll < 0.16:  # the same name with another legal form (…有限公司 / …股份有限公司)
        other = rng.choice([c for c in heads if c.pair_id is None])
        legal = rng.choice([form for form, _ in LEGAL_FORMS if form != other.legal])
        name = other.name.removesuffix(other.legal) + legal
        company = Company(0, name, other.brand, other.industry, legal, pair_id=other.id)
        other.pair_id = -1  # filled in once this one has its id
        return company
    if roll < 0.19:  # a brand that sounds like another one (瑞幸 / 瑞兴)
        other = rng.choice(heads)
        alike = _sound_alike(other.brand, rng, used)
        if alike is None:
            return None
        industry, legal = rng.choice(INDUSTRIES), _legal(rng)
        return Company(0, _compose(alike, industry, legal, rng), alike, industry, legal)
    brand, industry, legal = _brand(rng, used), rng.choice(INDUSTRIES), _legal(rng)
    company = Company(0, _compose(brand, industry, legal, rng), brand, industry, legal)
    if rng.random() < 0.05:
        company.aliases.append(_english(rng, used))
    if rng.random() < 0.05:  # the shop sign differs from the registered name (盒马鲜生)
        company.aliases.append(_brand(rng, used) + rng.choice(STORE_WORDS))
    return company


def make_registry(size: int, rng: random.Random) -> list[Company]:
    companies = _famous()
    used: set[str] = {c.brand for c in companies}
    names = {c.name for c in companies}
    while len(companies) < size:
        company = _new_company(companies, rng, used)
        if company is None or company.name in names:
            if company is not None and company.pair_id is not None:
                companies[company.pair_id - 1].pair_id = None
            continue
        names.add(company.name)
        company.id = len(companies) + 1
        companies.append(company)
        if company.pair_id is not None:
            companies[company.pair_id - 1].pair_id = company.id
    return companies


def matcher_aliases(companies: list[Company]) -> dict[int, list[str]]:
    """What the registry import gives the matcher: brand and English names."""
    return {c.id: list(c.aliases) for c in companies if c.aliases}


# ---------------------------------------------------------------------------- queries


def _typo(text: str, rng: random.Random) -> str:
    """One wrong character: a same-sounding one (IME slip), a dropped one, or a neighbour."""
    at = rng.randrange(len(text))
    roll = rng.random()
    if roll < 0.5:
        sound = _pinyin(text[at])
        same = [ch for ch in BRAND_CHARS if _pinyin(ch) == sound and ch != text[at]]
        if same:
            return text[:at] + rng.choice(same) + text[at + 1 :]
    if roll < 0.75 and len(text) > 3:
        return text[:at] + text[at + 1 :]
    return text[:at] + rng.choice(BRAND_CHARS) + text[at + 1 :]


@cache
def _traditional(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def _english_variant(english: str, rng: random.Random) -> str:
    """How a worker types an English name: any case, word order, punctuation, suffix."""
    words = english.split()
    if len(words) > 1 and rng.random() < 0.3:
        words.reverse()
    text = rng.choice((" ", " ", "-", ", ")).join(words)
    text = rng.choice((str.lower, str.upper, str.title, str))(text)
    return text + rng.choice(("", "", " Co., Ltd.", " LTD", " Inc.", " (Beijing)"))


def _branch_variant(
    company: Company, registered: dict[int, list[str]], rng: random.Random, unique: set[str]
) -> tuple[str, str] | None:
    """(text, branch part): a store or branch the registry does not list, of this head."""
    place = rng.choice(PLACES)
    if any(place in where for where in registered.get(company.id, [])):
        return None  # a registered branch of this place: that one is the right answer
    where = place + rng.choice(BRANCH_WORDS)
    chinese = [a for a in company.aliases if not a.isascii()]
    roll = rng.random()
    if chinese and roll < 0.4:
        head = rng.choice(chinese)
    elif company.brand in unique and roll < 0.7:
        head = company.brand
    elif roll < 0.85 and company.pair_id is None:
        head = company.name
    elif normalise(company.brand + company.industry) in unique:
        head = company.brand + company.industry
    else:
        return None
    return head + where, where


def variants(
    company: Company,
    rng: random.Random,
    registered: dict[int, list[str]],
    unique: set[str],
) -> list[tuple[str, str, str]]:
    """(kind, text, branch part typed) triples a worker of this company might type."""
    b, i, legal = company.brand, company.industry, company.legal
    if company.branch:
        return [
            ("reg_branch", f"{b}{company.branch}", ""),
            ("reg_branch_full", company.name.replace("北京", "", 1), ""),
        ]
    found = [("exact_pair" if company.pair_id else "exact", company.name, "")]
    for alias in company.aliases:
        if alias.isascii():
            found.append(("english", _english_variant(alias, rng), ""))
        else:
            found.append(("alias", alias, ""))
    config = rng.choice(("s2t", "s2tw", "s2hk"))
    traditional = _traditional(config).convert(company.name)
    if traditional != company.name:
        found.append(("traditional", traditional, ""))
    branch = _branch_variant(company, registered, rng, unique)
    if branch is not None:
        found.append(("branch", *branch))
    if b in unique and normalise(company.name) != b:
        found.append(("brand", b, ""))  # 盒马 for 北京盒马网络科技有限公司: no alias needed
        if not company.aliases:  # the shop sign, 盒马鲜生, that no alias tells
            found.append(("brand_sign", b + rng.choice(STORE_WORDS), ""))
    if not i:
        return found
    typed = _typo(f"{b}{i}", rng) if rng.random() < 0.5 else _typo(f"北京{b}{i}{legal}", rng)
    found += [
        ("typo", typed, ""),
        ("no_city", company.name.replace("北京", "", 1).replace("（）", ""), ""),
        ("no_suffix", f"北京{b}{i}", ""),
        ("abbreviation", b, ""),
        ("brackets", f"{b}（北京）", ""),
        ("spaces_fullwidth", f"北京 {b} {i}".replace("科技", "科 技"), ""),
        ("pinyin", _pinyin(b), ""),
    ]
    if len(b) >= 3:
        found.append(("initials", _pinyin(b, initials=True), ""))
    return found


Query = tuple[Company, str, str, str]  # company, kind, text, branch part typed


def make_queries(companies: list[Company], rng: random.Random, sample: int) -> list[Query]:
    """Up to `sample` queries, the same number of each kind (as many as there are)."""
    keys = Counter(normalise(c.name) for c in companies)
    brands = Counter(c.brand for c in companies if not c.branch)
    unique = {b for b, n in brands.items() if n == 1} | {k for k, n in keys.items() if n == 1}
    registered: dict[int, list[str]] = defaultdict(list)
    for c in companies:
        if c.head_id is not None:
            registered[c.head_id].append(c.branch)
    by_kind: dict[str, list[Query]] = defaultdict(list)
    for company in companies:
        for kind, text, where in variants(company, rng, registered, unique):
            key = normalise(text)
            if kind in ("typo", "traditional") and keys.get(key) and key != normalise(company.name):
                # The typo spells another registered enterprise exactly: indistinguishable
                # from a correct entry, so not a fair test of the matcher.
                continue
            by_kind[kind].append((company, kind, text, where))
    share = max(1, sample // len(by_kind))
    queries: list[Query] = []
    for kind in sorted(by_kind):
        found = by_kind[kind]
        queries += rng.sample(found, share) if len(found) > share else found
    return queries


def unregistered_names(companies: list[Company], rng: random.Random, count: int) -> list[str]:
    """Employers workers name that the registry does not have (new, or outside the district),
    typed the ways registered ones are: an automatic pick for any of them is wrong."""
    used = {c.brand for c in companies} | {a for c in companies for a in c.aliases}
    names = []
    for _ in range(count):
        brand, industry = _brand(rng, used), rng.choice(INDUSTRIES)
        names.append(
            rng.choice(
                (
                    f"北京{brand}{industry}{_legal(rng)}",
                    f"{brand}{industry}",
                    brand,
                    f"{brand}{rng.choice(STORE_WORDS)}{rng.choice(PLACES)}店",
                )
            )
        )
    return names


# ---------------------------------------------------------------------------- run


@dataclass
class Tally:
    total: int = 0
    top1: int = 0
    top3: int = 0
    auto: int = 0
    wrong_auto: int = 0
    branch_kept: int = 0  # the branch part handed back as typed
    buttons: Counter[int] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        for name in ("total", "top1", "top3", "auto", "wrong_auto", "branch_kept"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.buttons.update(other.buttons)


def run(size: int, seed: int, sample: int, out: Path | None) -> None:
    rng = random.Random(seed)
    companies = make_registry(size, rng)
    started = time.perf_counter()
    matcher = EnterpriseMatcher(
        [(c.id, c.name, None, None) for c in companies], aliases=matcher_aliases(companies)
    )
    build = time.perf_counter() - started
    queries = make_queries(companies, rng, sample)
    absent = unregistered_names(companies, rng, max(200, sample // 16))

    by_kind: dict[str, Tally] = defaultdict(Tally)
    timings: list[float] = []
    misses: list[tuple[str, str, str, str]] = []
    timed = _timer(matcher, timings)
    for company, kind, text, where in queries:
        match = timed(text)
        ids = [c.id for c in match.candidates]
        tally = by_kind[kind]
        tally.total += 1
        tally.top1 += ids[:1] == [company.id]
        tally.top3 += company.id in ids[:3]
        tally.auto += match.auto is not None
        tally.wrong_auto += match.auto is not None and match.auto != company.id
        tally.branch_kept += bool(where) and getattr(match, "branch", None) == where
        tally.buttons[len(ids)] += 1
        if company.id not in ids[:1]:
            got = " / ".join(c.name for c in match.candidates)
            misses.append((kind, text, company.name, got))
    for text in absent:
        match = timed(text)
        tally = by_kind[ABSENT]
        tally.total += 1
        tally.auto += match.auto is not None
        tally.wrong_auto += match.auto is not None
        tally.buttons[len(match.candidates)] += 1
        if len(match.candidates) > 1:
            misses.append((ABSENT, text, "", " / ".join(c.name for c in match.candidates)))

    label = {DEVELOPMENT_SEED: "development", ACCEPTANCE_SEED: "acceptance"}.get(seed, "other")
    print(f"seed {seed} ({label} set); registry: {len(companies)} enterprises, ", end="")
    print(f"{sum(map(len, matcher_aliases(companies).values()))} aliases, built in {build:.2f} s")
    _print(by_kind, timings)
    if seed != ACCEPTANCE_SEED:
        print(f"acceptance set (run once, after calibrating): --seed {ACCEPTANCE_SEED}")
    if out is not None:
        _write(out, companies, queries, misses)


def _timer(matcher: EnterpriseMatcher, timings: list[float]) -> Callable[[str], Match]:
    def timed(text: str) -> Match:
        started = time.perf_counter()
        match = matcher.match(text)
        timings.append(time.perf_counter() - started)
        return match

    return timed


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "-"


def _row(kind: str, t: Tally) -> str:
    buttons = " ".join(f"{n}:{t.buttons[n]}" for n in sorted(t.buttons))
    return (
        f"{kind:<17}{t.total:>7}{_pct(t.top1, t.total):>9}{_pct(t.top3, t.total):>9}"
        f"{_pct(t.auto, t.total):>9}{t.wrong_auto:>7}   {buttons}"
    )


def _print(by_kind: dict[str, Tally], timings: list[float]) -> None:
    header = f"{'kind':<17}{'queries':>7}{'first':>9}{'top-3':>9}{'auto':>9}{'wrong':>7}   buttons"
    targeted, others = Tally(), Tally()
    print(header)
    for kind in TARGETED:
        print(_row(kind, by_kind[kind]))
        targeted.add(by_kind[kind])
    print(_row("TARGETED", targeted))
    print(_row(ABSENT, by_kind[ABSENT]))
    print("other variants (no target):")
    for kind in sorted(set(by_kind) - {*TARGETED, ABSENT}):
        print(_row(kind, by_kind[kind]))
        others.add(by_kind[kind])
    print(_row("OTHERS", others))
    branch = by_kind["branch"]
    print(f"branch part handed back as typed: {_pct(branch.branch_kept, branch.total)}")
    ms = sorted(x * 1000 for x in timings)
    p99 = ms[int(len(ms) * 0.99)]
    print(f"match() per query: median {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms")
    _targets(by_kind, targeted, others)


def _targets(by_kind: dict[str, Tally], targeted: Tally, others: Tally) -> None:
    exact = Tally()
    exact.add(by_kind["exact"])
    exact.add(by_kind["exact_pair"])
    absent = by_kind[ABSENT]
    wrong = targeted.wrong_auto + others.wrong_auto
    checks = [
        ("exact registered names taken automatically = 100%", exact.auto == exact.total),
        ("right enterprise first >= 98%", targeted.top1 >= 0.98 * targeted.total),
        ("right enterprise in the top three >= 99.5%", targeted.top3 >= 0.995 * targeted.total),
        (f"wrong automatic picks = 0 (all kinds: {wrong})", wrong == 0),
        (f"absent employers picked automatically = 0 ({absent.auto})", absent.auto == 0),
        (
            f"absent employers offered at most one button ({_pct(sum(absent.buttons[n] for n in (0, 1)), absent.total)})",  # noqa: E501
            all(n <= 1 for n in absent.buttons if absent.buttons[n]),
        ),
    ]
    print("targets (first and top-3 over the targeted kinds):")
    for text, met in checks:
        print(f"  [{'met' if met else 'MISSED'}] {text}")


def _write(
    out: Path,
    companies: list[Company],
    queries: list[Query],
    misses: list[tuple[str, str, str, str]],
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "registry.csv").open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "企业名称", "aliases"])
        writer.writerows((c.id, c.name, " | ".join(c.aliases)) for c in companies)
    with (out / "variants.csv").open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(["expected_id", "kind", "text", "branch"])
        writer.writerows((c.id, kind, text, where) for c, kind, text, where in queries)
    with (out / "misses.csv").open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kind", "typed", "expected", "offered"])
        writer.writerows(misses)
    print(f"registry, variants and misses (not first) written to {out}/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=DEVELOPMENT_SEED)
    parser.add_argument("--queries", type=int, default=12_000, help="variants sampled")
    parser.add_argument("--out", type=Path, default=None, help="write the generated files here")
    args = parser.parse_args()
    run(args.size, args.seed, args.queries, args.out)


if __name__ == "__main__":
    main()
