"""The mass-removal hold: an emptied, truncated or wrong database must not take every user offline.

A plan that would remove or disable more than 10% of the keys its source wrote, and at least 10 of them, is not
written. A key counts when it is removed, turns from enabled to anything else, or its enabled owner is removed or
disabled. The operator lets one through with `--allow-mass-removal`.
"""

from __future__ import annotations

from dataclasses import dataclass

from handler.core import keys
from infra.apply import Plan, State
from infra.registry import ENABLED
from infra.seed import Seed

SHARE = 0.10
AT_LEAST = 10


@dataclass(frozen=True)
class Hold:
    lost: int  # keys the plan would remove or disable
    owned: int  # keys the source wrote

    def line(self) -> str:
        share = f"{self.lost / self.owned:.0%}" if self.owned else "all"
        return (
            f"held: this would remove or disable {self.lost} of the {self.owned} keys this source wrote ({share}); "
            "nothing written. If the source is right, run once with --allow-mass-removal"
        )

    def as_dict(self) -> dict[str, int]:
        return {"lost": self.lost, "owned": self.owned}


def keys_lost(planned: Plan, state: State, seed: Seed) -> int:
    """The distinct keys (by hash) the plan removes or disables, directly or through their owner."""
    removed = set(planned.removed_tokens)
    lost = {digest for digest, record in state.tokens.items() if record.get("token_id") in removed}
    for token in planned.tokens:
        digest = keys.key_hash(token["key"])
        if state.tokens.get(digest, {}).get("status") == ENABLED and token["status"] != ENABLED:
            lost.add(digest)
    owners = set(planned.removed_users) | {
        u["id"]
        for u in planned.users
        if u["status"] != ENABLED and state.users.get(u["id"], {}).get("status") == ENABLED
    }
    if owners:
        lost |= {d for d, r in state.tokens.items() if r.get("user_id") in owners and r.get("status") == ENABLED}
        lost |= {keys.key_hash(t["key"]) for t in seed.tokens if t["user"] in owners and t["status"] == ENABLED}
    return len(lost)


def check(planned: Plan, state: State, seed: Seed, owned: int) -> Hold | None:
    lost = keys_lost(planned, state, seed)
    if lost >= AT_LEAST and lost > SHARE * owned:
        return Hold(lost, owned)
    return None
