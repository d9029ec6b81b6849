"""Figure 3: Lambda cold start. The artifact built for this machine (the same Makefile and lock, for x86_64), run
by the AWS Lambda Runtime Interface Client on CPython 3.13 in a fresh read-only directory, as Lambda runs it:
today's layout without bytecode, the artifact with it, and the import floor with it, alternating."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3

from infra.bench import artifact
from infra.bench.cold_runtime import ColdStart, Launcher, RuntimeApi, python313, read_only_copy
from infra.bench.events import http_api_event
from infra.bench.report import Report, ratio
from infra.bench.stats import human_time
from infra.table import load_template

NATIVE_PLATFORM = "manylinux2014_x86_64"
FUNCTION = "ModelsFunction"
REGION = "us-east-1"
BYTECODE_TARGET = 0.75  # init with bytecode / init without
FLOOR_TARGET = 1.1  # init with bytecode / the import floor's
FLOOR_MODULE = "import_floor"
# Every FastAPI + Mangum function on DynamoDB imports this much and makes one client, whatever it does.
FLOOR_SOURCE = '''"""The import floor: fastapi, mangum, boto3 and one DynamoDB client, and nothing of modelgate."""
import boto3
import fastapi
import mangum

assert fastapi and mangum
client = boto3.session.Session().client("dynamodb")


def handler(event, context):
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}
'''


def function_environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """The function's variables as template.yaml sets them (parameters at their defaults), then `overrides` (the
    resources: table, secret, and the local endpoint)."""
    template = load_template()
    defaults = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    variables = template["Resources"][FUNCTION]["Properties"].get("Environment", {}).get("Variables", {})
    environment = {}
    for name, value in variables.items():
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in defaults:
            environment[name] = defaults[value["Ref"]]
        elif not isinstance(value, dict):
            environment[name] = str(value)
    return {**environment, **overrides}


def lambda_environment(endpoint_url: str, table: str, secret_arn: str) -> dict[str, str]:
    """What Lambda's python3.13 runtime gives the process (minus the Runtime API address, added per start), and the
    template's variables aimed at moto on loopback. Nothing from this machine's environment or ~/.aws."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": "modelgate-bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/modelgate-bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[1]bench",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        # The session secret's client has no endpoint setting of ours: keep it on loopback too.
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint_url,
        **function_environment(
            {"TABLE_NAME": table, "DYNAMODB_ENDPOINT_URL": endpoint_url, "SESSION_SECRET_ARN": secret_arn}
        ),
    }


def session_secret(endpoint_url: str) -> str:
    """The stack's session secret, in moto: the function is given its ARN, as the template does."""
    client = boto3.client(
        "secretsmanager",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106  # moto on loopback takes any
    )
    created = client.create_secret(Name=f"modelgate-bench-session-{uuid.uuid4().hex[:8]}", SecretString="s" * 64)
    return str(created["ARN"])


