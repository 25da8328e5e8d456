"""Run the whole test suite on SQLite, then on a throwaway PostgreSQL cluster.

    python -m tests.run_engines [pytest arguments]

Prints one summary per engine at the end. Without PostgreSQL's server on the machine the
PostgreSQL run is skipped with a plain message saying how to install it, and the exit
status is SQLite's; with UNIONBOT_REQUIRE_POSTGRES=1 (CI) a missing PostgreSQL fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass

from tests.pgcluster import INSTALL_HINT, PostgresMissing, throwaway_cluster

SUMMARY = re.compile(r"^=+ (.* in [\d.]+s.*) =+$")


@dataclass
class Run:
    engine: str
    status: int
    summary: str


def pytest(engine: str, args: list[str], extra_env: dict[str, str]) -> Run:
    env = {**os.environ, "UNIONBOT_TEST_ENGINE": engine, **extra_env}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    print(f"\n===== tests on {engine} =====", flush=True)
    summary = "no summary (pytest did not finish)"
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            found = SUMMARY.match(line.strip())
            if found:
                summary = found.group(1)
        status = process.wait()
    return Run(engine, status, summary)


def main(args: list[str]) -> int:
    runs = [pytest("sqlite", args, {})]
    required = os.environ.get("UNIONBOT_REQUIRE_POSTGRES") == "1"
    missing = ""
    try:
        with throwaway_cluster() as cluster:
            runs.append(pytest("postgresql", args, {"UNIONBOT_TEST_PG": cluster.url}))
    except PostgresMissing as error:
        missing = f"{error}: the PostgreSQL run was NOT done; {INSTALL_HINT}"
    except RuntimeError as error:  # the server is there but would not start
        missing = f"the PostgreSQL run was NOT done: {error}"
        required = True

    print("\n===== summary =====")
    for run in runs:
        verdict = "ok" if run.status == 0 else f"FAILED (exit {run.status})"
        print(f"{run.engine:>10}: {run.summary} — {verdict}")
    if missing:
        print(f"{'postgresql':>10}: {missing}")
    failed = any(run.status != 0 for run in runs)
    return 1 if failed or (missing and required) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
