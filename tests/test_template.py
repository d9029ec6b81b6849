"""template.yaml: cfn-lint clean, least privilege, no plaintext secret, and the tests' table is the template's."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from handler.store import layout
from handler.web.app import MODEL_ROUTES
from infra.registry import Registry
from infra.table import TEMPLATE, load_template
from tests.support.stack import Stack

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

ROOT = TEMPLATE.parent
TABLE = "modelgate-test"  # the conftest `dynamodb` fixture's table
READ_ACTIONS = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
ALLOWED_ACTIONS = READ_ACTIONS | {
    "secretsmanager:GetSecretValue",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "kms:Decrypt",  # only with KmsKeyArn (tests/test_template_operations.py)
}


def sam_cli() -> str:
    """The SAM CLI that infra/test-tools.sh installs (or one on PATH). Required in CI, skipped elsewhere."""
    for candidate in (os.environ.get("MODELGATE_SAM"), str(ROOT / ".cache" / "sam-venv" / "bin" / "sam")):
        if candidate and Path(candidate).is_file():
            return candidate
    on_path = shutil.which("sam")
    if on_path:
        return on_path
    pytest.skip("the SAM CLI is not installed (./infra/dev test installs it into .cache/sam-venv)")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"]
    return found


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def getatt(value: Any) -> str | None:
    """`!GetAtt A.B` or `Fn::GetAtt: [A, B]` as "A.B"."""
    if not isinstance(value, dict) or "Fn::GetAtt" not in value:
        return None
    target = value["Fn::GetAtt"]
    return target if isinstance(target, str) else ".".join(target)


def role_statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement the role can have, whichever way its `Fn::If` statements go."""
    role = resources["ModelsFunctionRole"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    flat = [s for s in statements if "Fn::If" not in s]
    for conditional in (s["Fn::If"] for s in statements if "Fn::If" in s):
        flat.extend(branch for branch in conditional[1:] if branch != {"Ref": "AWS::NoValue"})
    return flat


def test_sam_validate_lint_is_clean() -> None:
    """GIVEN the template WHEN `sam validate --lint` (cfn-lint) checks it THEN zero errors and zero warnings."""
    sam = sam_cli()
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    result = subprocess.run(
        [sam, "validate", "--lint", "--region", "us-east-1", "--template-file", str(TEMPLATE)],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output  # cfn-lint warnings also make it fail
    assert "is a valid SAM Template" in output
    assert not re.search(r"\b[EW]\d{4}\b", output), output


# What each DynamoDB call of the function is authorised as (TransactGetItems reads each item as a GetItem).
CALLED_AS = {"get_item": "GetItem", "batch_get_item": "BatchGetItem", "transact_get_items": "GetItem", "query": "Query"}


def test_the_function_may_read_the_table_with_exactly_the_calls_it_makes(resources: dict[str, Any]) -> None:
    """GIVEN the function's role and the DynamoDB calls in handler/store/dynamodb.py THEN the role allows exactly
    those calls, on the table alone: not its indexes, which the function never queries (only the CLI does)."""
    function = resources["ModelsFunction"]["Properties"]
    assert getatt(function["Role"]) == "ModelsFunctionRole.Arn"
    assert "Policies" not in function  # SAM policy templates would add grants (DynamoDBReadPolicy includes Scan)
    dynamodb = [s for s in role_statements(resources) if any(a.startswith("dynamodb:") for a in _list(s["Action"]))]
    assert len(dynamodb) == 1
    statement = dynamodb[0]
    assert statement["Effect"] == "Allow"
    source = (ROOT / "handler" / "store" / "dynamodb.py").read_text()
    calls = set(re.findall(r"self\.client\.(\w+)\(", source))
    assert calls <= set(CALLED_AS), calls
    assert set(_list(statement["Action"])) == {f"dynamodb:{CALLED_AS[call]}" for call in calls} == READ_ACTIONS
    assert getatt(statement["Resource"]) == "Table.Arn"
    assert "IndexName" not in source


def test_the_role_grants_nothing_else(resources: dict[str, Any], template: dict[str, Any]) -> None:
    """GIVEN every statement of the role THEN no wildcard action, no write, no Scan and no `Resource: "*"`."""
    for statement in role_statements(resources):
        actions = _list(statement["Action"])
        assert set(actions) <= ALLOWED_ACTIONS, actions
        assert not any("*" in action for action in actions)
        assert "*" not in _list(statement["Resource"])
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement
        assert "NotResource" not in statement
    secret = [s for s in role_statements(resources) if "secretsmanager:GetSecretValue" in _list(s["Action"])]
    assert [s["Resource"] for s in secret] == [{"Ref": "SessionSecret"}]
    logs = [s for s in role_statements(resources) if "logs:PutLogEvents" in _list(s["Action"])]
    assert [getatt(s["Resource"]) for s in logs] == ["FunctionLogGroup.Arn"]
    role = resources["ModelsFunctionRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    iam_types = {r["Type"] for r in resources.values() if r["Type"].startswith("AWS::IAM::")}
    assert iam_types == {"AWS::IAM::Role"}
    assert template["Resources"]["ModelsFunctionRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]


def test_the_session_secret_is_generated_never_plaintext(resources: dict[str, Any]) -> None:
    """GIVEN the template THEN the session secret is a stack-generated Secrets Manager secret passed by ARN."""
    secret = resources["SessionSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert "SecretString" not in secret["Properties"]
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    variables = resources["ModelsFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["SESSION_SECRET_ARN"] == {"Ref": "SessionSecret"}
    assert "SESSION_SECRET" not in variables


def test_the_table_is_production_grade(resources: dict[str, Any], template: dict[str, Any]) -> None:
    """GIVEN the Table THEN on-demand, PITR, SSE, deletion protection (default on), retained, TTL on purge_at."""
    table = resources["Table"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert Stack().resources["Table"]["Properties"]["SSESpecification"] == {"SSEEnabled": True}  # KmsKeyArn empty
    assert properties["DeletionProtectionEnabled"] == {"Ref": "TableDeletionProtection"}
    assert template["Parameters"]["TableDeletionProtection"]["Default"] == "true"
    assert properties["TimeToLiveSpecification"] == {"AttributeName": layout.TTL_ATTRIBUTE, "Enabled": True}


def test_the_table_keys_are_the_ones_the_code_uses(resources: dict[str, Any]) -> None:
    """GIVEN handler/store/layout.py THEN the template's key schema and GSI use exactly its attribute names."""
    properties = resources["Table"]["Properties"]
    assert properties["KeySchema"] == [
        {"AttributeName": layout.PK, "KeyType": "HASH"},
        {"AttributeName": layout.SK, "KeyType": "RANGE"},
    ]
    [index] = properties["GlobalSecondaryIndexes"]
    assert index["IndexName"] == layout.GSI1
    assert index["KeySchema"] == [
        {"AttributeName": layout.GSI1_PK, "KeyType": "HASH"},
        {"AttributeName": layout.GSI1_SK, "KeyType": "RANGE"},
    ]


def test_the_index_holds_only_what_the_cli_lists(seeded: Registry, resources: dict[str, Any]) -> None:
    """GIVEN the test world applied (models, groups and their views, users, keys, the change marker) WHEN gsi1 is
    read whole THEN it holds the four kinds the CLI lists and nothing the function reads (views, the marker);
    each item with every attribute its table item has, which is what the listings print (projection ALL)."""
    [index] = resources["Table"]["Properties"]["GlobalSecondaryIndexes"]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    table_items = seeded.client.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    indexed = seeded.client.scan(TableName=TABLE, IndexName=layout.GSI1)["Items"]
    assert {item[layout.GSI1_PK]["S"] for item in indexed} == set(layout.LISTS.values())
    assert any(item[layout.SK]["S"].startswith(layout.VIEW_PREFIX) for item in table_items)
    assert sorted(indexed, key=str) == sorted((i for i in table_items if layout.GSI1_PK in i), key=str)
    assert len(indexed) < len(table_items)


def test_moto_table_is_created_from_the_template(dynamodb: DynamoDBClient, resources: dict[str, Any]) -> None:
    """GIVEN the conftest table (infra.table.create_table) WHEN described THEN it is the template's definition."""
    expected = resources["Table"]["Properties"]
    described = dynamodb.describe_table(TableName=TABLE)["Table"]
    assert described["KeySchema"] == expected["KeySchema"]
    assert sorted(described["AttributeDefinitions"], key=str) == sorted(expected["AttributeDefinitions"], key=str)
    assert described["BillingModeSummary"]["BillingMode"] == expected["BillingMode"]
    [index] = described["GlobalSecondaryIndexes"]
    [declared] = expected["GlobalSecondaryIndexes"]
    assert (index["IndexName"], index["KeySchema"], index["Projection"]) == (
        declared["IndexName"],
        declared["KeySchema"],
        declared["Projection"],
    )
    ttl = dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", layout.TTL_ATTRIBUTE)


def test_the_function_is_python313_arm64_with_json_logs(resources: dict[str, Any], template: dict[str, Any]) -> None:
    """GIVEN the function THEN python3.13 on arm64, built by the Makefile, JSON logs with a retention."""
    function = resources["ModelsFunction"]
    properties = function["Properties"]
    assert (properties["Runtime"], properties["Architectures"]) == ("python3.13", ["arm64"])
    assert (function["Metadata"]["BuildMethod"], function["Metadata"]["ContextPath"]) == ("makefile", "infra/build")
    assert (ROOT / "infra" / "build" / "Makefile").read_text().count("build-ModelsFunction:") == 1
    assert properties["CodeUri"] == "handler/"
    assert properties["Handler"] == "handler.main.handler"
    entry = ast.parse((ROOT / "handler" / "main.py").read_text())
    assert any(isinstance(node, ast.FunctionDef) and node.name == "handler" for node in entry.body)
    assert 128 <= properties["MemorySize"] <= 3008
    assert properties["Timeout"] < 30  # inside API Gateway's 30 s integration timeout
    assert properties["LoggingConfig"]["LogFormat"] == "JSON"
    assert properties["LoggingConfig"]["LogGroup"] == {"Ref": "FunctionLogGroup"}
    assert resources["FunctionLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert (
        template["Parameters"]["LogRetentionDays"]["Default"]
        in template["Parameters"]["LogRetentionDays"]["AllowedValues"]
    )


def test_every_environment_variable_is_one_the_code_reads(resources: dict[str, Any]) -> None:
    """GIVEN the function's environment THEN each name is read by handler/settings.py or handler/main.py (no typo)."""
    source = (ROOT / "handler" / "settings.py").read_text() + (ROOT / "handler" / "main.py").read_text()
    for name in resources["ModelsFunction"]["Properties"]["Environment"]["Variables"]:
        assert f'"{name}"' in source, name


def test_the_http_api_routes_and_stage(resources: dict[str, Any], template: dict[str, Any]) -> None:
    """GIVEN the HTTP API THEN `$default` stage, list and retrieve GET routes for each dialect's prefix (those the app
    serves: handler.web.app.MODEL_ROUTES) plus `$default`, throttling from parameters."""
    api = resources["HttpApi"]["Properties"]
    assert api["StageName"] == "$default"
    # API Gateway's CORS would answer preflights itself and overwrite the app's headers (handler/web/cors.py).
    assert "CorsConfiguration" not in api
    assert api["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
    }
    events = resources["ModelsFunction"]["Properties"]["Events"]
    routes = {(e["Properties"].get("Method"), e["Properties"].get("Path")) for e in events.values()}
    prefixes = ("/v1/models", "/v1beta/models", "/v1beta/openai/models")
    assert prefixes == MODEL_ROUTES
    dialect_routes = {("GET", path) for prefix in prefixes for path in (prefix, prefix + "/{model+}")}
    assert routes == {*dialect_routes, (None, None)}  # (None, None): $default
    assert all(e["Type"] == "HttpApi" and e["Properties"]["ApiId"] == {"Ref": "HttpApi"} for e in events.values())
    url = Stack().outputs["OpenAIBaseUrl"]["Value"]  # no DomainName
    assert url == {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/v1"}


def _longest(parameter: dict[str, Any]) -> int:
    if "AllowedValues" in parameter:
        return max(len(str(value)) for value in parameter["AllowedValues"])
    if "MaxLength" in parameter:
        return int(parameter["MaxLength"])
    return len(str(parameter["MaxValue"]))


def test_a_parameter_change_publishes_a_new_version(resources: dict[str, Any], template: dict[str, Any]) -> None:
    """GIVEN AutoPublishAlias (SAM republishes on code changes only) THEN the version description names every
    parameter the function's configuration uses, so changing one replaces the version, and it fits 256 chars."""
    properties = resources["ModelsFunction"]["Properties"]
    assert properties["AutoPublishAlias"] == "live"
    description = properties["VersionDescription"]["Fn::Sub"]
    named = set(re.findall(r"\$\{(\w+)\}", description))
    variables = properties["Environment"]["Variables"].values()
    configuration = {v["Ref"] for v in variables if isinstance(v, dict) and v.get("Ref") in template["Parameters"]}
    assert configuration | {"SnapStart"} <= named
    longest = re.sub(r"\$\{(\w+)\}", lambda m: "x" * _longest(template["Parameters"][m.group(1)]), description)
    assert len(longest) <= 256  # AWS::Lambda::Version Description limit
    assert properties["SnapStart"] == {"ApplyOn": {"Fn::If": ["SnapStartOn", "PublishedVersions", "None"]}}
    assert template["Parameters"]["SnapStart"]["Default"] == "false"


def test_samconfig_has_sane_deploy_defaults() -> None:
    """GIVEN samconfig.toml THEN a stack name, IAM capability, a confirmed changeset, a managed bucket, env vars."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]
    assert config["global"]["parameters"]["stack_name"] == "modelgate"
    deploy = config["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True
    assert deploy["resolve_s3"] is True
    assert (ROOT / config["local_invoke"]["parameters"]["env_vars"]).is_file()


def test_the_gateway_logs_every_request_without_paths_or_credentials(resources: dict[str, Any]) -> None:
    """GIVEN the HTTP API WHEN its access log is read
    THEN every request is recorded as JSON with its request id and status, into a log group with retention, and
    the format names no raw path, header, query string or cookie (a key pasted there must not reach a log)."""
    settings = resources["HttpApi"]["Properties"]["AccessLogSettings"]
    assert getatt(settings["DestinationArn"]) == "ApiAccessLogGroup.Arn"
    assert "RetentionInDays" in resources["ApiAccessLogGroup"]["Properties"]
    fields = json.loads(settings["Format"])
    assert fields["requestId"] == "$context.requestId"
    assert fields["status"] == "$context.status"
    variables = " ".join(fields.values())
    for leak in ("$context.path", "$request.header", "$request.querystring", "$context.authorizer", "cookie"):
        assert leak not in variables
