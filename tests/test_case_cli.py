"""`unionbot cases …` at a terminal: the same stages and checks as the federation
group, one-line errors for bad facts, and the audit log naming the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.validation import uscc_check_char
from tests.test_cli import rows, run, write_config

COMPANY = "91110102MA01AB2C4"
UNION = "81110102MA01UN1X0"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, extra="[federation]\nchat_id = -100900\n")


def _registry(tmp_path: Path) -> Path:
    path = tmp_path / "registry.csv"
    code = COMPANY + uscc_check_char(COMPANY)
    path.write_text(f"统一社会信用代码,企业名称\n{code},北京德胜数码科技有限公司\n", "utf-8")
    return path


def test_a_case_from_the_command_line(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, config, "enterprises", "import", str(_registry(tmp_path)))[0] == 0
    code, out, _ = run(capsys, config, "cases", "open", "1")
    assert (code, out) == (0, "opened case #1 for 北京德胜数码科技有限公司 (0 members)\n")
    code, _, err = run(capsys, config, "cases", "open", "1")
    assert code == 2 and "already has case 1" in err and len(err.splitlines()) == 1

    code, _, err = run(capsys, config, "cases", "advance", "1", "--date", "2026-09-01")
    assert code == 2 and "--member" in err  # the preparatory group is required
    code, _, err = run(
        capsys, config, "cases", "advance", "1", "--date", "2026-02-30", "--member", "张伟 组长"
    )
    assert code == 2 and "date.format" in err and len(err.splitlines()) == 1
    steps = [
        ["--date", "2026-09-01", "--member", "张伟 组长", "--member", "李娜 副组长"],
        ["--date", "2026-10-15", "--chair", "张伟", "--committee", "张伟,李娜",
         "--no-close-relatives"],
        ["--date", "2026-11-02", "--document", "西工发〔2026〕12号"],
        ["--date", "2026-11-20", "--name", "北京德胜数码科技有限公司工会委员会",
         "--uscc", UNION + uscc_check_char(UNION), "--contact", "张伟 010-66001234"],
    ]  # fmt: skip
    code, _, err = run(
        capsys, config, "cases", "advance", "1", "--date", "2026-10-15", "--chair", "张伟",
        "--committee", "张伟,李娜",
    )  # fmt: skip
    assert code == 2 and "art. 10" not in err  # still preparing: the group comes first
    for step, stage in zip(steps, ("preparing", "assembly", "approved", "founded"), strict=True):
        if stage == "assembly":  # without the art. 10 answer the committee is refused
            code, _, err = run(capsys, config, "cases", "advance", "1", *step[:-1])
            assert code == 2 and "art. 10" in err
        code, out, err = run(capsys, config, "cases", "advance", "1", *step)
        assert (code, out) == (0, f"case #1: now {stage}\n"), err
    code, out, _ = run(capsys, config, "cases", "show", "1")
    assert code == 0 and "stage       founded" in out and "西工发〔2026〕12号" in out
    assert run(capsys, config, "cases", "list")[1] == "no open founding cases\n"
    code, out, _ = run(capsys, config, "cases", "list", "--all")
    assert rows(out)[1][:2] == ["1", "founded"]
    code, out, _ = run(capsys, config, "enterprises", "show", "1")
    assert "yes (北京德胜数码科技有限公司工会委员会" in out
    code, out, _ = run(capsys, config, "audit", "--action", "case.")
    assert code == 0 and out.count("case.advanced") == 4 and "cli" in out


def test_pause_resume_back_and_notes(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run(capsys, config, "enterprises", "import", str(_registry(tmp_path)))
    run(capsys, config, "cases", "open", "1")
    code, _, err = run(capsys, config, "cases", "back", "1", "--reason", "错了")
    assert code == 2 and "first stage" in err
    code, _, err = run(capsys, config, "cases", "pause", "1", "--reason", "other")
    assert code == 2 and "note" in err
    assert run(capsys, config, "cases", "pause", "1", "--reason", "refused")[0] == 0
    code, out, _ = run(capsys, config, "cases", "list")
    assert rows(out)[1][1] == "following (paused)"
    assert run(capsys, config, "cases", "resume", "1")[1] == "case #1: resumed at following\n"
    assert run(capsys, config, "cases", "note", "1", "已联系", "人事经理")[0] == 0
    code, out, _ = run(capsys, config, "cases", "show", "1")
    assert "cli: 已联系 人事经理" in out
    code, _, err = run(capsys, config, "cases", "show", "99")
    assert code == 2 and len(err.splitlines()) == 1


def test_an_enterprise_unions_group_and_staff_from_the_command_line(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run(capsys, config, "enterprises", "import", str(_registry(tmp_path)))
    run(capsys, config, "cases", "open", "1")
    steps = [
        ["--date", "2026-09-01", "--member", "张伟 组长"],
        ["--date", "2026-10-15", "--chair", "张伟", "--committee", "张伟", "--no-close-relatives"],
        ["--date", "2026-11-02", "--document", "西工发〔2026〕12号"],
        ["--date", "2026-11-20", "--name", "北京德胜数码科技有限公司工会委员会",
         "--uscc", UNION + uscc_check_char(UNION), "--contact", "张伟"],
    ]  # fmt: skip
    for step in steps:
        assert run(capsys, config, "cases", "advance", "1", *step)[0] == 0
    code, out, _ = run(capsys, config, "unions", "list")
    union_id = next(r[0] for r in rows(out)[1:] if r[1] == "enterprise")
    code, out, _ = run(capsys, config, "unions", "bind-code", union_id)
    assert code == 0 and "/bind " in out
    code, out, _ = run(capsys, config, "unions", "add-staff", union_id, "7002", "企业工会审核员")
    assert (code, out.splitlines()[0]) == (
        0, f"企业工会审核员 (7002) now reviews for union {union_id}",
    )  # fmt: skip
    code, out, _ = run(capsys, config, "unions", "set-chat", union_id, "-100777")
    assert code == 0 and "review group -100777" in out
    code, _, err = run(capsys, config, "unions", "set-chat", "99", "-100778")
    assert code == 2 and "enterprise union 99" in err
