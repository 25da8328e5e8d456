"""Matching the employer a worker types: normalisation, automatic picks only when certain,
typos, abbreviations and pinyin among the offered candidates."""

from __future__ import annotations

import pytest

from bot.matching import EnterpriseMatcher, brand, find_uscc, full_key, normalise
from bot.validation import ValidationError, uscc_check_char, validate_uscc
from tests.conftest import make_resident_id


def uscc(body17: str) -> str:
    return body17 + uscc_check_char(body17)


BYTEDANCE_USCC = uscc("91110108MA01B2C3D")

REGISTRY = [
    (1, "北京字节跳动科技有限公司", BYTEDANCE_USCC, 1),
    (2, "北京字节跳动科技有限公司海淀分公司", None, 2),
    (3, "北京华创信息技术有限公司", None, 1),
    (4, "北京华创物业管理有限公司", None, 2),
    (5, "华创（北京）科技有限公司", None, 1),
    (6, "北京首都旅游集团有限责任公司", None, None),
    (7, "北京三快在线科技有限公司（Meituan）", None, 1),
    (8, "北京全聚德餐饮有限公司前门分店", None, 1),
    (9, "北京鑫瑞德文化传媒有限公司", None, 1),
    (10, "北京华创有限公司", None, 1),
    (11, "北京华创科技股份有限公司", None, 2),
]


@pytest.fixture(scope="module")
def matcher() -> EnterpriseMatcher:
    return EnterpriseMatcher(REGISTRY, aliases={1: ["ByteDance"]})


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("北京字节跳动科技有限公司", "字节跳动科技"),
        ("北京市字节跳动科技有限公司", "字节跳动科技"),
        ("字节跳动（北京）科技有限公司", "字节跳动科技"),
        ("字节跳动(北京)科技有限公司", "字节跳动科技"),
        ("字节跳动【北京】", "字节跳动"),
        ("ＡＢＣ　科技有限公司", "abc科技"),
        ("  字节 跳动\t科技  ", "字节跳动科技"),
        ("北京首都旅游集团有限责任公司", "首都旅游"),
        ("北京华创科技股份有限公司", "华创科技"),
        ("北京华创信息技术有限责任公司", "华创信息技术"),
        ("北京中关村科技园（集团）有限公司", "中关村科技园"),
        ("北京某某投资中心（有限合伙）", "某某投资中心"),
        ("北京字节跳动科技有限公司海淀分公司", "字节跳动科技海淀分公司"),
        ("北京全聚德餐饮有限公司前门分店", "全聚德餐饮前门分店"),
        ("北京三快在线科技有限公司（Meituan）", "三快在线科技"),
        ("ByteDance Co., Ltd.", "bytedance"),
        ("Beijing ByteDance Technology Co., Ltd", "bytedancetechnology"),
        ("北京", "北京"),
        ("有限公司", "有限公司"),
        ("", ""),
    ],
)
def test_normalise(typed: str, key: str) -> None:
    assert normalise(typed) == key


def test_brand_drops_industry_and_branch() -> None:
    assert brand("北京字节跳动科技有限公司") == "字节跳动"
    assert brand("北京字节跳动科技有限公司海淀分公司") == "字节跳动"
    assert brand("北京远毅企业管理咨询有限公司") == "远毅"
    assert brand("北京科技有限公司") == "科技"  # never empty


def test_a_valid_uscc_picks_directly(matcher: EnterpriseMatcher) -> None:
    for typed in (
        BYTEDANCE_USCC,
        BYTEDANCE_USCC.lower(),
        f"代码 {BYTEDANCE_USCC[:9]} {BYTEDANCE_USCC[9:]}",
    ):
        match = matcher.match(typed)
        assert match.auto == 1
        assert match.uscc == BYTEDANCE_USCC
        assert [c.id for c in match.candidates] == [1]


def test_a_valid_but_unknown_uscc_is_reported_not_guessed(matcher: EnterpriseMatcher) -> None:
    other = uscc("N1110102MA01XY12K")  # agriculture authority: a letter in position 1
    match = matcher.match(other)
    assert match.auto is None and match.candidates == () and match.uscc == other


