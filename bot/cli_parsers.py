"""The command line's grammar: every `unionbot` subcommand's arguments, with its
implementation named rather than imported, so that `unionbot --help` and commands that
need no database or Bot API load neither (bot/cli.py builds the parser from these)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.audit_filters import DEFAULT_LIMIT, parse_actor, parse_moment, positive

# `unionbot emulator`'s default port (the emulator itself is imported when it runs).
EMULATOR_PORT = 8081

STATUS_COMMANDS = {
    "close": ("closed", "mark closed (dropped from coverage, history kept)"),
    "move-out": ("moved_out", "mark moved out of the district (剔除)"),
    "reopen": ("active", "mark active again"),
}


@dataclass(frozen=True)
class Lazy:
    """A command's handler, `module.function(args)`; the module is imported when it runs."""

    module: str
    function: str

    def resolve(self) -> Callable[[argparse.Namespace], Awaitable[int]]:
        handler: Callable[[argparse.Namespace], Awaitable[int]]
        handler = getattr(importlib.import_module(self.module), self.function)
        return handler

    def __call__(self, args: argparse.Namespace) -> Awaitable[int]:
        return self.resolve()(args)


def implementation(module: str) -> Callable[[str], Lazy]:
    """Handlers of one implementation module, by function name."""
    return lambda function: Lazy(module, function)


def add_admin_commands(commands: Any) -> None:
    run = implementation("bot.admin_cli")
    streets = commands.add_parser("streets", help="streets and their review groups")
    sub = streets.add_subparsers(title="streets")
    add = sub.add_parser("add", help="add a street")
    add.add_argument("code", help="short code used in member numbers, e.g. DS")
    add.add_argument("name", help="e.g. 德胜街道")
    add.set_defaults(handler=run("streets_add"))
    rename = sub.add_parser("rename", help="rename a street and its joint union (<name>工会联合会)")
    rename.add_argument("code", help="the street's code, e.g. DS")
    rename.add_argument("new_name", help="e.g. 德胜街道办事处")
    rename.set_defaults(handler=run("streets_rename"))
    sub.add_parser("list", help="list streets").set_defaults(handler=run("streets_list"))
    service = sub.add_parser(
        "set-service",
        help="what a street promises waiting workers: review time and contact",
        description="Shown to a worker whose application waits (/status); the review time "
        "is in working days (China's holidays counted), 0 for the configured default.",
    )
    service.add_argument("code", help="the street's code, e.g. DS")
    service.add_argument("--review-days", type=int, help="working days; 0: the default")
    service.add_argument("--contact", help="e.g. 德胜街道工会服务站 010-62000000")
    service.set_defaults(handler=run("streets_set_service"))
    chat = sub.add_parser("set-chat", help="make a group chat the street's review group")
    chat.add_argument("street", help="code or name")
    chat.add_argument("chat_id", type=int)
    chat.set_defaults(handler=run("streets_set_chat"))
    bind = sub.add_parser("bind-code", help="a one-time code that binds a group: /bind CODE")
    bind.add_argument("street", help="code or name")
    bind.add_argument("--hours", type=float, default=24.0, help="validity (default 24 hours)")
    bind.set_defaults(handler=run("streets_bind_code"))

    points = commands.add_parser("points", help="reception points (受理点)")
    sub = points.add_subparsers(title="points")
    add = sub.add_parser("add", help="add a reception point")
    add.add_argument("street", help="code or name")
    add.add_argument("name")
    add.add_argument("--kind", default="community", choices=["station", "building", "community"])
    add.add_argument("--code", help="deep-link code (default: random)")
    add.set_defaults(handler=run("points_add"))
    listing = sub.add_parser("list", help="list reception points")
    listing.add_argument("street", nargs="?")
    listing.set_defaults(handler=run("points_list"))
    retire = sub.add_parser("retire", help="stop accepting a point's QR code")
    retire.add_argument("code")
    retire.set_defaults(handler=run("points_retire"))
    posters = sub.add_parser("posters", help="printable PNG and PDF posters with QR codes")
    posters.add_argument("--street", help="only this street (code or name)")
    posters.add_argument("--out", type=Path, default=Path("posters"))
    posters.set_defaults(handler=run("points_posters"))

    staff = commands.add_parser("staff", help="staff and roles")
    sub = staff.add_subparsers(title="staff")
    add = sub.add_parser("add", help="register a staff member")
    add.add_argument("telegram_user_id", type=int)
    add.add_argument("name")
    add.add_argument("--role", default="street", choices=["street", "federation", "admin"])
    add.add_argument("--street", help="code or name (street staff)")
    add.set_defaults(handler=run("staff_add"))
    remove = sub.add_parser("remove", help="withdraw every role of a person")
    remove.add_argument("telegram_user_id", type=int)
    remove.set_defaults(handler=run("staff_remove"))
    sub.add_parser("list", help="list staff").set_defaults(handler=run("staff_list"))

    seed = commands.add_parser("seed", help="load streets, points and staff from TOML or CSV")
    seed.add_argument("file", type=Path)
    seed.set_defaults(handler=run("seed_file"))


