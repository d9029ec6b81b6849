"""template.yaml's scheduled follower: off by default; when FollowSourceSecretArn is set, a function in the VPC built
by its own Makefile target, invoked every minute one at a time, with a role that grants exactly what the follower
sends (checked against the requests a real follow sends), and an alarm when no pass completes for 5 minutes."""

from __future__ import annotations

import ast
import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from moto import mock_aws

from infra.migrate.scheduled import MARGIN_SECONDS, PASSES_METRIC, SCHEDULE_SECONDS, Scheduled
from infra.table import TEMPLATE, create_table, load_template
from tests.support import gateways
from tests.support.gateways import ONE_API, gateway_rows
from tests.support.stack import Stack

ROOT = TEMPLATE.parent
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:modelgate/gateway-db-AbCdEf"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
NETWORK = {
    "FollowerSubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
    "FollowerSecurityGroupIds": "sg-0123456789abcdef0",
}
FOLLOWER = {"FollowerFunction", "FollowerFunctionRole", "FollowerLogGroup", "FollowerStalledAlarm"}
VPC_POLICY = {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"}
TABLE_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:BatchWriteItem",
}
# What authorizes each request (TransactWriteItems has no action of its own: each item inside it is authorized).
TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def on(**parameters: str) -> Stack:
    given: dict[str, Any] = {"FollowSourceSecretArn": SECRET, **NETWORK, **parameters}
    return Stack(**given)


def _statements(stack: Stack) -> list[dict[str, Any]]:
    role = stack.resources["FollowerFunctionRole"]["Properties"]
    return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_follower_is_off_by_default_and_leaves_the_api_as_it_was() -> None:
    """GIVEN every parameter at its default THEN no follower resource or output exists, and the API's function,
    role and alarms are exactly those of a stack without the follower's parameters."""
    default = Stack()
    assert not FOLLOWER & set(default.resources)
    assert "FollowerFunctionName" not in default.outputs
    assert default.conditions["FollowerOn"] is False
    assert "VpcConfig" not in default.resources["ModelsFunction"]["Properties"]
    assert set(on().resources) - set(default.resources) == FOLLOWER


def test_the_function_is_built_by_its_own_target_and_runs_the_scheduled_entry(template: dict[str, Any]) -> None:
    """GIVEN the follower on THEN python3.13 arm64, `make build-FollowerFunction`, the handler
    infra.migrate.scheduled.handler (a module-level function), JSON logs into its own group with the retention,
    and every environment variable is one the entry reads."""
    function = on().resources["FollowerFunction"]
    assert (function["Metadata"]["BuildMethod"], function["Metadata"]["ContextPath"]) == ("makefile", "infra/build")
    assert (ROOT / "infra" / "build" / "Makefile").read_text().count("build-FollowerFunction:") == 1
    properties = function["Properties"]
    assert (properties["Runtime"], properties["Architectures"]) == ("python3.13", ["arm64"])
    assert properties["CodeUri"] == "infra/migrate/"
    assert properties["Handler"] == "infra.migrate.scheduled.handler"
    entry = ast.parse((ROOT / "infra" / "migrate" / "scheduled.py").read_text())
    assert any(isinstance(node, ast.FunctionDef) and node.name == "handler" for node in entry.body)
    assert properties["LoggingConfig"]["LogGroup"] == {"Ref": "FollowerLogGroup"}
    assert properties["LoggingConfig"]["LogFormat"] == "JSON"
    group = on().resources["FollowerLogGroup"]["Properties"]
    assert group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${AWS::StackName}-follower"}
    assert group["RetentionInDays"] == "30"
    source = (ROOT / "infra" / "migrate" / "scheduled.py").read_text()
    variables = properties["Environment"]["Variables"]
    for name in variables:
        assert f'"{name}"' in source, name
    assert variables["SOURCE_SECRET_ARN"] == SECRET
    assert variables["TABLE_NAME"] == {"Ref": "Table"}
    assert variables["FOLLOW_INTERVAL_SECONDS"] == "2"
    assert variables["METRICS_NAMESPACE"] == {"Fn::Sub": "modelgate/${AWS::StackName}"}


