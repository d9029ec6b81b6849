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

The change marker says what changed lately, so that a warm container drops only that. Its attributes:

    revision      N  every write able to change an answer adds one, in the same transaction (after a batch)
    changed_at    N  epoch seconds of that write
    log           L  of B: one entry per revision, oldest first; the last one is `log_revision`'s. An entry
                     is the FINGERPRINT_BYTES-byte fingerprints of the pks the revision wrote, concatenated
                     (TOKEN#<hash>, USER#<id>, GROUP#<name> for a group and its view chunks, MODEL#<id>)
    log_revision  N  the revision the log ends at; a log that ends elsewhere (a writer that only added one to
                     `revision`) says nothing

A container holding revision H that reads revision R drops the cached tokens, users and views whose pk's
fingerprint is in the entries of H+1..R. When the log does not reach back to H+1 it cannot know, and drops
everything: after more than the log holds, after a revision that wrote more than KEYS_PER_REVISION keys (its
writer empties the log instead), or when R < H. A fingerprint names a pk only probably: two pks sharing one
(48 bits) make a container re-read a record that did not change, never keep one that did.

The log is trimmed, oldest entries first, to LOG_BYTES, so the item stays under 4 KB: a strongly consistent read
of it is one read unit, as before. Writers read the marker, then write the next revision on the condition that
`revision` is still what they read; a writer that loses that race re-reads the marker and tries again
(infra/registry/writes.py).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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
CHANGED_AT = "changed_at"
LOG = "log"
LOG_REVISION = "log_revision"
FINGERPRINT_BYTES = 6
# Entries' bytes, one more each for DynamoDB's list overhead: with the rest of the item, under one 4 KB read unit.
LOG_BYTES = 3_600
# A revision that wrote more keys than this (a bulk import) is logged as "everything changed".
KEYS_PER_REVISION = 150


def changes_key() -> dict[str, str]:
    return {PK: CHANGES, SK: CHANGES}


FOLLOWERS = "FOLLOWERS"  # one item per `migrate --follow` source: its status, read by `modelgate status` only


def follower_key(source: str) -> dict[str, str]:
    return {PK: FOLLOWERS, SK: source}


def fingerprint(pk: str) -> bytes:
    """What the change log records for an item's pk (its view chunks share the group's)."""
    return hashlib.blake2b(pk.encode(), digest_size=FINGERPRINT_BYTES).digest()


@dataclass(frozen=True, slots=True)
class Marker:
    """The change marker as read: a revision, and the entries of the latest revisions, oldest first, the last one
    `revision`'s (none when unknown)."""

    revision: int = 0
    log: tuple[bytes, ...] = ()

    def changed_since(self, held: int) -> frozenset[bytes] | None:
        """The fingerprints of every pk written after revision `held`; None when the log does not reach back."""
        behind = self.revision - held
        if behind < 0 or behind > len(self.log):
            return None
        entries = self.log[len(self.log) - behind :]
        return frozenset(e[i : i + FINGERPRINT_BYTES] for e in entries for i in range(0, len(e), FINGERPRINT_BYTES))

    def next(self, pks: Iterable[str]) -> Marker:
        """The marker after one more revision that wrote these pks."""
        written = set(pks)
        if len(written) > KEYS_PER_REVISION:  # a bulk write: not worth its bytes, nor hashing 20,000 pks
            return Marker(self.revision + 1)
        log = [*self.log, b"".join(sorted({fingerprint(pk) for pk in written}))]
        size = sum(len(entry) + 1 for entry in log)
        while size > LOG_BYTES:
            size -= len(log.pop(0)) + 1
        return Marker(self.revision + 1, tuple(log))


def marker_of(item: Mapping[str, Any] | None) -> Marker:
    """The marker in a DynamoDB item (attribute values as the low-level client gives them); 0 before any write."""
    if item is None:
        return Marker()
    revision = int(item[REVISION]["N"])
    if LOG not in item or int(item.get(LOG_REVISION, {}).get("N", -1)) != revision:
        return Marker(revision)
    return Marker(revision, tuple(bytes(entry["B"]) for entry in item[LOG]["L"]))


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
