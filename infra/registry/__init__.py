"""The operator's read-write access to the table: the only code that writes items.

Every write that spans several items (a group and its view chunks, a model and the views naming it, a key and
the check that its user is enabled) goes in one transaction whose conditions re-check what was read, so a
concurrent change cancels it instead of being overwritten. Catalog models are written in batches with unprocessed
items retried. Whenever a group or a catalog model changes, the views of the affected groups are rebuilt, because
the function reads only views. A view already current is not rewritten, so repeating a change writes nothing.

One module per kind of item written (catalog, groups and their views, users, keys, sessions), over one layer that
sends the writes (writes.Table: batches and transactions) and retries conflicts (writes.retry_conflicts).
"""

from __future__ import annotations

from infra.registry.catalog import Catalog
from infra.registry.keys import PURGE_AFTER_EXPIRY_SECONDS, Keys, new_token_id
from infra.registry.records import (
    DISABLED,
    ENABLED,
    TokenRecord,
    entry_of,
    from_item,
    model_record,
    new_incarnation,
    to_item,
    view_members,
    view_version,
)
from infra.registry.sessions import Sessions
from infra.registry.users import Users
from infra.registry.writes import Conflict, Contended, Refused, RegistryError, retry_conflicts

__all__ = [
    "DISABLED",
    "ENABLED",
    "PURGE_AFTER_EXPIRY_SECONDS",
    "Conflict",
    "Contended",
    "Refused",
    "Registry",
    "RegistryError",
    "TokenRecord",
    "entry_of",
    "from_item",
    "model_record",
    "new_incarnation",
    "new_token_id",
    "retry_conflicts",
    "to_item",
    "view_members",
    "view_version",
]


class Registry(Catalog, Users, Keys, Sessions):
    """Every job's writes over one table."""
