"""Figure 4: the zipped Lambda artifact. `sam build`'s output when there is one; otherwise the same Makefile target
that `sam build` runs (infra/build, BuildMethod: makefile) builds it into a scratch directory. Never estimated."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

from infra.bench.report import Report, ratio
from infra.bench.stats import human_bytes

ROOT = Path(__file__).resolve().parents[2]
SAM_BUILD = ROOT / ".aws-sam" / "build" / "ModelsFunction"
MAKEFILE = ROOT / "infra" / "build" / "Makefile"
TARGET_BYTES = 8 * 1024 * 1024
TARGET = "≤ 8 MB"


def zipped_size(directory: Path, *, skip: str | None = None, bytecode: bool = True) -> tuple[int, int]:
    """(zipped, unzipped) bytes of `directory` as Lambda receives it, optionally without one top-level entry or
    without the .pyc files (the layout before the build compiled them)."""
    buffer = io.BytesIO()
    unzipped = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            relative = path.relative_to(directory)
            if path.is_dir() or (skip is not None and relative.parts[0] == skip):
                continue
            if not bytecode and path.suffix == ".pyc":
                continue
            archive.write(path, relative.as_posix())
            unzipped += path.stat().st_size
    return len(buffer.getvalue()), unzipped


def largest_parts(directory: Path, count: int = 5) -> list[tuple[str, int]]:
    sizes: Counter[str] = Counter()
    for path in directory.rglob("*"):
        if path.is_file():
            top = path.relative_to(directory).parts[0]
            sizes[top.split("-")[0] if top.endswith(".dist-info") else top] += path.stat().st_size
    return sizes.most_common(count)


def build(into: Path, *, platform: str | None = None) -> str | None:
    """Run the Makefile target as `sam build` would (in a copy of CodeUri, handler/), for Lambda's platform or
    another one the lock hashes (manylinux2014_x86_64). An error text, or None."""
    if shutil.which("make") is None:
        return "make is not installed"
    scratch = into.parent / f"{into.name}-source"
    shutil.copytree(ROOT / "handler", scratch, ignore=shutil.ignore_patterns("__pycache__"))
    command = ["make", "--silent", "-f", str(MAKEFILE), "build-ModelsFunction", f"ARTIFACTS_DIR={into}"]
    command += [f"PYTHON={sys.executable}"] + ([f"PLATFORM={platform}"] if platform else [])
    done = subprocess.run(command, cwd=scratch, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        return (done.stderr or done.stdout).strip().splitlines()[-1] if (done.stderr or done.stdout) else "failed"
    return None


def run(report: Report, *, quick: bool) -> None:
    report.section("4. Artifact: the zipped Lambda package (deflate, as sam packages it)")
    figure = "artifact, zipped"
    with tempfile.TemporaryDirectory() as scratch:
        if SAM_BUILD.is_dir():
            built, source = SAM_BUILD, ".aws-sam/build (sam build)"
        elif not MAKEFILE.is_file():
            report.line("not built: no .aws-sam/build and no infra/build/Makefile")
            report.target(figure, "not built", TARGET, None)
            return
        elif quick:
            report.line("not built: --quick skips the build (run `sam build`, or the bench without --quick)")
            report.target(figure, "not built", TARGET, None)
            return
        else:
            built = Path(scratch) / "artifact"
            built.mkdir()
            error = build(built)
            if error is not None:
                report.line(f"not built: the infra/build Makefile failed: {error}")
                report.target(figure, "not built", TARGET, None)
                return
            source = "infra/build/Makefile build-ModelsFunction, as sam build runs it"
        zipped, unzipped = zipped_size(built)
        deps_zipped, deps_unzipped = zipped_size(built, skip="handler", bytecode=False)
        sources_zipped, sources_unzipped = zipped_size(built, bytecode=False)
        report.line(f"built by {source}")
        report.row("", "zipped", "unzipped", "vs no .pyc")
        cells = (human_bytes(deps_zipped), human_bytes(deps_unzipped), ratio(deps_zipped, sources_zipped))
        report.row("  dependencies only (fastapi, mangum and theirs)", *cells)
        cells = (human_bytes(sources_zipped), human_bytes(sources_unzipped), "1.00×")
        report.row("  without .pyc (the layout before bytecode)", *cells)
        met = zipped <= TARGET_BYTES
        note = report.target(figure, human_bytes(zipped), TARGET, met)
        cells = (human_bytes(zipped), human_bytes(unzipped), ratio(zipped, sources_zipped))
        report.row("  modelgate artifact (handler/, deps, 3.13 .pyc)", *cells, note=note)
        largest = ", ".join(f"{name} {human_bytes(size)}" for name, size in largest_parts(built))
        report.line(f"largest, unzipped: {largest}")
        compiled = sum(1 for _ in built.rglob("*.cpython-313.pyc"))
        sources = sum(1 for _ in built.rglob("*.py"))
        if compiled:
            report.line(f"{compiled} CPython 3.13 .pyc beside {sources} .py; boto3 comes from the runtime")
        else:
            report.line(f"no bytecode: {sources} .py that Lambda compiles at every cold start (no CPython 3.13 here)")