def compile_313(python: str, *paths: Path) -> None:
    command = [python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", *map(str, paths)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)


def task_templates(scratch: Path, python: str) -> tuple[dict[str, tuple[Path, str]], str | None]:
    """{variant: (task directory, handler)} from one native build, or an error text. The build compiles its .pyc
    (the Makefile finds the same CPython 3.13); today's layout is that build without them."""
    built = scratch / "bytecode"
    error = artifact.build(built, platform=NATIVE_PLATFORM)
    if error is not None:
        return {}, error
    if not any(built.rglob("*.cpython-313.pyc")):
        return {}, "the build compiled no bytecode"
    sources = scratch / "sources"
    shutil.copytree(built, sources, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    floor = scratch / "floor"
    shutil.copytree(built, floor, symlinks=True, ignore=shutil.ignore_patterns("handler"))
    (floor / f"{FLOOR_MODULE}.py").write_text(FLOOR_SOURCE)
    compile_313(python, floor / f"{FLOOR_MODULE}.py")
    handler = "handler.main.handler"
    variants = {
        "floor": (floor, f"{FLOOR_MODULE}.handler"),
        "sources": (sources, handler),
        "bytecode": (built, handler),
    }
    return variants, None


# SnapStart: what the function itself does after a restore (handler.main's hook: fresh clients and caches).
AFTER_RESTORE = """
import time
import handler.main
started = time.perf_counter_ns()
handler.main._after_restore()
print(time.perf_counter_ns() - started)
"""


def _spread(values: list[int]) -> str:
    return f"{min(values) / 1e6:.0f}–{max(values) / 1e6:.0f}"


def after_restore_ns(launcher: Launcher, template: Path) -> int:
    """The SnapStart after-restore hook, timed inside a function process that has run its init."""
    with read_only_copy(template) as task:
        env = {**launcher.environment, "LAMBDA_TASK_ROOT": str(task)}
        command = [launcher.python, *launcher.flags, "-c", AFTER_RESTORE]
        done = subprocess.run(command, cwd=task, env=env, capture_output=True, text=True, check=True, timeout=120)
    return int(done.stdout.split()[-1])


def run(report: Report, endpoint_url: str, table: str, key: str, *, quick: bool) -> None:
    runs = 3 if quick else 9
    report.section(
        "3. Lambda cold start: the artifact under the Lambda runtime client, read-only, no warm __pycache__",
        f"x86_64 build of the same lock and Makefile, CPython 3.13, a fresh read-only copy per start; {runs} starts "
        "per variant, alternating.",
    )
    report.line("Init: process start → first `next` (Init Duration). First invoke: event → response (Duration),")
    report.line("an API key with a cold cache: 3 DynamoDB round trips to moto on loopback.")
    targets = f"≤ {BYTECODE_TARGET}× without, ≤ {FLOOR_TARGET}× floor"
    event: dict[str, Any] = http_api_event(headers={"authorization": f"Bearer {key}"})
    try:
        runtime, samples, hooks = measure(
            lambda_environment(endpoint_url, table, session_secret(endpoint_url)), event, runs
        )
    except LookupError as error:
        report.line(f"not measured: {error}")
        report.target("Lambda cold start init", "not measured", targets, None)
        return
    report.line(f"runtime: {runtime}")
    print_figure(report, samples, hooks)


def measure(
    environment: Mapping[str, str], event: Mapping[str, Any], runs: int
) -> tuple[str, dict[str, list[ColdStart]], list[int]]:
    """(runtime used, cold starts per variant, after-restore hook times): one discarded round that only warms the
    OS's file cache, then `runs` rounds, each variant once per round."""
    with tempfile.TemporaryDirectory() as scratch, RuntimeApi() as api:
        launcher = Launcher(api, environment)
        variants, error = task_templates(Path(scratch), python313() or launcher.python)
        if error is not None:
            raise LookupError(f"the x86_64 build failed: {error}")
        samples: dict[str, list[ColdStart]] = {name: [] for name in variants}
        hooks: list[int] = []
        for round_number in range(runs + 1):
            for name, (template, handler) in variants.items():
                started = launcher.cold_start(template, handler, event)
                if started.response.get("statusCode") != 200:
                    raise RuntimeError(f"{name} answered {started.response.get('statusCode')}")
                if round_number:
                    samples[name].append(started)
            if round_number:
                hooks.append(after_restore_ns(launcher, variants["bytecode"][0]))
    return f"{launcher.runtime} ({launcher.python})", samples, hooks


def print_figure(report: Report, samples: dict[str, list[ColdStart]], hooks: list[int]) -> None:
    init = {name: [s.init_ns for s in values] for name, values in samples.items()}
    first = {name: [s.first_invoke_ns for s in values] for name, values in samples.items()}
    both = {name: [s.init_ns + s.first_invoke_ns for s in values] for name, values in samples.items()}
    cpu = {name: [s.init_cpu_ns or 0 for s in values] for name, values in samples.items()}
    first_cpu = {name: [s.first_invoke_cpu_ns or 0 for s in values] for name, values in samples.items()}
    median = {name: statistics.median(values) for name, values in init.items()}
    cpu_median = {name: statistics.median(values) for name, values in cpu.items()}
    measured_cpu = all(cpu_median.values())

    report.row("", "median", "min–max ms", "vs floor", "CPU", "CPU ratio")
    for label, name in (
        ("init: import floor, with .pyc", "floor"),
        ("init: today's layout, no .pyc", "sources"),
        ("init: the artifact, with .pyc", "bytecode"),
    ):
        cells = [human_time(median[name]), _spread(init[name]), ratio(median[name], median["floor"])]
        if measured_cpu:
            cells += [human_time(cpu_median[name]), ratio(cpu_median[name], cpu_median["floor"])]
        report.row("  " + label, *cells)
    value = ratio(median["bytecode"], median["floor"])
    met = median["bytecode"] <= FLOOR_TARGET * median["floor"]
    note = report.target("Lambda init with .pyc vs floor", value, f"≤ {FLOOR_TARGET}×", met)
    report.row("  init with .pyc / floor", "", "", value, note=note)
    value = ratio(median["bytecode"], median["sources"])
    met = median["bytecode"] <= BYTECODE_TARGET * median["sources"]
    note = report.target("Lambda init with .pyc vs without", value, f"≤ {BYTECODE_TARGET}×", met)
    report.row("  init with .pyc / without", "", "", value, note=note)

    report.row("", "median", "min–max ms", "vs no .pyc", "CPU", "CPU ratio")
    for label, values, cpus in (
        ("first invoke: no .pyc", first["sources"], first_cpu["sources"]),
        ("first invoke: with .pyc", first["bytecode"], first_cpu["bytecode"]),
        ("init + first invoke: no .pyc", both["sources"], None),
        ("init + first invoke: with .pyc", both["bytecode"], None),
    ):
        reference = both["sources"] if cpus is None else first["sources"]
        cells = [human_time(statistics.median(values)), _spread(values)]
        cells.append(ratio(statistics.median(values), statistics.median(reference)))
        if measured_cpu and cpus is not None:
            cells += [
                human_time(statistics.median(cpus)),
                ratio(statistics.median(cpus), statistics.median(first_cpu["sources"])),
            ]
        report.row("  " + label, *cells)
    hook = statistics.median(hooks)
    report.row(
        "  SnapStart after-restore hook (fresh clients)",
        human_time(hook),
        _spread(hooks),
        ratio(hook, median["bytecode"]),
    )
    report.line(
        "(the hook's ratio is against init with .pyc: what SnapStart runs instead of it, besides AWS's restore)"
    )
