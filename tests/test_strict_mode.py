"""Strict mode (tests/support/strict.py): under `.ci/run` a skipped test fails the run, whatever the CI service
sets; elsewhere a missing tool skips. Run on a scratch test file in a pytest subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = """
import pytest

def test_runs():
    assert True

def test_needs_a_tool():
    pytest.skip("the tool is not installed")

@pytest.fixture
def engine():
    pytest.skip("the engine is not installed")

def test_needs_an_engine(engine):
    assert engine

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_known_bug():
    assert False
"""


def _pytest(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "MODELGATE_STRICT"}}
    env.update(PYTHONPATH=str(ROOT), **environment)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.support.strict", "-q", "-p", "no:cacheprovider", "-rA", "."],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_skip_is_a_skip_outside_strict_mode(tmp_path: Path) -> None:
    """GIVEN neither MODELGATE_STRICT nor CI WHEN a test and a fixture skip THEN the run passes with 2 skipped."""
    result = _pytest(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 2 skipped, 1 xfailed" in result.stdout


@pytest.mark.parametrize("environment", [{"MODELGATE_STRICT": "1"}, {"CI": "true"}], ids=["strict", "ci"])
def test_under_strict_mode_every_skip_fails_the_run_and_says_why(tmp_path: Path, environment: dict[str, str]) -> None:
    """GIVEN MODELGATE_STRICT=1 (what .ci/run sets) or CI=true WHEN a test skips in its body and another in a
    fixture THEN both fail, each naming strict mode and its skip reason; an expected failure stays expected."""
    result = _pytest(tmp_path, **environment)
    assert result.returncode == 1, result.stdout
    assert "1 failed, 1 passed, 1 xfailed, 1 error" in result.stdout
    assert "skipped in strict mode (MODELGATE_STRICT=1, set by .ci/run), which runs all: Skipped: the tool is" in (
        result.stdout
    )
    assert "which runs all: Skipped: the engine is not installed" in result.stdout


def test_ci_runs_in_strict_mode() -> None:
    """GIVEN .ci/run THEN it sets MODELGATE_STRICT=1 itself before the README's test command."""
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert lines.index("export MODELGATE_STRICT=1") < lines.index("exec ./infra/dev test")
