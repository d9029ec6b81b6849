"""Write requirements.lock: requirements.in resolved for the Lambda platform (cp313, manylinux aarch64), hashed.
`lock.py follower` does the same for the scheduled follower's follower.in -> follower.lock.

pip resolves for the target platform, not for this machine (`--platform ... --dry-run --report`), so markers such
as `python_version < "3.13"` are evaluated as Lambda will. The same pins are then hashed for manylinux x86_64 too,
so the benchmark and the tests can run the very same packages on an x86_64 machine (`make ... PLATFORM=...`).
Run it with any Python >= 3.11: `make -C infra/build lock`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The first is Lambda's (keep in step with the Makefile's PLATFORM default); the versions are resolved for it.
PLATFORMS = ("manylinux2014_aarch64", "manylinux2014_x86_64")
TARGET = ["--implementation", "cp", "--python-version", "3.13", "--only-binary=:all:"]
HEADER = """\
# The {what} dependencies for python3.13 arm64 (cp313, manylinux aarch64), hash-pinned. The same pins
# carry their manylinux x86_64 hashes too, for the benchmark and tests on x86_64 machines.
# Generated from {source} by lock.py - do not edit; regenerate with `make -C infra/build lock`.
# boto3/botocore are not here: the Lambda runtime provides them.
"""


def resolve(requirements: list[str], platform: str, *, no_deps: bool = False) -> dict[str, tuple[str, str]]:
    """{name: (version, sha256)} of every distribution pip would install for `platform`."""
    with tempfile.TemporaryDirectory() as scratch:
        listed = Path(scratch) / "requirements.txt"
        listed.write_text("\n".join(requirements) + "\n")
        report = Path(scratch) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed"]
        command += ["--platform", platform, *TARGET, "--target", str(Path(scratch) / "target")]
        command += ["--no-deps"] if no_deps else []
        command += ["--report", str(report), "-r", str(listed)]
        subprocess.run(command, check=True)
        installs = json.loads(report.read_text())["install"]
    return {
        str(item["metadata"]["name"]).lower().replace("_", "-"): (
            str(item["metadata"]["version"]),
            str(item["download_info"]["archive_info"]["hashes"]["sha256"]),
        )
        for item in installs
    }


LOCKS = {  # name -> (the input, the lock, what it is for)
    "requirements": ("requirements.in", "requirements.lock", "Lambda artifact's"),
    "follower": ("follower.in", "follower.lock", "scheduled follower's"),
}


def main(lock: str = "requirements") -> None:
    source, target, what = LOCKS[lock]
    lambda_platform, *others = PLATFORMS
    pins = resolve((HERE / source).read_text().splitlines(), lambda_platform)
    hashes = {name: [digest] for name, (_, digest) in pins.items()}
    exact = [f"{name}=={version}" for name, (version, _) in sorted(pins.items())]
    for platform in others:
        for name, (version, digest) in resolve(exact, platform, no_deps=True).items():
            if version != pins[name][0]:
                sys.exit(f"{name} {version} for {platform}, {pins[name][0]} for {lambda_platform}")
            if digest not in hashes[name]:
                hashes[name].append(digest)
    lines = []
    for name, (version, _) in sorted(pins.items()):
        lines.append(" \\\n".join([f"{name}=={version}", *(f"    --hash=sha256:{d}" for d in hashes[name])]))
    header = HEADER.format(what=what, source=source)
    (HERE / target).write_text(header + "\n".join(lines) + "\n")
    print(f"{target}: {len(pins)} distributions for {', '.join(PLATFORMS)}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