def add_enterprise_commands(commands: Any) -> None:
    run = implementation("bot.enterprise_cli")
    enterprises = commands.add_parser("enterprises", help="the enterprise registry (企业名录)")
    sub = enterprises.add_subparsers(title="enterprises")

    load = sub.add_parser(
        "import",
        help="import the registry from .xlsx or .csv",
        description="Columns are found by their header (企业名称/单位详细名称, 统一社会信用代码, "
        "所属街道/所在街道（乡镇）, 地址, 职工人数/从业人员期末人数, 是否建会/是否建立工会 and "
        "other common spellings); the name and USCC columns are required.",
    )
    load.add_argument("file", type=Path)
    load.add_argument(
        "--without-uscc",
        action="store_true",
        help="import a file that has no USCC column (enterprises matched by name and street)",
    )
    load.set_defaults(handler=run("enterprises_import"))

    search = sub.add_parser("search", help="find enterprises by name, pinyin, id or USCC")
    search.add_argument("text", nargs="+")
    search.add_argument("--limit", type=int, default=10)
    search.set_defaults(handler=run("enterprises_search"))

    show = sub.add_parser("show", help="one enterprise, its count and its alerts")
    show.add_argument("ref", help="id or USCC")
    show.set_defaults(handler=run("enterprises_show"))

    for name, (status, text) in STATUS_COMMANDS.items():
        command = sub.add_parser(name, help=text)
        command.add_argument("ref", help="id or USCC")
        command.set_defaults(handler=run("enterprises_status"), status=status)

    confirm = sub.add_parser(
        "confirm", help="confirm a provisional enterprise, so that workers are offered it"
    )
    confirm.add_argument("ref", help="id or USCC")
    confirm.set_defaults(handler=run("enterprises_confirm"))

    merge = sub.add_parser(
        "merge",
        help="merge SOURCE (e.g. provisional) into TARGET (asks first; cannot be undone)",
    )
    merge.add_argument("source", help="id or USCC")
    merge.add_argument("target", help="id or USCC")
    merge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    merge.set_defaults(handler=run("enterprises_merge"))

    rekey = sub.add_parser("rekey", help="recompute stored name keys after a rules change")
    rekey.set_defaults(handler=run("enterprises_rekey"))

    alias = sub.add_parser(
        "alias",
        help="other names workers use (brands, store and English names)",
        description="The matcher finds an enterprise by its aliases too. Registry aliases "
        "are replaced by each import; those added here stay until removed.",
    )
    aliases = alias.add_subparsers(title="alias")
    listing = aliases.add_parser("list", help="an enterprise's aliases")
    listing.add_argument("ref", help="id or USCC")
    listing.set_defaults(handler=run("enterprises_alias_list"))
    adding = aliases.add_parser("add", help="add aliases (all or none)")
    adding.add_argument("ref", help="id or USCC")
    adding.add_argument("alias", nargs="+", help="one argument per alias (quote spaces)")
    adding.set_defaults(handler=run("enterprises_alias_add"))
    removing = aliases.add_parser("remove", help="remove one alias")
    removing.add_argument("ref", help="id or USCC")
    removing.add_argument("alias")
    removing.set_defaults(handler=run("enterprises_alias_remove"))
    proposals = aliases.add_parser(
        "proposals",
        help="names learned from staff corrections, waiting for a decision",
        description="When staff change a worker's employer on a review card, or merge a "
        "provisional enterprise, what the worker typed is proposed as an alias.",
    )
    proposals.add_argument("--limit", type=positive, default=50, help="how many to list")
    proposals.set_defaults(handler=run("enterprises_alias_proposals"))
    for verb, meaning in (("accept", "make a proposal an alias"), ("refuse", "refuse one")):
        decide = aliases.add_parser(verb, help=meaning)
        decide.add_argument("proposal", type=int, help="the proposal's number (#N)")
        decide.set_defaults(handler=run("enterprises_alias_decide"), accept=verb == "accept")