def test_a_uscc_with_a_wrong_check_character_is_flagged(matcher: EnterpriseMatcher) -> None:
    wrong = BYTEDANCE_USCC[:17] + ("0" if BYTEDANCE_USCC[17] != "0" else "1")
    assert find_uscc(wrong) == (None, True)
    match = matcher.match(wrong)
    assert match.auto is None and match.uscc_invalid


@pytest.mark.parametrize(
    "typed",
    [
        "北京字节跳动科技有限公司",
        "字节跳动科技",
        "字节跳动（北京）科技有限公司",
        "北京 字节跳动 科技",
    ],
)
def test_the_same_normalised_name_picks_directly(matcher: EnterpriseMatcher, typed: str) -> None:
    match = matcher.match(typed)
    assert match.auto == 1
    assert match.candidates[0].id == 1


def test_a_branch_is_picked_only_by_its_own_name(matcher: EnterpriseMatcher) -> None:
    assert matcher.match("字节跳动科技有限公司海淀分公司").auto == 2
    assert matcher.match("字节跳动科技").auto == 1


@pytest.mark.parametrize(
    "typed",
    [
        "华创科技",  # 华创（北京）科技有限公司 and 北京华创科技股份有限公司: same key
        "华创",  # the whole name of 北京华创有限公司, but the brand of four others
        "字节跳动",  # head office or branch?
        "zijietiaodong",
    ],
)
def test_ambiguous_names_are_never_picked(matcher: EnterpriseMatcher, typed: str) -> None:
    match = matcher.match(typed)
    assert match.auto is None
    assert len(match.candidates) >= 1


def test_duplicate_keys_offer_both(matcher: EnterpriseMatcher) -> None:
    ids = {c.id for c in matcher.match("华创科技").candidates[:2]}
    assert ids == {5, 11}


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("字节跳动", 1),  # abbreviation
        ("字节跳动（北京）", 1),
        ("字节跳懂科技", 1),  # homophone typo from the input method
        ("字节条动", 1),
        ("北京字节跳科技有限公司", 1),  # a dropped character
        ("华创物业", 4),
        ("首旅", 6),  # abbreviation keeping characters in order
        ("首都旅游集团", 6),
        ("鑫瑞德传媒", 9),
        ("全聚德前门分店", 8),
        ("字节跳动海淀分公司", 2),
    ],
)
def test_typos_and_abbreviations_are_in_the_top_three(
    matcher: EnterpriseMatcher, typed: str, expected: int
) -> None:
    match = matcher.match(typed)
    assert expected in [c.id for c in match.candidates[:3]], match
    assert match.auto in (None, expected)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("zijietiaodong", 1),
        ("zi jie tiao dong", 1),
        ("ZJTD", 1),
        ("zjtd", 1),
        ("xinruide", 9),
        ("shoudulvyou", 6),
    ],
)
def test_pinyin_input_is_offered_not_picked(
    matcher: EnterpriseMatcher, typed: str, expected: int
) -> None:
    match = matcher.match(typed)
    assert match.candidates and match.candidates[0].id == expected, match
    assert match.auto is None


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("ByteDance", 1),  # an English alias the registry has
        ("bytedance ltd", 1),
        ("Meituan", 7),  # an English name in brackets in the registered name
    ],
)
def test_an_exact_english_alias_picks_directly(
    matcher: EnterpriseMatcher, typed: str, expected: int
) -> None:
    match = matcher.match(typed)
    assert match.auto == expected
    assert match.candidates[0].id == expected


def test_same_street_breaks_ties(matcher: EnterpriseMatcher) -> None:
    assert matcher.match("华创科技", street_id=2).candidates[0].id == 11
    assert matcher.match("华创科技", street_id=1).candidates[0].id == 5


def test_a_provisional_spelling_yields_to_a_registered_enterprise() -> None:
    matcher = EnterpriseMatcher(
        [(1, "北京字节跳动科技有限公司", None, 1), (2, "字节跳动", None, 1)], provisional={2}
    )
    match = matcher.match("字节跳动")
    assert match.auto is None
    assert {c.id for c in match.candidates} == {1, 2}
    alone = EnterpriseMatcher([(2, "字节跳动", None, 1)], provisional={2})
    assert alone.match("字节跳动").auto == 2


