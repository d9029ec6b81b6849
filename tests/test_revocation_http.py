"""Revocation over real HTTP and through the real Lambda entry: every command reaches warm containers.

Twenty trials of each command (`key disable`, `user disable`, `group remove`, `session revoke`) against a warm
uvicorn (as `modelgate serve` runs the app) and a warm Lambda handler, both at the default REVALIDATE_SECONDS (2),
on moto's server. Trials overlap in time (infra/bench/revocation.py), so the whole test takes seconds. What is
asserted is the outcome: every trial refused by both, none given up on. How soon is the benchmark's figure
(`./infra/dev bench --only revocation`); when a change is seen is decided by the revalidation clock, which
tests/test_cache_revalidation.py drives.
"""

from __future__ import annotations

import math

import pytest

from infra.bench.revocation import KINDS, run_trials, settings_for

pytestmark = pytest.mark.integration

TRIALS = 20


def test_every_revocation_reaches_warm_containers(moto_endpoint: str) -> None:
    # GIVEN a warm serve and a warm Lambda handler at the deployed default revalidation interval
    assert settings_for(moto_endpoint, "any").revalidate_seconds == 2.0
    # WHEN each command runs, twenty times each, while both are asked in a loop
    trials = run_trials(moto_endpoint, TRIALS)

    # THEN every trial was refused by both surfaces: none was still served when the trial gave up
    assert len(trials) == TRIALS * len(KINDS)
    assert all(set(trial.latency) == {"serve", "lambda"} for trial in trials)
    unrefused = [(t.kind, s) for t in trials for s, seconds in t.latency.items() if seconds == math.inf]
    assert unrefused == []
