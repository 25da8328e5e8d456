"""Matching what workers type against a registry of ~3,000 Beijing enterprises.

Generates the registry (brands, industry words, legal forms, some branches, some English
names, some brands shared by two enterprises) and the variants workers type for them
(abbreviations, missing suffix or city, brackets, one-character typos, pinyin, English),
then prints top-1 and top-3 accuracy, the rate of wrong automatic picks and the time per
query. Aim: top-3 ≥ 95 % with no wrong automatic pick.

    python -m bench.bench_matching [--size 3000] [--seed 7] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from pypinyin import Style, lazy_pinyin

from bot.matching import EnterpriseMatcher, normalise

FAMOUS = {  # brand, industry, English name
    "字节跳动": ("科技", "ByteDance"),
    "百度网讯": ("科技", "Baidu"),
    "京东世纪": ("贸易", "JD.com"),
    "三快在线": ("科技", "Meituan"),
    "小米通讯": ("技术", "Xiaomi"),
    "小桔": ("科技", "DiDi"),
    "新浪互联": ("信息服务", "Sina"),
    "搜狐": ("互联网信息服务", "Sohu"),
    "网易有道": ("信息技术", "Youdao"),
    "快手": ("科技", "Kuaishou"),
    "爱奇艺": ("科技", "iQIYI"),
    "链家": ("房地产经纪", "Lianjia"),
    "全聚德": ("餐饮管理", "Quanjude"),
    "庆丰包子铺": ("餐饮管理", "Qingfeng"),
    "同仁堂": ("医药", "Tong Ren Tang"),
}
BRAND_CHARS = (
    "华创信达安博联中金通宏远鑫瑞德盛恒泰嘉元新天正明光海源智汇星辰云睿启航佳和美优众合力丰润"
    "晟昊宇骏腾飞龙凯锦荣诚益康顺兴隆昌祥永长万方东峰岳山川林森蓝青银盈福乐思维尚品致远卓越"
    "精艺鼎弘毅景诺威捷迅拓展铭轩泽雅逸涵"
)
INDUSTRIES = (
    "科技", "信息技术", "网络科技", "文化传媒", "文化传播", "餐饮管理", "建筑工程", "物业管理",
    "管理咨询", "企业管理咨询", "商贸", "贸易", "投资管理", "房地产开发", "教育科技", "医药",
    "物流", "装饰工程", "人力资源", "家政服务", "酒店管理", "旅游", "广告", "软件", "电子商务",
)  # fmt: skip
LEGAL_FORMS = (("有限公司", 70), ("有限责任公司", 15), ("股份有限公司", 8), ("集团有限公司", 4))
DISTRICTS = ("西城", "东城", "海淀", "朝阳", "丰台", "石景山", "德胜", "金融街", "新街口")
ENGLISH_PARTS = ("Sino", "Hua", "Star", "Link", "Nova", "Bright", "Zen", "Peak", "Luma", "Orion")
ENGLISH_WORDS = ("", "bay", "ridge", "wave", "gate", "field", "stone", "core", "path", "mint")
ENGLISH_TAILS = ("Tech", "Media", "Group", "Labs", "Works", "Soft", "Data", "Foods", "Build")


@dataclass
class Company:
    id: int
    name: str
    brand: str
    industry: str
    legal: str
    branch: str = ""  # "海淀分公司" for a branch
    english: str | None = None
    head_id: int | None = None


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
        name = rng.choice(ENGLISH_PARTS) + rng.choice(ENGLISH_WORDS) + rng.choice(ENGLISH_TAILS)
        if name not in used:
            used.add(name)
            return name


def _compose(brand: str, industry: str, legal: str, rng: random.Random) -> str:
    shape = rng.random()
    if shape < 0.85:
        return f"北京{brand}{industry}{legal}"
    if shape < 0.95:
        return f"{brand}（北京）{industry}{legal}"
    return f"{brand}{industry}{legal}"


def make_registry(size: int, rng: random.Random) -> list[Company]:
    used: set[str] = set(FAMOUS)
    companies: list[Company] = []
    for brand, (industry, english) in FAMOUS.items():
        name = f"北京{brand}{industry}有限公司"
        companies.append(
            Company(len(companies) + 1, name, brand, industry, "有限公司", "", english)
        )
    keys = {normalise(c.name) for c in companies}
    while len(companies) < size:
        roll = rng.random()
        heads = [c for c in companies if not c.branch]
        if roll < 0.07:  # a branch of an existing enterprise
            head = rng.choice(heads)
            where = rng.choice(DISTRICTS) + rng.choice(("分公司", "分公司", "分店", "营业部"))
            company = Company(0, head.name + where, head.brand, head.industry, head.legal, where)
            company.head_id = head.id
        elif roll < 0.14:  # a brand shared with another enterprise in another trade
            other = rng.choice(heads)
            industry = rng.choice([i for i in INDUSTRIES if i != other.industry])
            legal = _legal(rng)
            name = _compose(other.brand, industry, legal, rng)
            company = Company(0, name, other.brand, industry, legal)
        else:
            brand, industry, legal = _brand(rng, used), rng.choice(INDUSTRIES), _legal(rng)
            company = Company(0, _compose(brand, industry, legal, rng), brand, industry, legal)
            if rng.random() < 0.05:
                company.english = _english(rng, used)
        key = normalise(company.name)
        if key in keys:
            continue
        keys.add(key)
        company.id = len(companies) + 1
        companies.append(company)
    return companies


def _pinyin(text: str, initials: bool = False) -> str:
    style = Style.FIRST_LETTER if initials else Style.NORMAL
    return "".join(lazy_pinyin(text, style=style))


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


def variants(company: Company, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, text) pairs a worker of this company might type."""
    b, i, legal = company.brand, company.industry, company.legal
    if company.branch:
        return [
            ("branch", f"{b}{company.branch}"),
            ("branch_full", company.name.replace("北京", "", 1)),
        ]
    found = [
        ("exact", company.name),
        ("no_city", company.name.replace("北京", "", 1).replace("（）", "")),
        ("no_suffix", f"北京{b}{i}"),
        ("abbreviation", b),
        ("brackets", f"{b}（北京）"),
        ("spaces_fullwidth", f"北京 {b} {i}".replace("科技", "科 技")),
        ("typo", _typo(f"{b}{i}", rng)),
        ("typo_full", _typo(f"北京{b}{i}{legal}", rng)),
        ("pinyin", _pinyin(b)),
    ]
    if len(b) >= 3:
        found.append(("initials", _pinyin(b, initials=True)))
    if company.english:
        found.append(("english", company.english))
        found.append(("english_lower", company.english.lower() + " ltd"))
    return found