def test_it_runs_every_minute_one_invocation_at_a_time_inside_the_vpc(template: dict[str, Any]) -> None:
    """GIVEN the follower on THEN a rule invokes it every minute (the entry's SCHEDULE_SECONDS), reserved
    concurrency 1 keeps invocations from overlapping (and one container warm), a stale invocation is dropped, the
    timeout leaves the entry's margin after a minute of passes, and it is in the given subnets and groups."""
    properties = on().resources["FollowerFunction"]["Properties"]
    assert properties["Events"] == {
        "EveryMinute": {
            "Type": "Schedule",
            "Properties": {"Schedule": "rate(1 minute)", "Description": "modelgate follower - one invocation a minute"},
        }
    }
    assert SCHEDULE_SECONDS == 60
    assert properties["ReservedConcurrentExecutions"] == 1
    assert properties["EventInvokeConfig"] == {"MaximumEventAgeInSeconds": 60, "MaximumRetryAttempts": 0}
    assert properties["Timeout"] >= SCHEDULE_SECONDS + MARGIN_SECONDS
    assert properties["Timeout"] <= 900
    assert properties["VpcConfig"] == {
        "SubnetIds": NETWORK["FollowerSubnetIds"],
        "SecurityGroupIds": NETWORK["FollowerSecurityGroupIds"],
    }
    interval = template["Parameters"]["FollowerIntervalSeconds"]
    assert interval["Default"] == 2
    assert interval["MinValue"] >= 0.5
    assert interval["MaxValue"] == SCHEDULE_SECONDS
    assert (
        template["Parameters"]["FollowerMemorySize"]["Default"]
        in template["Parameters"]["FollowerMemorySize"]["AllowedValues"]
    )