def add_case_commands(commands: Any) -> None:
    run = implementation("bot.case_cli")
    cases = commands.add_parser(
        "cases",
        help="founding cases (建会工作): from the alert to the enterprise union",
        description="Stages: following → preparing → assembly → approved → founded; a case "
        "may be paused and resumed, or moved back one stage with a reason.",
    )
    sub = cases.add_subparsers(title="cases")
    listing = sub.add_parser("list", help="open cases: stage, days in stage, owner")
    listing.add_argument("--all", action="store_true", help="founded cases too")
    listing.set_defaults(handler=run("cases_list"))
    show = sub.add_parser("show", help="one case and what it recorded")
    show.add_argument("case", type=positive)
    show.set_defaults(handler=run("cases_show"))
    opening = sub.add_parser("open", help="open a case for an enterprise below the threshold")
    opening.add_argument("enterprise", help="id or USCC")
    opening.set_defaults(handler=run("cases_open"))

    advance = sub.add_parser(
        "advance",
        help="record the next stage",
        description="preparing: --date --member 'NAME ROLE' (repeat); assembly: --date "
        "--chair --committee 'A,B,C' --no-close-relatives (Trade Union Law art. 10); "
        "approved: --date --document; founded: --name --uscc (authority code 8) --date "
        "--contact. Dates as YYYY-MM-DD.",
    )
    advance.add_argument("case", type=positive)
    advance.add_argument("--date", help="the stage's date, YYYY-MM-DD")
    advance.add_argument("--member", action="append", help="preparatory group: 'NAME ROLE'")
    advance.add_argument("--chair", help="assembly: the chair's name")
    advance.add_argument("--committee", help="assembly: the committee's names, comma-separated")
    advance.add_argument(
        "--no-close-relatives",
        action="store_true",
        help="assembly: no committee member is a close relative of the main manager",
    )
    advance.add_argument("--document", help="approved: the approval's document number")
    advance.add_argument("--name", help="founded: the union's name")
    advance.add_argument("--uscc", help="founded: the union's USCC (starts with 8)")
    advance.add_argument("--contact", help="founded: a contact for workers")
    advance.set_defaults(handler=run("cases_advance"))

    back = sub.add_parser("back", help="move a case back one stage")
    back.add_argument("case", type=positive)
    back.add_argument("--reason", required=True)
    back.set_defaults(handler=run("cases_back"))
    pause = sub.add_parser("pause", help="pause a case (暂缓)")
    pause.add_argument("case", type=positive)
    pause.add_argument(
        "--reason", required=True, choices=("refused", "closed", "moved_out", "too_few", "other")
    )
    pause.add_argument("--note", help="required with --reason other")
    pause.set_defaults(handler=run("cases_pause"))
    resume = sub.add_parser("resume", help="resume a paused case where it stood")
    resume.add_argument("case", type=positive)
    resume.set_defaults(handler=run("cases_resume"))
    transfer = sub.add_parser(
        "transfer", help="move a founded union's members from the joint union to it (会籍接转)"
    )
    transfer.add_argument("case", type=positive)
    transfer.set_defaults(handler=run("cases_transfer"))
    note = sub.add_parser("note", help="record progress on a case")
    note.add_argument("case", type=positive)
    note.add_argument("text", nargs="+")
    note.set_defaults(handler=run("cases_note"))


