"""Strict mode: a skip is a failure. `.ci/run` sets MODELGATE_STRICT=1 (so does CI=true, as CI services set it).

The suite skips what this machine lacks (DynamoDB Local, MariaDB, checkov, chromium, ...) so that a developer can
run it anywhere; CI must run all of it, and must not depend on the CI service setting a variable to say so.
Registered by tests/conftest.py (`pytest_plugins`).
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

STRICT_VARIABLE = "MODELGATE_STRICT"


def strict() -> bool:
    return os.environ.get(STRICT_VARIABLE) == "1" or os.environ.get("CI") == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and strict() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in strict mode ({STRICT_VARIABLE}=1, set by .ci/run), which runs all: {reason}"
