"""``leadpipe import / customize / runs / run / export / status --api / db migrate`` as real
subprocesses against a real Leadpipe (web, worker, clock and the local services)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from tests.e2e.test_pipeline import sample_leads

pytestmark = pytest.mark.e2e

LEADPIPE = str(Path(sys.executable).with_name("leadpipe"))


def cli(app, *args: str, cwd: Path, key: str | None = None, timeout: float = 120):
    env = {
        name: value
        for name, value in app.env.items()
        if name in ("DATABASE_URL", "REDIS_URL", "REDIS_NAMESPACE")
    }
    env.update(
        PATH="/usr/bin:/bin",
        LEADPIPE_URL=app.web,
        LEADPIPE_API_KEY=app.key if key is None else key,
    )
    return subprocess.run(
        [LEADPIPE, *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_import_customize_follow_list_show_and_export_a_run(leadpipe, tmp_path):
    app = leadpipe()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "email", "company", "website"])
    for lead in sample_leads(app.site, 5):
        writer.writerow([lead["name"], lead["email"], lead["company"], lead["company_url"]])
    writer.writerow(["No Email", "", "Nobody Inc", "http://nobody.example/"])
    (tmp_path / "leads.csv").write_text(out.getvalue())

    done = cli(app, "import", "leads.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Imported leads.csv as import 1: 6 rows, 5 accepted, 1 rejected"
    assert any(line.split()[:2] == ["7", "missing_email"] for line in lines)
    assert lines[-1] == "Next: leadpipe customize --import 1"

    done = cli(app, "customize", "--import", "1", "--follow", "--interval", "0.3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Run 1 started: 5 queued")
    final = lines[-7:]  # not a terminal: the whole view once at the end
    assert final[0].startswith("Run 1 · completed · 5/5 leads done (5 emails")
    stages = ("scrape", "intel", "strategy", "subject", "messaging")
    for stage, line in zip(stages, final[2:], strict=True):
        assert line.split()[0] == stage and "5/5" in line and "5 completed" in line

    done = cli(app, "runs", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[2].split()[:4] == ["1", "completed", "import", "1"]

    done = cli(app, "run", "1", cwd=tmp_path)  # an ended run: printed once, exit 0
    assert done.returncode == 0 and "Run 1 · completed" in done.stdout

    done = cli(app, "export", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "wrote run 1's leads to leads-run-1.csv"
    rows = list(csv.DictReader((tmp_path / "leads-run-1.csv").open()))
    assert [r["messaging_status"] for r in rows] == ["completed"] * 5

    done = cli(app, "export", "1", "--format", "xlsx", "-o", "out.xlsx", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx").active
    assert sheet.max_row == 6

    done = cli(app, "status", "--api", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    messaging = next(line for line in done.stdout.splitlines() if "messaging" in line)
    assert messaging.split()[1:5] == ["0", "0", "0", "5"]  # pending queued started completed

    done = cli(app, "db", "migrate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "schema applied" in done.stdout


def test_failures_are_one_line(leadpipe, tmp_path):
    app = leadpipe()
    work = tmp_path / "work"
    work.mkdir()
    for args, key, message in [
        (("run", "99"), None, "leadpipe: not found: run 99\n"),
        (("runs",), "lp_wrong", "leadpipe: the API refused the key in LEADPIPE_API_KEY: "),
        (("import", "missing.csv"), None, "leadpipe: no such file: missing.csv\n"),
        (("customize", "12345"), None, "leadpipe: no run started: 0 queued"),
    ]:
        done = cli(app, *args, cwd=work, key=key)
        assert done.returncode in (1, 2), (args, done.stderr)
        assert done.stderr.startswith(message), (args, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert list(work.iterdir()) == []
