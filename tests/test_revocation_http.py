"""Revocation over real HTTP and through the real Lambda entry: every command reaches warm containers.

Twenty trials of each command (`key disable`, `user disable`, `group remove`, `session revoke`) against a warm
uvicorn (as `modelgate serve` runs the app) and a warm Lambda handler, both at the default REVALIDATE_SECONDS (2),
on moto's server. Trials overlap in time (infra/bench/revocation.py), so the whole test takes seconds. What is
asserted is the outcome: every trial refused by both, none given up on. How soon is the benchmark's figure
(`./infra/dev bench --only revocation`); when a change is seen is decided by the revalidation clock, which
tests/test_cache_revalidation.py drives.
Under churn (one change a second), on a driven clock: unchanged keys stay cached while a disabled one is refused.
"""

from __future__ import annotations

import math

import pytest

from infra.bench import churn
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


def test_under_churn_unchanged_keys_stay_cached_and_a_disabled_key_is_still_refused_in_time(
    moto_endpoint: str,
) -> None:
    # GIVEN a warm Lambda handler serving 200 keys of 20 users in 5 groups, on a driven clock
    # WHEN one change a second (through the registry) toggles unrelated keys, every fifth disabling a served key,
    # for 30 s at 20 calls a second; and again with the marker's log hidden (the former drop-all design)
    targeted = churn.driven(moto_endpoint, targeted=True, seconds=30, rate=20)
    baseline = churn.driven(moto_endpoint, targeted=False, seconds=30, rate=20)

    # THEN every request the container sent, charged to the 600 unchanged-key calls, stays under 0.05 a call
    # (one marker read per REVALIDATE_SECONDS, one re-read per disabled key), where dropping everything cost over
    # one a call; and each disabled key was refused at the first call after REVALIDATE_SECONDS
    assert targeted.calls == baseline.calls == 600
    assert targeted.per_call <= churn.TARGET_PER_CALL, targeted
    assert baseline.per_call > 1, baseline
    assert len(targeted.refusals) == churn.probes_within(30) == 5
    assert max(targeted.refusals) <= churn.REVALIDATE + 0.1, targeted.refusals
