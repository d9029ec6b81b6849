"""Clients that cannot share the test venv (another major version of a package), each in a venv of its own under
.cache/, built once and stamped; a lock keeps parallel runs from racing. Skipped when pip cannot install the
package (no network to PyPI); under strict mode (.ci/run) that skip fails the run."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CACHE = Path(__file__).resolve().parent.parent.parent / ".cache"


def pip_venv(name: str, requirement: str) -> Path:
    """The venv .cache/<name> holding `requirement`."""
    venv = CACHE / name
    python = venv / "bin" / "python"
    stamp = venv / f".installed-{requirement}"
    CACHE.mkdir(exist_ok=True)
    with (CACHE / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and python.exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        # No ensurepip in the new venv: the project's pip installs into it (pip --python), seconds faster.
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--retries", "2"]
        installed = subprocess.run(
            [*pip, "--timeout", "20", "--disable-pip-version-check", requirement],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if installed.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            errors = [line for line in installed.stderr.splitlines() if line.startswith("ERROR")] or ["no output"]
            pytest.skip(f"pip could not install {requirement} (no network to PyPI?): {errors[-1][:300]}")
        stamp.touch()
    return venv
