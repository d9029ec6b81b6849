"""The Lambda artifact: `sam build` (or the same Makefile target) without Docker, checked file by file.

GIVEN the template's makefile build WHEN it builds the function THEN the artifact holds handler/ and exactly the
locked runtime dependencies, cp313 aarch64 binaries only, CPython 3.13 bytecode beside every module, at most 8 MB
zipped, and the handler imports and answers from it. This machine may not run aarch64 code, so the import smoke
swaps in this interpreter's build of each compiled dependency (same version), and takes boto3 from here as Lambda's
runtime provides it; the bytecode checks run this machine's build (x86_64 or aarch64) of the same lock and
Makefile on CPython 3.13, under the AWS Lambda Runtime Interface Client.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.bench import artifact as bench_artifact
from infra.bench import cold, cold_runtime
from infra.bench.cold_runtime import Launcher, RuntimeApi, python313, ric_python
from tests.support import world
from tests.support.events import api_event
from tests.support.server import fresh_table
from tests.support.strict import strict

pytestmark = pytest.mark.build

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "infra" / "build" / "requirements.lock"
# What the python3.13 Lambda runtime provides, so the artifact must not (boto3 and its dependencies).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
ZIPPED_LIMIT = 8 * 1024 * 1024
ELF_MACHINE_AARCH64 = 183
# CPython 3.13's .pyc magic number (3571), and the header flags of --invalidation-mode unchecked-hash: hash-based
# (bit 0) without check_source (bit 1), so Python never compares the .pyc with its source.
MAGIC_313 = (3571).to_bytes(2, "little") + b"\r\n"
UNCHECKED_HASH = 0b01
PYC_NAME = re.compile(r"^(?P<dir>(?:.*/)?)__pycache__/(?P<stem>[^/.]+)\.cpython-313\.pyc$")


@dataclass
class Distribution:
    name: str
    version: str
    tags: list[str]
    purelib: bool
    top_level: set[str]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", LOCK.read_text(), flags=re.MULTILINE)
    return {_normal(name): version for name, version in pins}


def distributions(artifact: Path) -> dict[str, Distribution]:
    found = {}
    for info in artifact.glob("*.dist-info"):
        metadata = (info / "METADATA").read_text()
        name = re.search(r"^Name: (.+)$", metadata, flags=re.MULTILINE)
        version = re.search(r"^Version: (.+)$", metadata, flags=re.MULTILINE)
        wheel = (info / "WHEEL").read_text()
        assert name, info
        assert version, info
        records = [line.split(",")[0] for line in (info / "RECORD").read_text().splitlines() if line]
        found[_normal(name[1])] = Distribution(
            name=name[1],
            version=version[1],
            tags=re.findall(r"^Tag: (.+)$", wheel, flags=re.MULTILINE),
            purelib="Root-Is-Purelib: true" in wheel,
            top_level={
                r.split("/")[0].removesuffix(".py") for r in records if not r.split("/")[0].endswith(".dist-info")
            },
        )
    return found


def sam_cli() -> str | None:
    candidate = os.environ.get("MODELGATE_SAM") or str(ROOT / ".cache" / "sam-venv" / "bin" / "sam")
    return candidate if Path(candidate).is_file() else shutil.which("sam")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sam build` into a scratch directory; without the SAM CLI (outside CI), the Makefile target SAM runs."""
    scratch = tmp_path_factory.mktemp("build")
    sam = sam_cli()
    if sam is not None:
        subprocess.run(
            [sam, "build", "--template-file", str(ROOT / "template.yaml"), "--build-dir", str(scratch / "build")],
            cwd=ROOT,
            env={**os.environ, "SAM_CLI_TELEMETRY": "0", "PYTHON": sys.executable},  # the Makefile's pip
            check=True,
            capture_output=True,
            timeout=300,
        )
        return scratch / "build" / "ModelsFunction"
    if strict():  # the fallback below is not what operators run
        pytest.fail("the SAM CLI must be installed under .ci/run: ./infra/dev test installs it")
    source = scratch / "source"  # SAM runs make in a copy of CodeUri
    shutil.copytree(ROOT / "handler", source)
    target = scratch / "artifact"
    makefile = ROOT / "infra" / "build" / "Makefile"
    subprocess.run(
        [
            "make",
            "--makefile",
            str(makefile),
            "build-ModelsFunction",
            f"ARTIFACTS_DIR={target}",
            f"PYTHON={sys.executable}",
        ],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


def test_it_holds_handler_and_exactly_the_locked_dependencies(artifact: Path) -> None:
    """THEN the top level is handler/ plus the lock's distributions (boto3 excluded), nothing from tests/infra/CLI."""
    found = distributions(artifact)
    assert {name: d.version for name, d in found.items()} == locked()
    owned = {"handler"} | {top for d in found.values() for top in d.top_level}
    owned |= {p.name for p in artifact.glob("*.dist-info")} | {"__pycache__"}  # top-level modules' bytecode
    assert {p.name.removesuffix(".py") for p in artifact.iterdir()} <= owned
    for absent in ("tests", "infra", "bin", "yaml", "uvicorn", "moto", "openai", *RUNTIME_PROVIDED):
        assert not (artifact / absent).exists(), absent
        assert not (artifact / f"{absent}.py").exists(), absent


def test_handler_is_copied_whole_without_caches(artifact: Path) -> None:
    """THEN handler/ in the artifact is the repository's handler/, byte for byte (its bytecode aside)."""

    def files(base: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(base)): p.read_bytes()
            for p in base.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        }

    assert files(artifact / "handler") == files(ROOT / "handler")


