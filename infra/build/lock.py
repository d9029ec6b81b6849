"""Write requirements.lock: requirements.in resolved for the Lambda platform (cp313, manylinux aarch64), hashed.

pip resolves for the target platform, not for this machine (`--platform ... --dry-run --report`), so markers such
as `python_version < "3.13"` are evaluated as Lambda will. Run it with any Python >= 3.11: `make -C infra/build lock`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Keep in step with the Makefile's PLATFORM_FLAGS.
PLATFORM = ["--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.13"]
HEADER = """\
# The Lambda artifact's dependencies for python3.13 arm64 (cp313, manylinux aarch64), hash-pinned.
# Generated from requirements.in by lock.py - do not edit; regenerate with `make -C infra/build lock`.
# boto3/botocore are not here: the Lambda runtime provides them.
"""


def resolve(requirements: Path) -> list[tuple[str, str, str]]:
    """(name, version, sha256) of every distribution pip would install for the target platform."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed"]
        command += [*PLATFORM, "--only-binary=:all:", "--target", str(Path(scratch) / "target")]
        command += ["--report", str(report), "-r", str(requirements)]
        subprocess.run(command, check=True)
        installs = json.loads(report.read_text())["install"]
    return sorted(
        (
            str(item["metadata"]["name"]).lower().replace("_", "-"),
            str(item["metadata"]["version"]),
            str(item["download_info"]["archive_info"]["hashes"]["sha256"]),
        )
        for item in installs
    )


def main() -> None:
    pins = resolve(HERE / "requirements.in")
    lines = [f"{name}=={version} \\\n    --hash=sha256:{digest}" for name, version, digest in pins]
    (HERE / "requirements.lock").write_text(HEADER + "\n".join(lines) + "\n")
    print(f"requirements.lock: {len(pins)} distributions")


if __name__ == "__main__":
    main()
