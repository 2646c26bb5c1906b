"""The benchmark suite keeps working: ``python -m benchmarks --smoke`` runs the
systems that need no peer package (the floors and this project's backends) in the
test environment, and every unchanged request makes exactly the round trips and
queries it should. Timings are never asserted."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.runner import _importable
from benchmarks.systems import SYSTEMS

ROOT = Path(__file__).resolve().parent.parent

# Our backends that are in this checkout, and the floors they are compared with.
OWN = [
    system
    for system in SYSTEMS
    if system.group in ("floor", "ours") and all(map(_importable, system.modules))
]
SERVICES = sorted({service for system in OWN for service in system.services})

pytestmark = [pytest.mark.slow, pytest.mark.services(*SERVICES)]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("benchmarks")
    names = ",".join(system.name for system in OWN)
    command = [sys.executable, "-m", "benchmarks", "--smoke", "--here"]
    command += ["--systems", names, "--out", str(out)]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out, json.loads((out / "results.json").read_text())


def test_every_system_ran_every_scenario(smoke):
    _out, data = smoke
    for system in OWN:
        result = data["results"][system.name]
        assert "requests" in result, (system.name, result)
        assert set(result["requests"]) == {"100"}
        assert result["memory"]["size"] == 1000
        if system.reads:
            assert result["hot_read"]["median"] > 0
            assert result["change"]["propagated"], (system.name, result["change"])


@pytest.mark.parametrize(
    "system", [s for s in OWN if s.expected_counts], ids=lambda s: s.name
)
def test_unchanged_request_counts(smoke, system):
    counts = smoke[1]["results"][system.name]["counts"]["100"]
    for name, expected in system.expected_counts.items():
        assert counts[name] == expected, (name, counts)
    assert counts["background"] == 0


@pytest.mark.parametrize(
    "system", [s for s in OWN if s.expected_change_counts], ids=lambda s: s.name
)
def test_request_after_a_change_counts(smoke, system):
    change = smoke[1]["results"][system.name]["change"]
    assert change["counted_requests"] == 1
    for name, expected in system.expected_change_counts.items():
        assert change["counts"][name] == expected, (name, change["counts"])


def test_the_report_is_written(smoke):
    out, _data = smoke
    report = (out / "report.md").read_text()
    assert "## Targets" in report
    for system in OWN:
        assert system.label in report
