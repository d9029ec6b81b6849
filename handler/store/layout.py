"""The single-table layout: one place that names every key, shared by the function (reads) and the CLI (writes).

| item          | pk                  | sk          | gsi1pk / gsi1sk   |
|---------------|---------------------|-------------|-------------------|
| catalog model | MODEL#<id>          | MODEL       | MODELS / <id>     |
| group         | GROUP#<name>        | GROUP       | GROUPS / <name>   |
| group view    | GROUP#<name>        | VIEW#<nnnn> | (none)            |
| user          | USER#<id>           | USER        | USERS / <id>      |
| token         | TOKEN#<sha256(key)> | TOKEN       | TOKENS / <id>     |
| change marker | CHANGES             | CHANGES     | (none)            |
| follower      | FOLLOWERS           | <source>    | (none)            |

A group view is the group's ordered models joined with their catalog entries, compressed JSON split in
chunks of at most VIEW_CHUNK_BYTES, so that one Query returns a whole group of thousands of models.
The CLI rewrites a group's view whenever the group or one of its catalog models changes.

The change marker holds one number, `revision`, that every write able to change an answer increments in the same
transaction. A warm container re-reads only the marker (every REVALIDATE_SECONDS); while it is unchanged, whatever
the container read stays valid.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

PK = "pk"
SK = "sk"
GSI1 = "gsi1"
GSI1_PK = "gsi1pk"
GSI1_SK = "gsi1sk"
TTL_ATTRIBUTE = "purge_at"

MODEL, GROUP, USER, TOKEN = "MODEL", "GROUP", "USER", "TOKEN"
VIEW_PREFIX = "VIEW#"
# Three chunks fit in one 1 MB Query page; each stays well under the 400 KB item limit.
VIEW_CHUNK_BYTES = 300_000
LISTS = {MODEL: "MODELS", GROUP: "GROUPS", USER: "USERS", TOKEN: "TOKENS"}


def key(kind: str, ident: str) -> dict[str, str]:
    return {PK: f"{kind}#{ident}", SK: kind}


def model_key(model_id: str) -> dict[str, str]:
    return key(MODEL, model_id)


def group_key(name: str) -> dict[str, str]:
    return key(GROUP, name)


def user_key(user_id: str) -> dict[str, str]:
    return key(USER, user_id)


def token_key(key_hash: str) -> dict[str, str]:
    return key(TOKEN, key_hash)


CHANGES = "CHANGES"
REVISION = "revision"


def changes_key() -> dict[str, str]:
    return {PK: CHANGES, SK: CHANGES}


FOLLOWERS = "FOLLOWERS"  # one item per `migrate --follow` source: its status, read by `modelgate status` only


def follower_key(source: str) -> dict[str, str]:
    return {PK: FOLLOWERS, SK: source}


def view_sk(index: int) -> str:
    return f"{VIEW_PREFIX}{index:04d}"


def encode_view(members: Sequence[tuple[str, Mapping[str, Any] | None]]) -> tuple[str, list[bytes]]:
    """A group's (model id, catalog entry or None) pairs as a content version and compressed chunks."""
    raw = json.dumps([[model_id, entry] for model_id, entry in members], separators=(",", ":")).encode()
    version = hashlib.blake2b(raw, digest_size=12).hexdigest()
    packed = zlib.compress(raw, 6)
    chunks = [packed[i : i + VIEW_CHUNK_BYTES] for i in range(0, len(packed), VIEW_CHUNK_BYTES)] or [b""]
    return version, chunks


def decode_view(chunks: Sequence[bytes]) -> list[tuple[str, dict[str, Any] | None]]:
    pairs = json.loads(zlib.decompress(b"".join(chunks)))
    return [(str(model_id), entry) for model_id, entry in pairs]