def test_binaries_are_cp313_aarch64_only(artifact: Path) -> None:
    """THEN every wheel is pure Python or cp313 aarch64, and every shared object is an aarch64 ELF for 3.13."""
    for distribution in distributions(artifact).values():
        if distribution.purelib:
            assert all(tag.endswith("-none-any") for tag in distribution.tags), distribution
        else:
            assert distribution.tags, distribution
            assert all(tag.startswith("cp313-cp313-") and tag.endswith("_aarch64") for tag in distribution.tags)
    shared = list(artifact.rglob("*.so"))
    assert shared  # pydantic-core, at least
    for library in shared:
        assert library.name.endswith(".cpython-313-aarch64-linux-gnu.so"), library
        header = library.read_bytes()[:20]
        assert header[:4] == b"\x7fELF"
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64, library


def python_313_or_skip() -> str:
    interpreter = python313()
    if interpreter is None:
        pytest.skip("no CPython 3.13 here (PYTHON313, python3.13 on PATH, pyenv): the build ships no bytecode")
    return interpreter


@pytest.fixture(scope="module")
def zipped(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artifact as the zip Lambda receives."""
    archive = tmp_path_factory.mktemp("zip") / "function.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(artifact.rglob("*")):
            bundle.write(path, path.relative_to(artifact))
    return archive


SOURCE_HASHES = """
import importlib.util, json, sys
print(json.dumps({path: importlib.util.source_hash(open(path, "rb").read()).hex() for path in sys.argv[1:]}))
"""


def test_every_module_ships_cpython_313_unchecked_hash_bytecode(zipped: Path, tmp_path: Path) -> None:
    """GIVEN a CPython 3.13 on the build machine WHEN the zip is opened THEN every .py has its
    __pycache__/<name>.cpython-313.pyc beside it, each with 3.13's magic number, the unchecked-hash flags and the
    hash of exactly that source; and there is no other .pyc (no other Python version, no optimization level)."""
    interpreter = python_313_or_skip()
    with zipfile.ZipFile(zipped) as bundle:
        names = set(bundle.namelist())
        sources = sorted(name for name in names if name.endswith(".py"))
        compiled = sorted(name for name in names if name.endswith(".pyc"))
        headers = {name: bundle.read(name)[:16] for name in compiled}
        bundle.extractall(tmp_path, members=sources)
    assert sources
    strays = [name for name in compiled if not PYC_NAME.match(name)]
    assert strays == []
    expected = {
        f"{match['dir']}__pycache__/{match['stem']}.cpython-313.pyc": source
        for source in sources
        if (match := re.match(r"^(?P<dir>(?:.*/)?)(?P<stem>[^/]+)\.py$", source))
    }
    assert sorted(expected) == compiled  # one .pyc per .py, none without its source
    hashes = json.loads(
        subprocess.run(
            [interpreter, "-I", "-c", SOURCE_HASHES, *sources], cwd=tmp_path, capture_output=True, check=True
        ).stdout
    )
    for pyc, source in expected.items():
        header = headers[pyc]
        assert header[:4] == MAGIC_313, pyc
        assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH, pyc
        assert header[8:16].hex() == hashes[source], pyc


def test_zipped_size_is_at_most_8_mb(zipped: Path) -> None:
    """THEN the zip Lambda receives, bytecode included, stays within 8 MB (boto3 is the runtime's)."""
    size = zipped.stat().st_size
    assert size <= ZIPPED_LIMIT, f"{size / 1e6:.2f} MB zipped"


def _link_all(source: Path, target: Path, skip: set[str]) -> None:
    for entry in source.iterdir():
        if entry.name.removesuffix(".py") not in skip:
            (target / entry.name).symlink_to(entry)


def _local_build(distribution: Distribution, scratch: Path) -> Path:
    """A directory with this interpreter's build of `distribution`, at the artifact's version."""
    try:
        same = importlib.metadata.version(distribution.name) == distribution.version
    except importlib.metadata.PackageNotFoundError:
        same = False
    if same:
        spec = importlib.util.find_spec(next(iter(distribution.top_level)))
        assert spec is not None
        assert spec.origin is not None
        return Path(spec.origin).parent.parent
    target = scratch / f"local-{distribution.name}"
    pin = f"{distribution.name}=={distribution.version}"
    command = [sys.executable, "-m", "pip", "install", "-qq", "--no-deps", "--only-binary=:all:", "--target"]
    subprocess.run([*command, str(target), pin], check=True, timeout=300)
    return target


@pytest.fixture
def import_path(artifact: Path, tmp_path: Path) -> list[Path]:
    """sys.path for the smoke: the artifact (compiled parts swapped for local builds), then the runtime's boto3."""
    overlay, runtime = tmp_path / "artifact", tmp_path / "runtime"
    overlay.mkdir()
    runtime.mkdir()
    compiled = [d for d in distributions(artifact).values() if not d.purelib]
    swapped = {top for d in compiled for top in d.top_level}
    _link_all(artifact, overlay, swapped)
    for distribution in compiled:
        local = _local_build(distribution, tmp_path)
        for top in distribution.top_level:
            (overlay / top).symlink_to(local / top)
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        assert spec is not None, name
        assert spec.origin is not None, name
        origin = Path(spec.origin)
        (runtime / (origin.parent.name if origin.name == "__init__.py" else origin.name)).symlink_to(
            origin.parent if origin.name == "__init__.py" else origin
        )
    return [overlay, runtime]


SMOKE = """
import json, sys, types
from pathlib import Path
overlay, runtime, event_file, *allowed = sys.argv[1:]
sys.path[:0] = [overlay, runtime]
import handler.main
outside = sorted(
    name
    for name, module in sys.modules.items()
    if getattr(module, "__file__", None)
    and not str(Path(module.__file__).resolve()).startswith((*allowed, sys.base_prefix))
)
event = json.loads(Path(event_file).read_text())
response = handler.main.handler(event, types.SimpleNamespace(aws_request_id="build-smoke"))
print(json.dumps({"outside": outside, "response": response}))
"""


def test_the_handler_imports_and_answers_from_the_artifact(
    artifact: Path, import_path: list[Path], moto_endpoint: str, tmp_path: Path
) -> None:
    """GIVEN the artifact on sys.path (no site-packages) and a seeded table WHEN Lambda's entry is imported and
    invoked with a real HTTP API event THEN every module but the runtime's boto3 and the swapped compiled parts
    came from the artifact, and the limited key gets its list."""
    table, _ = fresh_table(moto_endpoint)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(api_event("http-api-v2", headers={"Authorization": f"Bearer {world.KEYS['limited']}"})))
    overlay, runtime = import_path
    # Modules may come from the artifact, from the runtime's boto3, or from the swapped compiled parts only.
    allowed = {str(artifact.resolve())} | {str(p.resolve()) for p in [*overlay.iterdir(), *runtime.iterdir()]}
    env = {
        "PATH": os.environ.get("PATH", ""),
        "TABLE_NAME": table,
        "DYNAMODB_ENDPOINT_URL": moto_endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", SMOKE, str(overlay), str(runtime), str(event), *sorted(allowed)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["outside"] == []
    response = report["response"]
    assert response["statusCode"] == 200
    assert [model["id"] for model in json.loads(response["body"])["data"]] == world.EXPECTED["limited"]


@pytest.fixture(scope="module")
def native_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same Makefile and lock built for this machine, as the cold start bench runs it: the lock hashes both
    Linux platforms, so an aarch64 machine (Lambda's own) runs this as an x86_64 one does."""
    machine = os.uname().machine if sys.platform == "linux" else sys.platform
    platform = LOCK_PLATFORMS.get(machine)
    if platform is None:
        pytest.skip(f"the lock's binaries are for Linux x86_64 and aarch64, not {machine}")
    target = tmp_path_factory.mktemp("native") / "artifact"
    error = bench_artifact.build(target, platform=platform)
    assert error is None, error
    return target


# This machine's platform in requirements.lock (infra/build/lock.py PLATFORMS).
LOCK_PLATFORMS = {"x86_64": "manylinux2014_x86_64", "aarch64": "manylinux2014_aarch64"}


def ric_or_skip() -> str:
    interpreter = ric_python()
    if interpreter is None:
        pytest.skip("awslambdaric is not installed (./infra/dev test installs it into .cache/lambda-runtime)")
    return interpreter


INIT_IMPORTS = """
import json, os, sys
from pathlib import Path
import handler.main
root = Path.cwd().resolve()
files = [Path(m.__file__).resolve() for m in list(sys.modules.values()) if getattr(m, "__file__", None)]
ours = sorted(str(f.relative_to(root)) for f in files if f.is_relative_to(root) and f.suffix == ".py")
print(json.dumps({"artifact": ours, "boto3": "boto3" in sys.modules}))
"""


def test_every_module_the_handler_imports_at_init_loads_from_the_shipped_bytecode(
    zipped: Path, native_artifact: Path, moto_endpoint: str
) -> None:
    """GIVEN this machine's build on Lambda's runtime (CPython 3.13, awslambdaric's boto3), writing no bytecode WHEN
    `import handler.main` runs, as Lambda's init does THEN every module it imported from the artifact was loaded
    from a .pyc, none compiled from source, and the zip for Lambda holds that .pyc for each of them; and boto3 (the
    runtime's, with its s3transfer) was not imported at all."""
    python_313_or_skip()
    interpreter = ric_or_skip()
    table, _ = fresh_table(moto_endpoint)
    env = cold.lambda_environment(moto_endpoint, table, "arn:aws:secretsmanager:us-east-1:123456789012:secret:s")
    result = subprocess.run(
        [interpreter, "-B", "-v", "-c", INIT_IMPORTS],
        cwd=native_artifact,
        env={**env, "LAMBDA_TASK_ROOT": str(native_artifact)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report = json.loads(result.stdout.splitlines()[-1])
    imported = report["artifact"]
    assert "handler/main.py" in imported
    assert report["boto3"] is False, "init imports boto3: botocore's clients are enough, boto3 costs a sixth of init"
    assert any(path.startswith("fastapi/") for path in imported)
    root = str(native_artifact.resolve())
    # `python -v` names where each module's code came from: its .pyc, or its source when it had to compile it.
    from_source = re.findall(r"^# code object from '?(.+?\.py)'?$", result.stderr, flags=re.MULTILINE)
    assert [path for path in from_source if Path(path).resolve().is_relative_to(root)] == []
    with zipfile.ZipFile(zipped) as bundle:
        names = set(bundle.namelist())
    missing = []
    for source in imported:
        folder, _, name = source.rpartition("/")
        pyc = f"{folder}/__pycache__/" if folder else "__pycache__/"
        if f"{pyc}{name.removesuffix('.py')}.cpython-313.pyc" not in names:
            missing.append(source)
    assert missing == []


@pytest.mark.parametrize("runtime", ["awslambdaric", "plain python3.13"])
def test_the_function_answers_over_the_runtime_api(
    native_artifact: Path, moto_endpoint: str, runtime: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN this machine's build in a read-only directory, started by awslambdaric as Lambda starts it (or, where that
    is not installed, by the bench's plain python3.13 bootstrap) WHEN the Runtime API hands it a real HTTP API v2
    event with the limited key THEN it asked for the event after its init and answered with the limited key's list,
    writing nothing into its directory; the launcher names the runtime that ran."""
    if runtime == "awslambdaric":
        ric_or_skip()
    else:
        python_313_or_skip()
        monkeypatch.setattr(cold_runtime, "ric_python", lambda: None)
    table, _ = fresh_table(moto_endpoint)
    environment = cold.lambda_environment(moto_endpoint, table, cold.session_secret(moto_endpoint))
    event = api_event("http-api-v2", headers={"Authorization": f"Bearer {world.KEYS['limited']}"})
    with RuntimeApi() as api:
        launcher = Launcher(api, environment)
        started = launcher.cold_start(native_artifact, "handler.main.handler", event)
    assert launcher.runtime.startswith(runtime)
    assert started.init_ns > 0
    assert started.first_invoke_ns > 0
    assert started.response["statusCode"] == 200
    assert [model["id"] for model in json.loads(started.response["body"])["data"]] == world.EXPECTED["limited"]


FINDER = ROOT / "infra" / "build" / "python313"


def test_python313_is_found_from_the_environment_first(tmp_path: Path) -> None:
    """GIVEN PYTHON313 names a CPython 3.13 THEN the build's finder picks it; GIVEN it names another Python THEN
    the finder says so and looks further (python3.13 on PATH, pyenv's)."""
    interpreter = python_313_or_skip()
    chosen = subprocess.run(
        [FINDER], env={**os.environ, "PYTHON313": interpreter}, capture_output=True, text=True, check=False
    )
    assert chosen.returncode == 0
    assert Path(chosen.stdout.strip()).resolve() == Path(interpreter).resolve()
    wrong = subprocess.run(
        [FINDER], env={**os.environ, "PYTHON313": sys.executable}, capture_output=True, text=True, check=False
    )
    assert f"PYTHON313={sys.executable} is not a CPython 3.13" in wrong.stderr
    assert sys.executable not in wrong.stdout


def test_without_python313_the_build_warns_once_and_ships_sources(tmp_path: Path) -> None:
    """GIVEN no CPython 3.13 anywhere the build looks (no PYTHON313, none on PATH, no pyenv) WHEN the Makefile target
    runs THEN it still builds, prints one warning on stdout (what sam build shows) that says what it costs and how
    to fix it, and the artifact has no bytecode."""
    tools = tmp_path / "bin"  # only what the Makefile runs: no python3.13 and no pyenv on this PATH
    tools.mkdir()
    for tool in ("sh", "make", "cp", "find", "rm", "mkdir", "ls", "sort"):
        found = shutil.which(tool)
        assert found is not None, tool
        (tools / tool).symlink_to(found)
    source = tmp_path / "source"
    shutil.copytree(ROOT / "handler", source, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "artifact"
    env = {"PATH": str(tools), "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "no-pyenv")}
    makefile = ROOT / "infra" / "build" / "Makefile"
    command = ["make", "--makefile", str(makefile), "build-ModelsFunction", f"ARTIFACTS_DIR={target}"]
    done = subprocess.run(
        [*command, f"PYTHON={sys.executable}"],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stdout.splitlines() if "WARNING" in line]
    assert len(warnings) == 1
    assert "no CPython 3.13 found" in warnings[0]
    assert "compiles every module from source at every cold start" in warnings[0]
    assert "set PYTHON313=" in warnings[0]
    assert (target / "handler" / "main.py").is_file()
    assert list(target.rglob("*.pyc")) == []
