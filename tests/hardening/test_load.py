"""GIVEN the service under uvicorn on loopback WHEN a second process sends a mix of keys, a session, anonymous
callers and bad keys at a concurrency of 50 for 20 s THEN there are zero errors and zero wrong lists.

Latency is printed (p50, p99), never asserted: the suite makes no timed assertions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import LocalServer

pytestmark = pytest.mark.load

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY, SECONDS = 50, 20


def test_bounded_load_gives_every_caller_its_own_list(
    http_service: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.hardening.loadgen",
            http_service.base_url,
            f"--concurrency={CONCURRENCY}",
            f"--seconds={SECONDS}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SECONDS + 60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    with capsys.disabled():
        print(f"\n  load on loopback: {json.dumps(summary)}")
    assert summary["errors"] == 0
    assert summary["wrong_lists"] == 0
    assert summary["exceptions"] == {}
    assert summary["ok"] == summary["requests"] > 0
    # every kind of caller was exercised
    assert set(summary["by_caller"]) == {
        "anonymous",
        "bob",
        "disabled",
        "empty",
        "expired",
        "full",
        "limited",
        "malformed",
        "near-miss",
        "session:alice",
        "unknown",
        "widening",
    }
