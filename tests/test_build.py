"""The Lambda artifact: `sam build` (or the same Makefile target) without Docker, checked file by file.

GIVEN the template's makefile build WHEN it builds the function THEN the artifact holds handler/ and exactly the
locked runtime dependencies, cp313 aarch64 binaries only, no .pyc, under 5 MB zipped, and the handler imports and
answers from it. This machine may not run aarch64 code, so the import smoke swaps in this interpreter's build of
each compiled dependency (same version), and takes boto3 from here as Lambda's runtime provides it.
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

from tests.support import world
from tests.support.events import api_event
from tests.support.server import fresh_table

pytestmark = pytest.mark.build

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "infra" / "build" / "requirements.lock"
# What the python3.13 Lambda runtime provides, so the artifact must not (boto3 and its dependencies).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
ZIPPED_LIMIT = 5_000_000
ELF_MACHINE_AARCH64 = 183


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
    if os.environ.get("CI") == "true":
        pytest.fail("the SAM CLI must be installed in CI: ./infra/dev test installs it")
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
    owned |= {p.name for p in artifact.glob("*.dist-info")}
    assert {p.name.removesuffix(".py") for p in artifact.iterdir()} <= owned
    for absent in ("tests", "infra", "bin", "yaml", "uvicorn", "moto", "openai", *RUNTIME_PROVIDED):
        assert not (artifact / absent).exists(), absent
        assert not (artifact / f"{absent}.py").exists(), absent


def test_handler_is_copied_whole_without_caches(artifact: Path) -> None:
    """THEN handler/ in the artifact is the repository's handler/, byte for byte, minus __pycache__."""

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


def test_no_bytecode_for_any_python(artifact: Path) -> None:
    """THEN no .pyc and no __pycache__ (pip --no-compile): this machine's Python would leave its own."""
    assert list(artifact.rglob("*.pyc")) == []
    assert list(artifact.rglob("__pycache__")) == []


def test_zipped_size_is_under_5_mb(artifact: Path, tmp_path: Path) -> None:
    """THEN the zip Lambda receives stays under 5 MB (boto3 is the runtime's)."""
    archive = tmp_path / "function.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(artifact.rglob("*")):
            bundle.write(path, path.relative_to(artifact))
    size = archive.stat().st_size
    assert size < ZIPPED_LIMIT, f"{size / 1e6:.2f} MB zipped"


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


def python313() -> str | None:
    for candidate in ("python3.13", str(Path.home() / ".pyenv" / "versions" / "3.13.0" / "bin" / "python3.13")):
        path = shutil.which(candidate)
        if path is None:
            continue
        probe = subprocess.run(
            [path, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0 and probe.stdout.strip() == "(3, 13)":
            return path
    return None


COMPILE = """
import sys, warnings
from pathlib import Path
warnings.simplefilter("error", SyntaxWarning)
failed = []
for path in sorted(Path(sys.argv[1]).rglob("*.py")):
    try:
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    except (SyntaxError, SyntaxWarning) as error:
        if "handler" in path.relative_to(sys.argv[1]).parts[:1] or isinstance(error, SyntaxError):
            failed.append(f"{path}: {error}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_compiles_with_python_313(artifact: Path) -> None:
    """GIVEN a Python 3.13 on this machine THEN every .py in the artifact compiles with it (in memory, no .pyc)."""
    interpreter = python313()
    if interpreter is None:
        pytest.skip("no Python 3.13 here; the import smoke above covers the handler with this Python")
    result = subprocess.run(
        [interpreter, "-I", "-c", COMPILE, str(artifact)], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(artifact.rglob("*.pyc")) == []
