"""The table definition comes from template.yaml, the one source of truth, for moto, DynamoDB Local and tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from infra.safe_yaml import SafeLoader, load_yaml

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
TABLE_RESOURCE = "Table"
_CREATE_KEYS = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")


class _CloudFormationLoader(SafeLoader):
    """Reads CloudFormation YAML; intrinsic functions (!Ref, !If, ...) become plain values we never use here."""


def _intrinsic(loader: SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {f"Fn::{suffix}" if suffix != "Ref" else "Ref": value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    document: dict[str, Any] = load_yaml(path.read_text(encoding="utf-8"), _CloudFormationLoader)
    return document


def table_definition(path: Path = TEMPLATE) -> dict[str, Any]:
    """The Table resource's Properties from the template."""
    properties: dict[str, Any] = load_template(path)["Resources"][TABLE_RESOURCE]["Properties"]
    return properties


def create_table(client: DynamoDBClient, table_name: str, path: Path = TEMPLATE) -> bool:
    """Create the table as the template defines it, unless it exists. True when it was created."""
    try:
        client.describe_table(TableName=table_name)
        return False
    except client.exceptions.ResourceNotFoundException:
        pass
    properties = table_definition(path)
    arguments: dict[str, Any] = {key: properties[key] for key in _CREATE_KEYS if key in properties}
    client.create_table(TableName=table_name, **arguments)
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ttl = properties.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled") is True:
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
    return True