def add_union_commands(commands: Any) -> None:
    run = implementation("bot.case_cli")
    unions = commands.add_parser("unions", help="union organisations and their members")
    sub = unions.add_subparsers(title="unions")
    listing = sub.add_parser("list", help="joint and enterprise unions, with active members")
    listing.set_defaults(handler=run("unions_list"))
    members = sub.add_parser("members", help="a union's member list (会员名册) as an Excel file")
    members.add_argument("union", type=positive, help="the union's id")
    members.add_argument("--xlsx", type=Path, required=True, metavar="FILE")
    members.add_argument(
        "--full-ids", action="store_true", help="full resident id numbers (audited)"
    )
    members.set_defaults(handler=run("unions_members"))
    check = sub.add_parser(
        "check",
        help="members registered in another enterprise's union (--fix moves them)",
        description="Before the fix of 2026-12-06, approvals on SQLite put new members into "
        "the first enterprise union founded through the bot. --fix moves each to their "
        "enterprise's own union, else their street's joint union, and sends them a notice "
        "and a new card.",
    )
    check.add_argument("--fix", action="store_true", help="move them (asks first)")
    check.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    check.set_defaults(handler=run("unions_check"))

    admin = implementation("bot.admin_cli")
    bind = sub.add_parser(
        "bind-code", help="a one-time code that makes a group the union's review group"
    )
    bind.add_argument("union", type=positive, help="the enterprise union's id (unions list)")
    bind.add_argument("--hours", type=float, default=24.0, help="validity (default 24 hours)")
    bind.set_defaults(handler=admin("unions_bind_code"))
    chat = sub.add_parser("set-chat", help="make a group chat the union's review group")
    chat.add_argument("union", type=positive)
    chat.add_argument("chat_id", type=int)
    chat.set_defaults(handler=admin("unions_set_chat"))
    staff = sub.add_parser("add-staff", help="a reviewer of the enterprise union")
    staff.add_argument("union", type=positive)
    staff.add_argument("telegram_user_id", type=int)
    staff.add_argument("name")
    staff.set_defaults(handler=admin("unions_add_staff"))


def add_service_card_commands(commands: Any) -> None:
    run = implementation("bot.service_card_cli")
    cards = commands.add_parser(
        "servicecards", help="member service cards (会员服务卡/京卡): batches and collection"
    )
    sub = cards.add_subparsers(title="servicecards")
    batch = sub.add_parser(
        "batch", help="export a street's waiting requests for the city federation (Excel)"
    )
    batch.add_argument("street", help="code or name")
    batch.add_argument("--xlsx", type=Path, required=True, metavar="FILE")
    batch.add_argument(
        "--full-ids", action="store_true", help="full id and mobile numbers (audited)"
    )
    batch.set_defaults(handler=run("servicecards_batch"))
    for step, text in (("sent", "a batch was sent to the city federation"),
                       ("arrived", "a batch's cards arrived: the members are told")):  # fmt: skip
        command = sub.add_parser(step, help=text)
        command.add_argument("batch", help="e.g. JK-DS-00001")
        command.set_defaults(handler=run("servicecards_mark"), step=step)
    collected = sub.add_parser("collected", help="a member collected their card")
    collected.add_argument("member", help="member number, e.g. DS-2026-00001")
    collected.set_defaults(handler=run("servicecards_collected"))
    sub.add_parser("status", help="requests and collected cards per street").set_defaults(
        handler=run("servicecards_status")
    )


NEED_HELP = (
    "announce only to members who ticked this need in the survey (and those who have not "
    "answered it): legal_aid, skills, health_check, sports_culture, childcare, counselling, "
    "hardship, housing, other"
)


def add_benefit_commands(commands: Any) -> None:
    run = implementation("bot.service_card_cli")
    benefits = commands.add_parser("benefits", help="benefit services (普惠服务): the catalogue")
    sub = benefits.add_subparsers(title="benefits")
    add = sub.add_parser("add", help="add a benefit with a quota and a period")
    add.add_argument("title")
    add.add_argument("--provider", required=True)
    add.add_argument("--quota", type=positive, required=True)
    add.add_argument("--from", dest="valid_from", required=True, help="YYYY-MM-DD")
    add.add_argument("--to", dest="valid_to", required=True, help="YYYY-MM-DD")
    add.add_argument("--street", help="code or name; district-wide without it")
    add.add_argument("--description", default="")
    add.add_argument(
        "--first-only", action="store_true", help="only members who have had no benefit yet"
    )
    add.add_argument("--need", help=NEED_HELP)
    add.set_defaults(handler=run("benefits_add"))


