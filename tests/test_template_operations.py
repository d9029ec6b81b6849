"""template.yaml's operations parts: safe deployments, alarms and their topic, EMF metrics, the dashboard, the custom
domain, reserved concurrency, the customer-managed KMS key and a clean checkov scan. Each optional part is checked
with its parameters empty (nothing changes) and set, on the template as CloudFormation resolves it (Stack)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from handler import metrics
from handler.settings import Settings
from infra.table import TEMPLATE, load_template
from tests.support.stack import Stack

ROOT = TEMPLATE.parent
NAMESPACE = {"Fn::Sub": "modelgate/${AWS::StackName}"}
KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ops-pager"
CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/0d5e2f5c-1111-2222-3333-444455556666"
DOMAIN = "models.example.com"
ZONE = "Z0123456789ABC"
ALARMS = {
    "FunctionErrorsAlarm": "FunctionErrorsThreshold",
    "Api5xxRateAlarm": "Api5xxRatePercent",
    "StoreFaultsAlarm": "StoreFaultsThreshold",
    "FunctionThrottlesAlarm": "FunctionThrottlesThreshold",
    "Api429Alarm": "Api429Threshold",
    "LatencyP99Alarm": "LatencyP99Milliseconds",
    "TableReadThrottlesAlarm": "TableReadThrottlesThreshold",
}
OPTIONAL = {
    "AlarmTopic",
    "AlarmTopicKey",
    "AlarmEmailSubscription",
    "ApiDomain",
    "ApiDomainMapping",
    "ApiDomainRecord",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def checkov_cli() -> str:
    """The checkov that infra/test-tools.sh installs (or one on PATH). Required in CI, skipped elsewhere."""
    for candidate in (os.environ.get("MODELGATE_CHECKOV"), str(ROOT / ".cache" / "checkov-venv" / "bin" / "checkov")):
        if candidate and Path(candidate).is_file():
            return candidate
    on_path = shutil.which("checkov")
    if on_path:
        return on_path
    pytest.skip("checkov is not installed (./infra/dev test installs it into .cache/checkov-venv)")


def _function(stack: Stack) -> dict[str, Any]:
    properties: dict[str, Any] = stack.resources["ModelsFunction"]["Properties"]
    return properties


def _statements(stack: Stack) -> list[dict[str, Any]]:
    role = stack.resources["ModelsFunctionRole"]["Properties"]
    return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]


# ---- the security scan ----


# Each check a default trips, suppressed next to its resource: the defaults use AWS keys, and no reservation.
SUPPRESSED = {
    ("CKV_AWS_116", "ModelsFunction"),
    ("CKV_AWS_117", "ModelsFunction"),
    ("CKV_AWS_115", "ModelsFunction"),
    ("CKV_AWS_173", "ModelsFunction"),
    ("CKV_AWS_158", "ApiAccessLogGroup"),
    ("CKV_AWS_158", "FunctionLogGroup"),
    ("CKV_AWS_149", "SessionSecret"),
    ("CKV_AWS_119", "Table"),
    ("CKV_AWS_116", "FollowerFunction"),  # tests/test_template_follower.py
}


def every_option() -> Stack:
    """The stack with each optional part on: its own KMS key, an alarm email, a domain with its DNS record,
    reserved concurrency, SnapStart and the scheduled follower."""
    return Stack(
        KmsKeyArn=KEY,
        AlarmEmail="oncall@example.com",
        DomainName=DOMAIN,
        CertificateArn=CERTIFICATE,
        HostedZoneId=ZONE,
        ReservedConcurrency="50",
        SnapStart="true",
        FollowSourceSecretArn="arn:aws:secretsmanager:us-east-1:123456789012:secret:oneapi-db-AbCdEf",
        FollowerSubnetIds="subnet-0a1b2c3d,subnet-4e5f6a7b",
        FollowerSecurityGroupIds="sg-0a1b2c3d",
    )


@pytest.mark.parametrize("variant", ["as written", "defaults resolved", "every option resolved"])
def test_checkov_finds_nothing_and_every_suppression_says_why(
    template: dict[str, Any], tmp_path: Path, variant: str
) -> None:
    """GIVEN template.yaml as written, and as deployed with the default parameters and with every option on
    (conditions decided, `Fn::If` resolved, tests/support/stack.py: checkov cannot evaluate them, and passed 7
    failing defaults while the file held them behind `!If`) WHEN checkov scans it offline THEN 0 failed checks,
    and each check it skips is suppressed next to its resource with a one-line reason."""
    checkov = checkov_cli()
    scanned = TEMPLATE
    if variant != "as written":
        scanned = tmp_path / "resolved.json"
        stack = Stack() if variant == "defaults resolved" else every_option()
        scanned.write_text(json.dumps(stack.document(), indent=1))
    result = subprocess.run(
        [checkov, "-f", str(scanned), "--framework", "cloudformation", "--skip-download", "--output", "json"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert (summary["failed"], failed) == (0, []), result.stdout[-2000:]
    assert summary["passed"] >= 13
    assert summary["parsing_errors"] == 0
    assert result.returncode == 0
    skipped = {(c["check_id"], c["resource"].split(".")[-1]) for c in report["results"]["skipped_checks"]}
    declared = {
        (skip["id"], name)
        for name, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }
    assert declared == SUPPRESSED
    # A resolved stack holds only the resources its conditions keep (the follower is off by default).
    kept = set(json.loads(scanned.read_text())["Resources"]) if variant != "as written" else set(template["Resources"])
    assert skipped == {(check, name) for check, name in SUPPRESSED if name in kept}
    for name, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert 20 <= len(skip["comment"]) <= 120, (name, skip)
            assert "\n" not in skip["comment"], (name, skip)


# ---- safe deployments ----


def test_deployments_shift_traffic_by_the_chosen_strategy_and_every_alarm_rolls_back(template: dict[str, Any]) -> None:
    """GIVEN the `live` alias WHEN a new version deploys THEN CodeDeploy shifts traffic by DeploymentStrategy
    (canary by default) and every alarm in the stack is a rollback alarm."""
    strategy = template["Parameters"]["DeploymentStrategy"]
    assert strategy["AllowedValues"] == ["Canary10Percent5Minutes", "Linear10PercentEvery1Minute", "AllAtOnce"]
    assert strategy["Default"] == "Canary10Percent5Minutes"
    function = template["Resources"]["ModelsFunction"]["Properties"]
    assert function["AutoPublishAlias"] == "live"
    preference = function["DeploymentPreference"]
    assert preference["Type"] == {"Ref": "DeploymentStrategy"}
    assert "Enabled" not in preference  # on for every strategy
    every_alarm = {
        name
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r.get("Condition") != "FollowerOn"  # the follower's: not the API's
    }
    assert every_alarm == set(ALARMS)
    assert [a["Ref"] for a in preference["Alarms"]] == list(ALARMS)


def test_a_new_kms_key_publishes_a_new_version_so_live_never_keeps_the_old_key(template: dict[str, Any]) -> None:
    """GIVEN AutoPublishAlias (SAM hashes the code, environment and AutoPublishCodeSha256 into the version)
    THEN the KMS key is part of that hash: changing only KmsKeyArn publishes a version; SnapStart is unchanged."""
    function = template["Resources"]["ModelsFunction"]["Properties"]
    assert function["AutoPublishCodeSha256"] == {"Ref": "KmsKeyArn"}
    assert function["SnapStart"] == {"ApplyOn": {"Fn::If": ["SnapStartOn", "PublishedVersions", "None"]}}


# ---- alarms and where they go ----


def test_each_alarm_has_a_documented_threshold_parameter_and_notifies_the_topic(template: dict[str, Any]) -> None:
    """GIVEN each alarm THEN its threshold is its own parameter, described, and it notifies the alarm topic on
    alarm and on recovery; no data (no traffic) is not an alarm."""
    stack = Stack()
    for name, parameter in ALARMS.items():
        alarm = stack.resources[name]["Properties"]
        assert alarm["Threshold"] == str(template["Parameters"][parameter]["Default"]), name
        assert template["Parameters"][parameter]["Description"].startswith("Alarm:")
        assert template["Resources"][name]["Properties"]["Threshold"] == {"Ref": parameter}
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["TreatMissingData"] == "notBreaching"
        periods = [m["MetricStat"]["Period"] for m in alarm.get("Metrics", []) if "MetricStat" in m]
        assert {alarm.get("Period", 60), *periods} == {60}, name  # thresholds are per minute


def test_the_alarms_watch_the_metrics_the_issue_names() -> None:
    """GIVEN the alarms THEN function errors and throttles, the API's 5xx rate, 429s and p99 latency, the store
    faults the function counts, and the table's read throttles."""
    resources = Stack().resources
    watched = {
        name: (r["Properties"].get("Namespace"), r["Properties"].get("MetricName"))
        for name, r in resources.items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert watched["FunctionErrorsAlarm"] == ("AWS/Lambda", "Errors")
    assert watched["FunctionThrottlesAlarm"] == ("AWS/Lambda", "Throttles")
    assert watched["StoreFaultsAlarm"] == (NAMESPACE, "StoreFaults")
    assert watched["Api429Alarm"] == (NAMESPACE, "ApiThrottled")
    assert watched["LatencyP99Alarm"] == ("AWS/ApiGateway", "Latency")
    assert resources["LatencyP99Alarm"]["Properties"]["ExtendedStatistic"] == "p99"
    assert watched["TableReadThrottlesAlarm"] == ("AWS/DynamoDB", "ReadThrottleEvents")
    assert resources["TableReadThrottlesAlarm"]["Properties"]["Dimensions"] == [
        {"Name": "TableName", "Value": {"Ref": "Table"}}
    ]
    rate = {m["Id"]: m for m in resources["Api5xxRateAlarm"]["Properties"]["Metrics"]}
    assert rate["errors"]["MetricStat"]["Metric"]["MetricName"] == "5xx"
    assert rate["requests"]["MetricStat"]["Metric"]["MetricName"] == "Count"
    assert rate["rate"]["Expression"] == "100 * FILL(errors, 0) / requests"
    assert [m["ReturnData"] for m in rate.values()] == [False, False, True]
    # 429s: API Gateway has no metric of its own for them; the access log's status field is counted.
    metric_filter = resources["Api429MetricFilter"]["Properties"]
    assert metric_filter["LogGroupName"] == {"Ref": "ApiAccessLogGroup"}
    assert metric_filter["FilterPattern"] == '{ $.status = "429" }'
    assert metric_filter["MetricTransformations"][0]["MetricNamespace"] == NAMESPACE
    assert metric_filter["MetricTransformations"][0]["MetricName"] == "ApiThrottled"


def test_the_stack_creates_its_topic_and_subscribes_no_one_by_default() -> None:
    """GIVEN no AlarmTopicArn and no AlarmEmail THEN the stack's own topic, no subscription."""
    resources = Stack().resources
    assert resources["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    assert "AlarmEmailSubscription" not in resources
    assert resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    assert Stack().outputs["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use_and_nothing_more() -> None:
    """GIVEN the defaults THEN the topic's own key (the AWS managed SNS key would silently drop every alarm:
    its policy cannot admit CloudWatch), rotated yearly; the account administers it and CloudWatch alarms of this
    account may only Decrypt and GenerateDataKey*. GIVEN KmsKeyArn or AlarmTopicArn THEN no key is created."""
    key = Stack().resources["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    account, cloudwatch = key["KeyPolicy"]["Statement"]
    assert account["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    assert cloudwatch == {
        "Sid": "CloudWatchAlarmsPublish",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
    }
    assert "AlarmTopicKey" not in Stack(KmsKeyArn=KEY).resources
    assert "AlarmTopicKey" not in Stack(AlarmTopicArn=TOPIC).resources


def test_alarm_email_subscribes_to_the_topic() -> None:
    """GIVEN AlarmEmail THEN an email subscription to the stack's topic."""
    resources = Stack(AlarmEmail="oncall@example.com").resources
    subscription = resources["AlarmEmailSubscription"]["Properties"]
    assert subscription == {"Protocol": "email", "Endpoint": "oncall@example.com", "TopicArn": {"Ref": "AlarmTopic"}}


def test_an_existing_topic_replaces_the_stacks_own() -> None:
    """GIVEN AlarmTopicArn THEN no topic is created and every alarm (and AlarmEmail) uses the given one."""
    stack = Stack(AlarmTopicArn=TOPIC, AlarmEmail="oncall@example.com")
    resources = stack.resources
    assert "AlarmTopic" not in resources
    for name in ALARMS:
        assert resources[name]["Properties"]["AlarmActions"] == [TOPIC]
        assert resources[name]["Properties"]["OKActions"] == [TOPIC]
    assert resources["AlarmEmailSubscription"]["Properties"]["TopicArn"] == TOPIC
    assert stack.outputs["AlarmTopicArn"]["Value"] == TOPIC


def test_alarm_parameters_refuse_malformed_values(template: dict[str, Any]) -> None:
    """GIVEN the AllowedPatterns THEN empty or well-formed values only."""
    email = re.compile(template["Parameters"]["AlarmEmail"]["AllowedPattern"])
    assert email.fullmatch("")
    assert email.fullmatch("oncall@example.com")
    assert not email.fullmatch("oncall")
    assert not email.fullmatch("a b@example.com")
    topic = re.compile(template["Parameters"]["AlarmTopicArn"]["AllowedPattern"])
    assert topic.fullmatch("")
    assert topic.fullmatch(TOPIC)
    assert not topic.fullmatch("ops-pager")


# ---- metrics from the function ----


def test_the_function_writes_its_metrics_to_the_namespace_the_alarms_and_dashboard_read() -> None:
    """GIVEN the function's METRICS_NAMESPACE THEN it is the stack's namespace, which Settings turns into enabled
    metrics; every metric the template reads from it is one handler/metrics.py writes (or the 429 filter)."""
    stack = Stack()
    variables = _function(stack)["Environment"]["Variables"]
    assert variables["METRICS_NAMESPACE"] == NAMESPACE
    assert Settings.from_env({"METRICS_NAMESPACE": "modelgate/prod"}).metrics_namespace == "modelgate/prod"
    assert Settings.from_env({}).metrics_namespace == ""  # off outside Lambda
    written = set(metrics.STORE_METRICS) | {"Requests", "ApiThrottled"}
    body = stack.resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    read = set(re.findall(r'\["modelgate/\$\{AWS::StackName\}","(\w+)"', body))
    read |= set(re.findall(r'MetricName=\\"(\w+)\\"', body))
    assert read <= written
    assert {"CacheHits", "CacheMisses", "StoreFaults", "DynamoDBRequests", "Requests", "ApiThrottled"} <= read


# ---- the dashboard ----


def _dashboard(stack: Stack) -> dict[str, Any]:
    body = stack.resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = {"AWS::StackName": "modelgate", "AWS::Region": "eu-west-1"}
    filled = re.sub(r"\$\{([^}]+)\}", lambda m: names.get(m.group(1), f"<{m.group(1)}>"), body)
    document: dict[str, Any] = json.loads(filled)
    return document


def test_the_dashboard_shows_what_an_operator_watches() -> None:
    """GIVEN the dashboard body (valid JSON once substituted) THEN widgets for requests and errors by status, p50 and
    p99 latency of the API and the function, cold starts from Init Duration, the cache hit ratio, store faults,
    consumed read capacity, throttles and the alarms; its URL is an output."""
    stack = Stack()
    widgets = _dashboard(stack)["widgets"]
    by_title = {w["properties"]["title"]: w for w in widgets}
    assert len(by_title) == len(widgets) == 9
    for widget in widgets:
        assert {"x", "y", "width", "height"} <= set(widget)
        assert widget["x"] + widget["width"] <= 24

    def metric_names(title: str) -> list[tuple[str, str]]:
        rows = by_title[title]["properties"]["metrics"]
        return [(row[0], row[1]) for row in rows if isinstance(row[0], str)]

    assert metric_names("Requests and errors (HTTP API)") == [
        ("AWS/ApiGateway", "Count"),
        ("AWS/ApiGateway", "4xx"),
        ("AWS/ApiGateway", "5xx"),
    ]
    [[search]] = by_title["Requests by status, caller and dialect (function)"]["properties"]["metrics"]
    assert search["expression"].startswith('SEARCH(\'{"modelgate/modelgate",Caller,Dialect,Status}')
    latency = by_title["Latency p50 / p99 (ms)"]["properties"]["metrics"]
    assert {(row[0], row[1], row[-1]["stat"]) for row in latency} == {
        (namespace, name, stat)
        for namespace, name in (("AWS/ApiGateway", "Latency"), ("AWS/Lambda", "Duration"))
        for stat in ("p50", "p99")
    }
    cold = by_title["Cold starts (Init Duration, ms)"]
    assert cold["type"] == "log"
    assert cold["properties"]["query"].startswith("SOURCE '<FunctionLogGroup>'")
    assert 'type = "platform.report"' in cold["properties"]["query"]  # LogFormat JSON's REPORT record
    assert "record.metrics.initDurationMs" in cold["properties"]["query"]
    ratio = by_title["Cache hit ratio (%)"]["properties"]["metrics"]
    assert ratio[-1][0]["expression"] == "100 * hits / (hits + misses)"
    assert metric_names("Store faults")[0] == ("modelgate/modelgate", "StoreFaults")
    assert ("AWS/DynamoDB", "ConsumedReadCapacityUnits") in metric_names("DynamoDB reads")
    assert set(metric_names("Throttles")) == {
        ("AWS/Lambda", "Throttles"),
        ("modelgate/modelgate", "ApiThrottled"),
        ("AWS/DynamoDB", "ReadThrottleEvents"),
    }
    alarms = by_title["Alarms (any one rolls a deployment back)"]["properties"]["alarms"]
    assert alarms == [f"<{name}.Arn>" for name in ALARMS]
    url = stack.outputs["DashboardUrl"]["Value"]["Fn::Sub"]
    assert url.startswith("https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}")
    assert url.endswith("#dashboards:name=${Dashboard}")


# ---- custom domain ----

EXECUTE_API = "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"


def test_without_a_domain_nothing_changes() -> None:
    """GIVEN DomainName empty THEN no domain, mapping or record, and the base URLs are execute-api's."""
    stack = Stack()
    assert not {"ApiDomain", "ApiDomainMapping", "ApiDomainRecord"} & set(stack.resources)
    urls = {name: output["Value"]["Fn::Sub"] for name, output in stack.outputs.items() if name.endswith("BaseUrl")}
    assert urls == {
        "OpenAIBaseUrl": EXECUTE_API + "/v1",
        "AnthropicBaseUrl": EXECUTE_API,
        "GeminiBaseUrl": EXECUTE_API,
        "GeminiOpenAIBaseUrl": EXECUTE_API + "/v1beta/openai",
    }


def test_a_domain_gets_a_regional_name_and_a_mapping_and_the_base_urls_use_it() -> None:
    """GIVEN DomainName and CertificateArn but no zone THEN a regional TLS 1.2 domain name mapped to the API's
    stage, no DNS record (the operator's DNS points at it), and every base URL on the domain."""
    stack = Stack(DomainName=DOMAIN, CertificateArn=CERTIFICATE)
    resources = stack.resources
    assert resources["ApiDomain"]["Properties"] == {
        "DomainName": DOMAIN,
        "DomainNameConfigurations": [
            {"CertificateArn": CERTIFICATE, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}
        ],
    }
    assert resources["ApiDomainMapping"]["Properties"] == {
        "DomainName": {"Ref": "ApiDomain"},
        "ApiId": {"Ref": "HttpApi"},
        "Stage": {"Ref": "HttpApi.Stage"},  # SAM's reference to the `$default` stage it creates
    }
    assert "ApiDomainRecord" not in resources
    urls = {name: output["Value"]["Fn::Sub"] for name, output in stack.outputs.items() if name.endswith("BaseUrl")}
    assert urls == {
        "OpenAIBaseUrl": "https://${DomainName}/v1",
        "AnthropicBaseUrl": "https://${DomainName}",
        "GeminiBaseUrl": "https://${DomainName}",
        "GeminiOpenAIBaseUrl": "https://${DomainName}/v1beta/openai",
    }


def test_a_hosted_zone_gets_an_alias_record_for_the_domain() -> None:
    """GIVEN DomainName, CertificateArn and HostedZoneId THEN a Route 53 A alias to the regional domain name."""
    record = Stack(DomainName=DOMAIN, CertificateArn=CERTIFICATE, HostedZoneId="Z0123456789ABC").resources[
        "ApiDomainRecord"
    ]["Properties"]
    assert record == {
        "HostedZoneId": "Z0123456789ABC",
        "Name": DOMAIN,
        "Type": "A",
        "AliasTarget": {
            "DNSName": {"Fn::GetAtt": "ApiDomain.RegionalDomainName"},
            "HostedZoneId": {"Fn::GetAtt": "ApiDomain.RegionalHostedZoneId"},
            "EvaluateTargetHealth": False,
        },
    }


def test_latency_routing_makes_the_record_this_regions_latency_record() -> None:
    """GIVEN DomainRouting=latency (a stack per region) THEN the alias record carries this region as its set id and
    latency region, so each region's stack adds its own record under the one name; simple routing sets neither."""
    latency = Stack(DomainName=DOMAIN, CertificateArn=CERTIFICATE, HostedZoneId=ZONE, DomainRouting="latency")
    record = latency.resources["ApiDomainRecord"]["Properties"]
    assert (record["SetIdentifier"], record["Region"]) == ({"Ref": "AWS::Region"}, {"Ref": "AWS::Region"})
    simple = Stack(DomainName=DOMAIN, CertificateArn=CERTIFICATE, HostedZoneId=ZONE).resources["ApiDomainRecord"][
        "Properties"
    ]
    assert "SetIdentifier" not in simple
    assert "Region" not in simple


def test_a_domain_without_a_certificate_is_refused_at_deploy(template: dict[str, Any]) -> None:
    """GIVEN DomainName without CertificateArn THEN a template rule fails the deploy with a message, and a zone
    alone creates nothing."""
    rule = template["Rules"]["DomainNeedsCertificate"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]}
    assert rule["Assertions"] == [
        {
            "Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]},
            "AssertDescription": rule["Assertions"][0]["AssertDescription"],
        }
    ]
    assert "CertificateArn" in rule["Assertions"][0]["AssertDescription"]
    assert not {"ApiDomain", "ApiDomainRecord"} & set(Stack(HostedZoneId="Z0123456789ABC").resources)


# ---- reserved concurrency ----


def test_reserved_concurrency_is_unset_unless_given() -> None:
    """GIVEN ReservedConcurrency empty THEN the function is unreserved; GIVEN 50 THEN 50 are reserved."""
    assert "ReservedConcurrentExecutions" not in _function(Stack())
    assert _function(Stack(ReservedConcurrency="50"))["ReservedConcurrentExecutions"] == "50"
    pattern = re.compile(load_template()["Parameters"]["ReservedConcurrency"]["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch("50")
    assert not pattern.fullmatch("-1")


# ---- the customer-managed key ----

ENCRYPTED = {
    ("Table", "SSESpecification"),
    ("SessionSecret", "KmsKeyId"),
    ("FunctionLogGroup", "KmsKeyId"),
    ("ApiAccessLogGroup", "KmsKeyId"),
    ("ModelsFunction", "KmsKeyArn"),
    ("AlarmTopic", "KmsMasterKeyId"),
}


def test_without_a_kms_key_aws_keys_encrypt_everything_and_the_role_has_no_kms_grant() -> None:
    """GIVEN KmsKeyArn empty THEN no resource names a key but the alarm topic, which has its own (DynamoDB keeps
    its AWS managed key), and the role has no KMS statement."""
    resources = Stack().resources
    for name, key in ENCRYPTED - {("Table", "SSESpecification"), ("AlarmTopic", "KmsMasterKeyId")}:
        assert key not in resources[name]["Properties"], name
    assert resources["Table"]["Properties"]["SSESpecification"] == {"SSEEnabled": True}
    assert resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}  # the stack's own
    assert not [s for s in _statements(Stack()) if "kms" in json.dumps(s["Action"])]


def test_a_kms_key_encrypts_table_secret_logs_environment_and_topic_and_the_role_may_only_decrypt() -> None:
    """GIVEN KmsKeyArn THEN the table, secret, both log groups, the function's environment and the alarm topic use
    it, and the role gets exactly kms:Decrypt on that key (reading the table and the secret, and the environment
    at init); nothing else, no wildcard."""
    stack = Stack(KmsKeyArn=KEY)
    resources = stack.resources
    assert resources["Table"]["Properties"]["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": KEY,
    }
    for name, key in ENCRYPTED - {("Table", "SSESpecification")}:
        assert resources[name]["Properties"][key] == KEY, name
    kms = [s for s in _statements(stack) if "kms" in json.dumps(s["Action"])]
    assert kms == [{"Sid": "DecryptWithStackKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY}]


def test_the_kms_parameter_takes_only_a_key_arn(template: dict[str, Any]) -> None:
    """GIVEN the KmsKeyArn pattern THEN a key ARN (single- or multi-Region) or empty; an alias is refused (the
    role's grant needs the key itself)."""
    pattern = re.compile(template["Parameters"]["KmsKeyArn"]["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch(KEY)
    assert pattern.fullmatch("arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab")
    assert not pattern.fullmatch("arn:aws:kms:us-east-1:123456789012:alias/modelgate")
    assert not pattern.fullmatch("*")


def test_every_optional_part_is_off_by_default_except_the_stacks_topic() -> None:
    """GIVEN all parameters at their defaults THEN of the optional resources only the alarm topic and its key exist."""
    assert OPTIONAL & set(Stack().resources) == {"AlarmTopic", "AlarmTopicKey"}
    everything = Stack(
        AlarmEmail="oncall@example.com", DomainName=DOMAIN, CertificateArn=CERTIFICATE, HostedZoneId="Z0123456789ABC"
    )
    assert set(everything.resources) >= OPTIONAL
