"""Demo organisation: Xicheng District's 15 streets and 德胜街道's reception points (the
street union service station, 13 office buildings, 24 residential communities), as in the
2016 review the project is based on. Its headline says 37 points, but the breakdown it gives
adds up to 38; the demo follows the breakdown. People and enterprises are invented."""

from __future__ import annotations

XICHENG_STREETS = (
    ("XCA", "西长安街街道"),
    ("XJK", "新街口街道"),
    ("YT", "月坛街道"),
    ("ZLL", "展览路街道"),
    ("DS", "德胜街道"),
    ("JRJ", "金融街街道"),
    ("SCH", "什刹海街道"),
    ("DSL", "大栅栏街道"),
    ("TQ", "天桥街道"),
    ("CS", "椿树街道"),
    ("TRT", "陶然亭街道"),
    ("GAMN", "广安门内街道"),
    ("NJ", "牛街街道"),
    ("BZF", "白纸坊街道"),
    ("GAMW", "广安门外街道"),
)

DESHENG_STATION = "德胜街道工会服务站"
DESHENG_BUILDINGS = (
    "德胜国际中心", "德胜尚城", "德胜凯旋大厦", "新康大厦", "六铺炕科技大厦", "安德大厦",
    "裕中商务楼", "黄寺大街写字楼", "新外大街商务中心", "德外科技园", "双旗杆大厦",
    "人定湖商务楼", "马甸桥商务中心",
)  # fmt: skip
DESHENG_COMMUNITIES = (
    "德胜里社区", "新康社区", "六铺炕社区", "安康社区", "双旗杆社区", "裕中西里社区",
    "裕中东里社区", "黄寺大街社区", "新外大街社区", "德外大街西社区", "德外大街东社区",
    "人定湖西里社区", "人定湖北巷社区", "安德路南社区", "安德里社区", "新风街社区",
    "阳光丽景社区", "五路社区", "新明家园社区", "双旗杆东里社区", "六铺炕北小街社区",
    "德胜门外社区", "安德路北社区", "新街口外大街社区",
)  # fmt: skip

STREET_STAFF = ((5001, "王芳"), (5002, "刘建国"), (5003, "陈静"))
FEDERATION_STAFF = ((9001, "李明"),)
REVIEW_GROUP = -1001000000501
FEDERATION_GROUP = -1001000000901

ENTERPRISE_SPELLINGS = ("北京德胜数码科技有限公司", "德胜数码科技有限公司", "北京德胜数码科技")
ENTERPRISE_ABBREVIATION = "德胜数码"

# A slice of the district's registry of non-public enterprises (非公企业法人数据库):
# (first 17 characters of the USCC, name, employees, has a union).
REGISTRY = (
    ("91110102MA01DE001", "北京德胜数码科技有限公司", 180, False),
    ("91110102MA01DE002", "北京德胜数码文化传媒有限公司", 35, False),
    ("91110102MA01DE003", "北京新康物业管理有限公司", 60, True),
    ("91110102MA01DE004", "北京六铺炕餐饮管理有限公司", 42, False),
    ("91110102MA01DE005", "北京安德建筑工程有限公司", 95, True),
    ("91110102MA01DE006", "北京裕中信息技术有限公司", 28, False),
    ("92110102MA01DE007", "西城区德胜里便民早点铺", 6, False),
    ("91110102MA01DE008", "北京黄寺商贸有限公司", 17, False),
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
GIVEN_NAMES = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "霞", "平", "刚", "晓文", "建华", "玉梅", "志红", "海燕", "子涵",
)  # fmt: skip
JOBS = ("软件工程师", "测试工程师", "产品经理", "行政专员", "销售代表", None)


def seed_document() -> dict[str, object]:
    """The same structure `unionbot seed FILE` reads from TOML."""
    streets: list[dict[str, object]] = []
    for code, name in XICHENG_STREETS:
        street: dict[str, object] = {"code": code, "name": name, "points": []}
        if code == "DS":
            street["review_chat_id"] = REVIEW_GROUP
            street["points"] = [
                {"name": DESHENG_STATION, "kind": "station"},
                *({"name": n, "kind": "building"} for n in DESHENG_BUILDINGS),
                *({"name": n, "kind": "community"} for n in DESHENG_COMMUNITIES),
            ]
        streets.append(street)
    staff = [
        {"telegram_user_id": uid, "name": name, "role": "street", "street": "DS"}
        for uid, name in STREET_STAFF
    ] + [
        {"telegram_user_id": uid, "name": name, "role": "federation"}
        for uid, name in FEDERATION_STAFF
    ]
    return {"streets": streets, "staff": staff}