@dataclass
class Tally:
    total: int = 0
    top1: int = 0
    top3: int = 0
    auto: int = 0
    wrong_auto: int = 0


def run(size: int, seed: int, sample: int, out: Path | None) -> None:
    rng = random.Random(seed)
    companies = make_registry(size, rng)
    aliases = {c.id: [c.english] for c in companies if c.english}
    started = time.perf_counter()
    matcher = EnterpriseMatcher([(c.id, c.name, None, None) for c in companies], aliases=aliases)
    build = time.perf_counter() - started

    queries = make_queries(companies, rng, sample)
    by_kind: dict[str, Tally] = defaultdict(Tally)
    overall = Tally()
    timings: list[float] = []
    misses: list[tuple[str, str, str, str]] = []
    for company, kind, text in queries:
        started = time.perf_counter()
        match = matcher.match(text)
        timings.append(time.perf_counter() - started)
        ids = [c.id for c in match.candidates]
        for tally in (by_kind[kind], overall):
            tally.total += 1
            tally.top1 += ids[:1] == [company.id]
            tally.top3 += company.id in ids[:3]
            tally.auto += match.auto is not None
            tally.wrong_auto += match.auto is not None and match.auto != company.id
        if company.id not in ids[:3]:
            got = " / ".join(c.name for c in match.candidates)
            misses.append((kind, text, company.name, got))

    _print(len(companies), build, by_kind, overall, timings)
    unregistered = unregistered_names(companies, rng, max(100, sample // 20))
    picked = sum(matcher.match(text).auto is not None for text in unregistered)
    print(
        f"employers not in the registry: {len(unregistered)} queries, "
        f"{picked} picked automatically (each one wrong)"
    )
    if out is not None:
        _write(out, companies, queries, misses)


def make_queries(
    companies: list[Company], rng: random.Random, sample: int
) -> list[tuple[Company, str, str]]:
    keys = Counter(normalise(c.name) for c in companies)
    queries: list[tuple[Company, str, str]] = []
    for company in companies:
        for kind, text in variants(company, rng):
            key = normalise(text)
            if keys.get(key) and key != normalise(company.name):
                # The typo spells another registered enterprise exactly: indistinguishable
                # from a correct entry, so not a fair test of the matcher.
                continue
            queries.append((company, kind, text))
    return rng.sample(queries, sample) if len(queries) > sample else queries


def unregistered_names(companies: list[Company], rng: random.Random, count: int) -> list[str]:
    """Employers workers name that the registry does not have (new, or outside the district),
    typed the ways registered ones are: an automatic pick for any of them is wrong."""
    used = {c.brand for c in companies}
    names = []
    for _ in range(count):
        brand, industry = _brand(rng, used), rng.choice(INDUSTRIES)
        names.append(
            rng.choice((f"北京{brand}{industry}{_legal(rng)}", f"{brand}{industry}", brand))
        )
    return names


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:6.2f}%" if whole else "     -"


def _print(
    size: int, build: float, by_kind: dict[str, Tally], overall: Tally, timings: list[float]
) -> None:
    print(f"registry: {size} enterprises, matcher built in {build * 1000:.0f} ms")
    print(f"{'variant':<18}{'queries':>8}{'top-1':>9}{'top-3':>9}{'auto':>9}{'wrong auto':>12}")
    for kind, t in [*sorted(by_kind.items()), ("ALL", overall)]:
        print(
            f"{kind:<18}{t.total:>8}{_pct(t.top1, t.total):>9}{_pct(t.top3, t.total):>9}"
            f"{_pct(t.auto, t.total):>9}{t.wrong_auto:>6} ({_pct(t.wrong_auto, t.total).strip()})"
        )
    ms = sorted(x * 1000 for x in timings)
    p95 = ms[int(len(ms) * 0.95)]
    print(f"time per query: mean {statistics.fmean(ms):.2f} ms, p95 {p95:.2f} ms")


def _write(
    out: Path,
    companies: list[Company],
    queries: list[tuple[Company, str, str]],
    misses: list[tuple[str, str, str, str]],
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "registry.csv").open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "企业名称", "english"])
        writer.writerows((c.id, c.name, c.english or "") for c in companies)
    with (out / "variants.csv").open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(["expected_id", "kind", "text"])
        writer.writerows((c.id, kind, text) for c, kind, text in queries)
    with (out / "misses.csv").open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kind", "typed", "expected", "offered"])
        writer.writerows(misses)
    print(f"registry, variants and misses written to {out}/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--queries", type=int, default=10_000, help="variants sampled")
    parser.add_argument("--out", type=Path, default=None, help="write the generated files here")
    args = parser.parse_args()
    run(args.size, args.seed, args.queries, args.out)


if __name__ == "__main__":
    main()