def add_activity_commands(commands: Any) -> None:
    run = implementation("bot.activity_cli")
    activities = commands.add_parser("activities", help="union activities (工会活动)")
    sub = activities.add_subparsers(title="activities")
    add = sub.add_parser("add", help="create an activity and announce it to its members")
    add.add_argument("title")
    add.add_argument("--place", required=True)
    add.add_argument("--when", required=True, help='Beijing time, "YYYY-MM-DD HH:MM-HH:MM"')
    add.add_argument("--capacity", type=positive, required=True, help="places")
    add.add_argument("--deadline", help='sign-ups close, "YYYY-MM-DD HH:MM"; default: the start')
    add.add_argument("--street", help="code or name; district-wide without it")
    add.add_argument("--description", default="")
    add.add_argument("--need", help=NEED_HELP)
    add.set_defaults(handler=run("activities_add"))
    sub.add_parser("list", help="open and recent activities").set_defaults(
        handler=run("activities_list")
    )
    who = sub.add_parser("attendance", help="who signed up, who waits, who came")
    who.add_argument("activity", type=positive)
    who.set_defaults(handler=run("activities_attendance"))
    close = sub.add_parser("close", help="after the end: attendance becomes final")
    close.add_argument("activity", type=positive)
    close.set_defaults(handler=run("activities_close"))
    off = sub.add_parser("cancel", help="call an activity off before it starts (members are told)")
    off.add_argument("activity", type=positive)
    off.add_argument("--reason", required=True, help="why (kept in the audit log)")
    off.set_defaults(handler=run("activities_call_off"))
    four = commands.add_parser("fourones", help='the "four ones" completion per street')
    four.add_argument("--street", help="per reception point of this street (code or name)")
    four.set_defaults(handler=run("fourones"))


def add_audit_commands(commands: Any) -> None:
    run = implementation("bot.audit_cli")
    audit = commands.add_parser(
        "audit", help="list or export the audit log", description="Times are Beijing time."
    )
    audit.add_argument("--actor", type=parse_actor, help="Telegram user id, or 'cli'")
    audit.add_argument("--action", help="action prefix, e.g. application. or staff.added")
    audit.add_argument("--subject", help="TYPE or TYPE:ID, e.g. application:A20261124-0001")
    audit.add_argument("--since", type=parse_moment, help="from YYYY-MM-DD [HH:MM]")
    audit.add_argument("--until", type=parse_moment, help="to YYYY-MM-DD [HH:MM], inclusive")
    audit.add_argument("--limit", type=positive, help=f"at most N entries (list: {DEFAULT_LIMIT})")
    audit.add_argument("--csv", type=Path, metavar="FILE", help="export to a CSV file for Excel")
    audit.add_argument(
        "--yes", action="store_true", help="overwrite an existing --csv file without asking"
    )
    audit.set_defaults(handler=run("audit_command"))


def add_menus_commands(commands: Any) -> None:
    run = implementation("bot.menus_cli")
    menus = commands.add_parser("menus", help="the bot's command menus per chat")
    sub = menus.add_subparsers(title="menus")
    sync = sub.add_parser("sync", help="set every chat's command menu as the database says")
    sync.add_argument("--force", action="store_true", help="set every list again")
    sync.set_defaults(handler=run("menus_sync"))


def add_tallies_commands(commands: Any) -> None:
    run = implementation("bot.tallies_cli")
    tallies = commands.add_parser(
        "tallies",
        help="the statistics' running counts: check them against the rows, or recount them",
        description="Database triggers keep running counts of applications, members, review "
        "times and registry enterprises for the statistics. `check` counts the rows and lists "
        "any difference (exit status 1); `rebuild` recounts them in one transaction.",
    )
    sub = tallies.add_subparsers(title="tallies")
    sub.add_parser("check", help="compare the tallies with a count of the rows").set_defaults(
        handler=run("tallies_check")
    )
    sub.add_parser("rebuild", help="recount the tallies from the rows").set_defaults(
        handler=run("tallies_rebuild")
    )