def test_unconfirmed_provisional_enterprises_are_offered_only_to_staff() -> None:
    code = "91110108MA01XK3E0" + uscc_check_char("91110108MA01XK3E0")
    entries = [
        (1, "北京字节跳动科技有限公司", None, 1),
        (2, "17012345678", None, 1),  # what a worker typed in a trial
        (3, "字节跳动外卖", code, 1),
        (4, "鑫瑞德传媒", None, 1),
    ]
    matcher = EnterpriseMatcher(entries, provisional={2, 3, 4}, unconfirmed={2, 3, 4})
    for typed in ("字节跳动外卖", "17012345678", "鑫瑞德传媒", "鑫瑞德", code):
        match = matcher.match(typed)
        assert match.auto is None, typed
        assert {c.id for c in match.candidates} <= {1}, typed
    assert matcher.match(code).uscc == code  # a new USCC to the worker: they name it
    staff = matcher.match("鑫瑞德", include_unconfirmed=True)
    assert [c.id for c in staff.candidates] == [4]
    assert matcher.match(code, include_unconfirmed=True).auto == 3
    # Confirmed by staff: offered like a registered one.
    confirmed = EnterpriseMatcher(entries, provisional={2, 3, 4}, unconfirmed={2, 3})
    assert confirmed.match("鑫瑞德传媒").auto == 4
    assert [c.id for c in confirmed.match("鑫瑞德").candidates] == [4]


def test_nonsense_gets_no_candidates(matcher: EnterpriseMatcher) -> None:
    for typed in ("", "   ", "!!!", "无业", "x" * 5000):
        match = matcher.match(typed)
        assert match.auto is None
    assert matcher.match("🙂🙂🙂").candidates == ()


def test_limit(matcher: EnterpriseMatcher) -> None:
    assert len(matcher.match("华创", limit=5).candidates) == 5
    assert len(matcher.match("华创").candidates) == 3


def test_a_resident_id_number_is_never_taken_for_a_uscc() -> None:
    # Some id numbers also pass the USCC check; such a number must not be stored as a code.
    both = []
    for seq in range(1000):
        number = make_resident_id(seq)
        try:
            validate_uscc(number)
        except ValidationError:
            continue
        both.append(number)
    assert both, "no id number in the sample passes the USCC check"
    for number in both:
        assert find_uscc(number) == (None, False)
        assert find_uscc(f"单位 {number}")[0] is None


# ---------------------------------------------------------------------------- what workers
# call their employer: legal forms, aliases, traditional characters, branches, sound-alikes

BRANDS = [
    (21, "北京泰悦物流有限责任公司", None, 1),
    (22, "北京泰悦物流股份有限公司", None, 1),
    (31, "北京瑞幸咖啡有限公司", None, 1),
    (32, "北京瑞兴咨询有限公司", None, 1),  # ruixing, like 瑞幸
    (33, "北京盒马网络科技有限公司", None, 1),
    (34, "北京祥盛商贸有限公司", None, 1),  # xiangsheng, like 鲜生
    (35, "北京鑫盛物流有限公司", None, 1),
    (36, "北京欣盛科技有限公司", None, 1),
    (37, "北京链家房地产经纪有限公司", None, 1),
    (38, "北京海底捞餐饮管理有限公司", None, 1),
    (39, "中国银行股份有限公司", None, 1),
    (40, "北京全聚德餐饮有限公司", None, 1),
    (41, "北京全聚德餐饮有限公司前门分店", None, 1),
]
BRAND_ALIASES = {31: ["Luckin Coffee"], 33: ["盒马鲜生", "Freshippo"], 37: ["Lianjia"]}


@pytest.fixture(scope="module")
def brands() -> EnterpriseMatcher:
    return EnterpriseMatcher(BRANDS, aliases=BRAND_ALIASES)


