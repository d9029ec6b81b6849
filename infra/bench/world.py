"""The benchmark's data: a synthetic catalog shaped like real model lists, groups of each measured size, and keys.

Written with the operator's own Registry, so the function reads exactly what `modelgate apply` would leave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from handler.core import keys
from infra.registry import Registry
from infra.table import create_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

OWNERS = ("openai", "meta", "mistralai", "qwen", "google", "acme", "system")
SESSION_SECRET = "bench-session-secret-0123456789abcdefghijklmnopqrstuvwxyz"  # noqa: S105  # a local benchmark only


def local_dynamodb(endpoint: str, region: str = "us-east-1") -> DynamoDBClient:
    """A DynamoDB client for an engine on loopback (moto, DynamoDB Local): any credentials do."""
    import boto3  # noqa: PLC0415

    client: DynamoDBClient = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106  # a local engine takes any
    )
    return client


def model_id(index: int) -> str:
    """Real ids carry `/`, `:`, `.` and run to 30-40 characters; so do these."""
    owner = OWNERS[index % len(OWNERS)]
    return f"{owner}/model-{index:05d}-v{index % 4}.{index % 10}:instruct"


def synthetic_catalog(count: int) -> list[dict[str, Any]]:
    """`count` catalog entries. Every third stores its own permission list, as OpenAI's dump does."""
    entries: list[dict[str, Any]] = []
    for index in range(count):
        entry: dict[str, Any] = {
            "id": model_id(index),
            "owned_by": OWNERS[index % len(OWNERS)],
            "created": 1_650_000_000 + index * 3_600,
        }
        if index % 3 == 0:
            entry["permission"] = [
                {
                    "id": f"modelperm-{index:024d}",
                    "object": "model_permission",
                    "created": 1_669_000_000 + index,
                    "allow_create_engine": False,
                    "allow_sampling": True,
                    "allow_logprobs": True,
                    "allow_search_indices": False,
                    "allow_view": True,
                    "allow_fine_tuning": False,
                    "organization": "*",
                    "group": None,
                    "is_blocking": False,
                }
            ]
        entries.append(entry)
    return entries


def group_name(size: int) -> str:
    return f"bench-{size}"


def bench_key(size: int, label: str) -> str:
    """A well-formed key, distinct per (group size, label); fixed so repeated runs read alike."""
    return keys.PREFIX + f"bench{size}{label}".ljust(keys.RANDOM_LENGTH, "0")


@dataclass
class BenchWorld:
    table: str
    sizes: tuple[int, ...]
    catalog: list[dict[str, Any]]
    # Per group size: two keys of one user, and one key of a second user in the same group.
    keys: dict[int, dict[str, str]] = field(default_factory=dict)

    def user(self, size: int, second: bool = False) -> str:
        return f"bench-user-{size}" + ("-b" if second else "")


def populate(client: DynamoDBClient, table: str, *, catalog_size: int, sizes: tuple[int, ...]) -> BenchWorld:
    """Create `table` from the template and write the catalog, one group per size (its first models) and keys.

    The smallest group is also the `default` group, which anonymous callers get.
    """
    create_table(client, table)
    registry = Registry(client, table)
    catalog = synthetic_catalog(max(catalog_size, *sizes))
    registry.put_models(catalog)
    by_id = {entry["id"]: entry for entry in catalog}
    world = BenchWorld(table, sizes, catalog)
    for size in sizes:
        members = [entry["id"] for entry in catalog[:size]]
        registry.put_group(group_name(size), members, by_id)
        registry.put_user(world.user(size), group_name(size))
        registry.put_user(world.user(size, second=True), group_name(size))
        world.keys[size] = {"a": bench_key(size, "a"), "b": bench_key(size, "b"), "other": bench_key(size, "c")}
        registry.put_token(world.keys[size]["a"], user_id=world.user(size), name="a")
        registry.put_token(world.keys[size]["b"], user_id=world.user(size), name="b")
        registry.put_token(world.keys[size]["other"], user_id=world.user(size, second=True), name="other")
    smallest = min(sizes)
    registry.put_group("default", [entry["id"] for entry in catalog[:smallest]], by_id)
    return world