def add_emulator_commands(commands: Any) -> None:
    run = implementation("bot.emulator_cli")
    emulator = commands.add_parser(
        "emulator",
        help="run the local Bot API emulator, to try the bot on one machine",
        description="Serves the Bot API for one bot on HOST:PORT, with a few people and "
        "groups; point telegram.api_base at it and run `unionbot run` in another terminal.",
    )
    emulator.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    emulator.add_argument(
        "--port", type=int, default=EMULATOR_PORT, help=f"default {EMULATOR_PORT}"
    )
    emulator.add_argument(
        "--token", help="the bot's token (default: telegram.token, or a demo one)"
    )
    emulator.add_argument("--username", help="the bot's username (default: telegram.bot_username)")
    emulator.add_argument(
        "--seed-file", type=Path, help="write a `unionbot seed` file for these people and exit"
    )
    emulator.add_argument("--quiet", action="store_true", help="do not print the chats")
    emulator.set_defaults(handler=run("run_emulator"))


def add_subsidy_commands(commands: Any) -> None:
    run = implementation("bot.subsidy_cli")
    subsidy = commands.add_parser(
        "subsidy",
        help="activity subsidy (活动经费补贴): street budgets and the ledger",
        description="Amounts are in yuan (元), e.g. 1200 or 1,200.50; the ledger keeps fen. "
        "A refused action says why and exits with 1.",
    )
    sub = subsidy.add_subparsers(title="subsidy")
    budget = sub.add_parser("budget", help="set a street's budget for a year")
    budget.add_argument("street", help="code or name")
    budget.add_argument("year", type=int)
    budget.add_argument("amount", help="yuan")
    budget.set_defaults(handler=run("subsidy_budget"))
    book = sub.add_parser("book", help="book a closed activity's cost among who attended")
    book.add_argument("activity", type=positive, help="the activity's id")
    book.add_argument("cost", help="yuan")
    book.add_argument("--note", default="")
    book.set_defaults(handler=run("subsidy_book"))
    refund = sub.add_parser("refund", help="money back: a negative posting, split the same way")
    refund.add_argument("activity", type=positive, help="the activity's id")
    refund.add_argument("amount", help="yuan")
    refund.add_argument("--note", required=True, help="why")
    refund.set_defaults(handler=run("subsidy_refund"))
    reverse = sub.add_parser("reverse", help="cancel a posting by one that negates it")
    reverse.add_argument("posting", type=positive, help="the posting's id")
    reverse.add_argument("--note", required=True, help="why")
    reverse.set_defaults(handler=run("subsidy_reverse"))
    report = sub.add_parser("report", help="sums by street, activity or member (tab-separated)")
    report.add_argument("--by", choices=("street", "activity", "member"), default="street")
    report.add_argument("--year", type=int, help="default: this year (activity: every year)")
    report.set_defaults(handler=run("subsidy_report"))
    ledger = sub.add_parser("ledger", help="the ledger as an Excel file")
    ledger.add_argument("--xlsx", type=Path, metavar="FILE", required=True)
    ledger.add_argument("--year", type=int, help="default: every year")
    ledger.set_defaults(handler=run("subsidy_ledger"))


EXPORT_TOPICS = ("members", "applications", "enterprises", "cases", "activities", "ledger")


def add_export_commands(commands: Any) -> None:
    run = implementation("bot.export_cli")
    export = commands.add_parser(
        "export",
        help="Excel exports: members, applications, enterprises, cases, activities, ledger",
        description="Writes one topic as an Excel file for people: 会员名册 (members), 入会申请 "
        "(applications), 企业与建会进度 (enterprises), 建会工作 (cases), 活动与签到 "
        "(activities), 经费台账 (ledger). The whole district unless --street; resident id and "
        "mobile numbers masked unless --full-ids. Every export is in the audit log.",
    )
    export.add_argument("topic", choices=EXPORT_TOPICS)
    export.add_argument("--xlsx", type=Path, required=True, metavar="FILE")
    export.add_argument("--street", help="one street (code or name); default: the district")
    export.add_argument(
        "--full-ids",
        action="store_true",
        help="full resident id and mobile numbers (members, applications; audited)",
    )
    export.add_argument(
        "--year",
        type=int,
        help="one year (Beijing time) of joining, submission, opening, the activity's start "
        "or the ledger's year",
    )
    export.set_defaults(handler=run("export"))