@pytest.fixture(scope="module")
def no_aliases() -> EnterpriseMatcher:
    return EnterpriseMatcher(BRANDS)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("北京泰悦物流有限责任公司", 21),
        ("北京泰悦物流股份有限公司", 22),
        ("北京 泰悦物流 股份有限公司。", 22),
        ("（北京泰悦物流股份有限公司）", 22),
    ],
)
def test_the_exact_full_name_picks_between_legal_forms(
    brands: EnterpriseMatcher, typed: str, expected: int
) -> None:
    match = brands.match(typed)
    assert match.auto == expected
    assert match.candidates[0].id == expected


def test_without_the_legal_form_both_are_offered(brands: EnterpriseMatcher) -> None:
    for typed in ("泰悦物流", "北京泰悦物流公司"):
        match = brands.match(typed)
        assert match.auto is None, typed
        assert {c.id for c in match.candidates[:2]} == {21, 22}, typed


def test_full_key_keeps_legal_form_city_and_branch() -> None:
    assert full_key("北京泰悦物流（股份）有限公司") == "北京泰悦物流股份有限公司"
    assert full_key("ＡＢＣ科技（北京）有限公司") == "abc科技北京有限公司"
    assert full_key("北京三快在线科技有限公司（Meituan）") == "北京三快在线科技有限公司"
    assert full_key("北京泰悅物流有限責任公司") == "北京泰悦物流有限责任公司"
    assert normalise("北京泰悦物流有限责任公司") == normalise("北京泰悦物流股份有限公司")


@pytest.mark.parametrize(
    "typed",
    ["Luckin Coffee", "Coffee Luckin", "luckin-coffee", "LUCKIN COFFEE CO., LTD.", "LuckinCoffee"],
)
def test_an_english_alias_in_any_case_order_or_punctuation(
    brands: EnterpriseMatcher, typed: str
) -> None:
    match = brands.match(typed)
    assert match.auto == 31
    assert match.candidates[0].id == 31


def test_a_chinese_alias_picks_its_enterprise(brands: EnterpriseMatcher) -> None:
    match = brands.match("盒马鲜生")
    assert match.auto == 33 and match.candidates[0].id == 33
    part = brands.match("luckin")  # part of an alias: offered, not picked
    assert part.auto is None and part.candidates[0].id == 31


def test_an_alias_shared_or_equal_to_a_name_is_not_picked() -> None:
    shared = EnterpriseMatcher(BRANDS, aliases={31: ["Luckin Coffee"], 32: ["luckin coffee"]})
    match = shared.match("Luckin Coffee")
    assert match.auto is None
    assert {c.id for c in match.candidates[:2]} == {31, 32}
    named = EnterpriseMatcher(
        [*BRANDS, (50, "北京盒马鲜生有限公司", None, 1)], aliases={33: ["盒马鲜生"]}
    )
    match = named.match("盒马鲜生")
    assert match.auto is None
    assert {c.id for c in match.candidates[:2]} == {33, 50}


@pytest.mark.parametrize(
    ("typed", "expected", "auto"),
    [
        ("北京泰悅物流股份有限公司", 22, True),  # the exact name, in traditional characters
        ("北京瑞幸咖啡有限責任公司", 31, True),  # the only 瑞幸咖啡, another legal form
        ("盒馬鮮生", 33, True),  # an alias, in traditional characters
        ("鏈家", 37, False),
        ("海底撈", 38, False),
    ],
)
def test_traditional_characters(
    brands: EnterpriseMatcher, typed: str, expected: int, auto: bool
) -> None:
    match = brands.match(typed)
    assert match.candidates[0].id == expected, match
    assert match.auto == (expected if auto else None)


def test_traditional_registry_names_are_found_in_simplified() -> None:
    matcher = EnterpriseMatcher([(1, "北京鑫瑞德文化傳媒有限公司", None, 1)])
    assert matcher.match("北京鑫瑞德文化传媒有限公司").auto == 1
    assert normalise("北京鑫瑞德文化傳媒有限公司") == "鑫瑞德文化传媒"