def test_a_follower_without_its_network_is_refused_at_deploy(template: dict[str, Any]) -> None:
    """GIVEN FollowSourceSecretArn THEN the template's rule requires subnets and security groups (an empty list
    parameter is [""]), and the secret parameter takes only a Secrets Manager ARN."""
    rule = template["Rules"]["FollowerNeedsItsNetwork"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "FollowSourceSecretArn"}, ""]}]}
    asserted = [a["Assert"] for a in rule["Assertions"]]
    assert asserted == [
        {"Fn::Not": [{"Fn::Contains": [{"Ref": "FollowerSubnetIds"}, ""]}]},
        {"Fn::Not": [{"Fn::Contains": [{"Ref": "FollowerSecurityGroupIds"}, ""]}]},
    ]
    pattern = re.compile(template["Parameters"]["FollowSourceSecretArn"]["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch(SECRET)
    assert not pattern.fullmatch("mysql://reader:secret@db:3306/oneapi")  # never the URL itself
    assert not pattern.fullmatch("*")


def test_its_role_is_its_own_and_least_privilege() -> None:
    """GIVEN the follower on THEN its own role: GetSecretValue on that one secret, the table's reads and writes
    (no Scan, no table management) on the table and its indexes, the VPC access managed policy, nothing else; the
    API's role is unchanged (it never writes)."""
    stack = on()
    assert stack.resources["FollowerFunction"]["Properties"]["Role"] == {"Fn::GetAtt": "FollowerFunctionRole.Arn"}
    role = stack.resources["FollowerFunctionRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [VPC_POLICY]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    by_sid = {s["Sid"]: s for s in _statements(stack)}
    assert set(by_sid) == {"ReadSourceSecret", "FollowTable"}
    assert by_sid["ReadSourceSecret"]["Action"] == "secretsmanager:GetSecretValue"
    assert by_sid["ReadSourceSecret"]["Resource"] == SECRET
    assert set(by_sid["FollowTable"]["Action"]) == TABLE_ACTIONS
    assert by_sid["FollowTable"]["Resource"] == [{"Fn::GetAtt": "Table.Arn"}, {"Fn::Sub": "${Table.Arn}/index/*"}]
    for statement in by_sid.values():
        assert statement["Effect"] == "Allow"
        assert not any("*" in action for action in _list(statement["Action"]))
    models = json.dumps(stack.resources["ModelsFunctionRole"])
    assert "PutItem" not in models
    assert "ManagedPolicyArns" not in models


def test_with_a_kms_key_it_may_use_that_key_only() -> None:
    """GIVEN KmsKeyArn THEN the follower's role may decrypt and make data keys with it (it writes the encrypted
    table), and its environment and logs use it."""
    stack = on(KmsKeyArn=KEY)
    [grant] = [s for s in _statements(stack) if s["Sid"] == "EncryptWithStackKey"]
    assert (set(grant["Action"]), grant["Resource"]) == ({"kms:Decrypt", "kms:GenerateDataKey"}, KEY)
    assert stack.resources["FollowerFunction"]["Properties"]["KmsKeyArn"] == KEY
    assert stack.resources["FollowerLogGroup"]["Properties"]["KmsKeyId"] == KEY
    assert not [s for s in _statements(on()) if "kms" in json.dumps(s)]


def test_the_alarm_fires_when_no_pass_completes_for_five_minutes() -> None:
    """GIVEN the follower on THEN an alarm on the entry's per-invocation metric (FollowerPasses, in the namespace
    the function writes): fewer than 1 completed pass in each of 5 one-minute periods, no data counting as a
    stall, notifying the alarm topic; it is not a rollback alarm of the API's deployments."""
    stack = on()
    alarm = stack.resources["FollowerStalledAlarm"]["Properties"]
    variables = stack.resources["FollowerFunction"]["Properties"]["Environment"]["Variables"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (variables["METRICS_NAMESPACE"], PASSES_METRIC)
    assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (
        "Sum",
        60,
        5,
        5,
    )
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}]
    assert "Dimensions" not in alarm  # the entry's EMF record has none (one follower per stack)
    rollback = stack.resources["ModelsFunction"]["Properties"]["DeploymentPreference"]["Alarms"]
    assert {"Ref": "FollowerStalledAlarm"} not in rollback


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The IAM actions that authorize every AWS request sent, TransactWriteItems item by item."""
    actions: set[str] = set()
    send = BaseClient.__dict__["_make_api_call"]

    def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        prefix = client.meta.service_model.signing_name
        if operation == "TransactWriteItems":
            actions.update(f"dynamodb:{TRANSACT[kind]}" for item in params["TransactItems"] for kind in item)
        elif prefix != "sts":
            actions.add(f"{prefix}:{operation}")
        return send(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return actions


def test_the_role_grants_every_request_the_follower_sends(tmp_path: Path, sent: set[str]) -> None:
    """GIVEN a gateway database and the entry as deployed (moto for the table and the secret)
    WHEN a new container's full pass runs, then passes that add, change, disable and delete keys, users and groups
    THEN every request it sent is authorized by the role's actions (TransactWriteItems by the actions inside), and
    the role grants nothing these passes do not use but the write layer's group check."""
    path = tmp_path / "one-api.db"
    rows = gateway_rows(ONE_API, int(time.time()))
    connection = sqlite3.connect(path)
    for statement in gateways.ddl(ONE_API, "sqlite"):
        connection.execute(statement)
    gateways.insert_rows(connection, "sqlite", rows)
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name="us-east-1"), "modelgate")
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="gateway-db", SecretString=f"sqlite:///{path}"
        )["ARN"]
        environ = {"TABLE_NAME": "modelgate", "SOURCE_SECRET_ARN": arn, "FOLLOW_INTERVAL_SECONDS": "60"}
        sent.clear()
        function = Scheduled(environ, write=lambda _: None)
        context = type("Context", (), {"get_remaining_time_in_millis": lambda self: 300_000})()
        assert function({}, context)["completed"] == 1
        for change in (
            "UPDATE tokens SET status = 2 WHERE id = 1",
            "DELETE FROM tokens WHERE id = 2",
            """UPDATE users SET "group" = 'svip' WHERE id = 2""",
            """DELETE FROM abilities WHERE "group" = 'svip'""",
            "DELETE FROM users WHERE id = 5",
        ):
            connection.execute(change)
            connection.commit()
            assert function({}, context)["completed"] == 1
    granted = TABLE_ACTIONS | {"secretsmanager:GetSecretValue"}
    assert sent <= granted, sent - granted
    # and each grant is used, but ConditionCheckItem: the write layer's check that a user's new group exists
    assert granted - sent == {"dynamodb:ConditionCheckItem"}