@pytest.mark.parametrize(
    ("typed", "expected", "branch", "auto"),
    [
        ("盒马鲜生望京店", 33, "望京店", True),  # an alias and a store
        ("链家德胜门店", 37, "德胜门店", False),  # a brand and a store: offered
        ("海底捞西单分店", 38, "西单分店", False),
        ("中国银行西城支行", 39, "西城支行", True),
        ("中國銀行 西城支行", 39, "西城支行", True),
        ("北京泰悦物流股份有限公司亦庄营业部", 22, "亦庄营业部", True),
        ("全聚德王府井店", 40, "王府井店", False),
    ],
)
def test_a_store_or_branch_finds_the_head_and_hands_the_branch_back(
    brands: EnterpriseMatcher, typed: str, expected: int, branch: str, auto: bool
) -> None:
    match = brands.match(typed)
    assert match.candidates[0].id == expected, match
    assert match.branch == branch
    assert match.auto == (expected if auto else None)


def test_a_registered_branch_keeps_priority(brands: EnterpriseMatcher) -> None:
    for typed in ("全聚德前门分店", "北京全聚德餐饮有限公司前门分店"):
        match = brands.match(typed)
        assert match.candidates[0].id == 41, typed
        assert match.branch is None
    assert brands.match("北京全聚德餐饮有限公司前门分店").auto == 41


def test_a_name_without_a_branch_hands_back_none(brands: EnterpriseMatcher) -> None:
    assert brands.match("盒马鲜生").branch is None
    assert brands.match("北京海底捞餐饮管理有限公司").branch is None


@pytest.mark.parametrize(("typed", "expected"), [("瑞幸", 31), ("瑞兴", 32), ("盒马鲜生", 33)])
def test_characters_typed_beat_sound_alikes(
    no_aliases: EnterpriseMatcher, typed: str, expected: int
) -> None:
    # 瑞幸 sounds like 瑞兴 (ruixing), 鲜生 like 祥盛/鑫盛/欣盛: no alias helps here.
    match = no_aliases.match(typed)
    assert match.candidates[0].id == expected, match
    assert match.auto is None


def test_pinyin_still_finds_both_sound_alikes(no_aliases: EnterpriseMatcher) -> None:
    assert {c.id for c in no_aliases.match("ruixing").candidates} >= {31, 32}


@pytest.mark.parametrize(
    "typed", ["北京九州通达物流有限公司", "九州通达", "泽凯文化传播", "星河湾茶饮", "Acme Widgets"]
)
def test_an_employer_not_in_the_registry_gets_at_most_one_weak_guess(
    brands: EnterpriseMatcher, matcher: EnterpriseMatcher, typed: str
) -> None:
    for one in (brands, matcher):
        match = one.match(typed)
        assert match.auto is None, typed
        assert len(match.candidates) <= 1, match
        assert all(c.score < 83 for c in match.candidates), match


def test_an_unregistered_neighbour_gets_one_button_while_a_typo_keeps_its_own() -> None:
    # 泽捷管理咨询 is not registered: it shares the trade and one character of the brand
    # with three registered names, which all score alike (83). A typo holds the rest of
    # its name: a character left out (正蓝 or 宏蓝?) or a homophone (金 for 锦).
    matcher = EnterpriseMatcher(
        [
            (61, "北京达泽管理咨询有限公司", None, 1),
            (62, "北京捷拓管理咨询有限公司", None, 1),
            (63, "北京泽拓管理咨询股份有限公司", None, 1),
            (64, "北京正蓝投资管理有限公司", None, 1),
            (65, "北京宏蓝投资管理有限公司", None, 1),
            (66, "北京云金装饰工程有限公司", None, 1),
            (67, "北京乐德装饰工程有限公司", None, 1),
            (68, "北京锦德装饰工程有限公司", None, 1),
        ]
    )
    for typed in ("泽捷管理咨询", "北京泽捷管理咨询有限公司"):
        match = matcher.match(typed)
        assert match.auto is None, typed
        assert len(match.candidates) <= 1, match
    for typed, expected in (("蓝投资管理", {64, 65}), ("金德装饰工程", {68})):
        match = matcher.match(typed)
        assert match.auto is None, typed
        assert expected <= {c.id for c in match.candidates}, match


def test_a_typo_of_a_real_name_still_gets_several_buttons(matcher: EnterpriseMatcher) -> None:
    match = matcher.match("华创物页")  # 物业 mistyped
    assert match.auto is None
    assert len(match.candidates) == 3
    assert 4 in [c.id for c in match.candidates]
