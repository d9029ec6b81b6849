"""A function process started the way Lambda starts one: the AWS Lambda Runtime Interface Client (awslambdaric) on
CPython 3.13 in a fresh read-only copy of the artifact, driven over the Lambda Runtime API served from here.

Init is from spawning the process to its first `next` request (Lambda's Init Duration); the first invoke is from
handing out the event to receiving the response (its Duration). Without awslambdaric, a plain CPython 3.13 speaks
the same API (FALLBACK_BOOTSTRAP), and `Launcher.runtime` says which one ran.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_VENV = ROOT / ".cache" / "lambda-runtime"
FINDER = ROOT / "infra" / "build" / "python313"
API = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:modelgate-bench:live"
TIMEOUT_SECONDS = 60.0

# What a Lambda bootstrap does, for when awslambdaric is not installed: import the handler (init), then ask for
# the event, answer it, and ask for the next one.
FALLBACK_BOOTSTRAP = """
import http.client, importlib, json, os, sys, types
sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
module, _, name = os.environ["_HANDLER"].rpartition(".")
function = getattr(importlib.import_module(module), name)
api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
while True:
    api.request("GET", "/2018-06-01/runtime/invocation/next")
    reply = api.getresponse()
    event = json.loads(reply.read())
    request_id = reply.getheader("Lambda-Runtime-Aws-Request-Id")
    result = function(event, types.SimpleNamespace(aws_request_id=request_id))
    api.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", json.dumps(result))
    api.getresponse().read()
"""


@dataclass
class Invocation:
    """One cold start: the event handed out and what came back, with perf_counter_ns marks."""

    event: bytes
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    pid: int | None = None
    first_next_ns: int | None = None
    handed_out_ns: int | None = None
    answered_ns: int | None = None
    # CPU the function process had used by then (user + system, all its threads), where /proc tells.
    first_next_cpu_ns: int | None = None
    answered_cpu_ns: int | None = None
    response: Any = None
    error: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


CLOCK_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def cpu_ns(pid: int | None) -> int | None:
    """User + system CPU of process `pid` so far (Linux /proc, clock-tick resolution), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (OSError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) * CLOCK_TICK_NS  # utime, stime: fields 14 and 15 of stat(5)


class _RuntimeApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the runtime client keeps its connection open
    server: RuntimeApi

    def log_message(self, format: str, *args: Any) -> None:  # the stdlib's parameter names
        """Quiet: one line per request otherwise."""

    def _reply(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        now = time.perf_counter_ns()
        invocation = self.server.invocation
        if self.path != f"{API}/invocation/next" or invocation is None:
            self._reply(404)
            return
        if invocation.first_next_ns is not None:  # answered, asking for more: a warm container waits here
            invocation.released.wait(TIMEOUT_SECONDS)
            self.close_connection = True
            return
        invocation.first_next_ns, invocation.first_next_cpu_ns = now, cpu_ns(invocation.pid)
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 10_000),
            "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
            "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0",
        }
        invocation.handed_out_ns = time.perf_counter_ns()
        self._reply(200, invocation.event, headers)

    def do_POST(self) -> None:
        body = self._body()
        now = time.perf_counter_ns()
        invocation = self.server.invocation
        if invocation is None:
            self._reply(404)
            return
        if self.path == f"{API}/invocation/{invocation.request_id}/response":
            invocation.answered_ns, invocation.answered_cpu_ns = now, cpu_ns(invocation.pid)
            invocation.response = json.loads(body)
        elif self.path in (f"{API}/invocation/{invocation.request_id}/error", f"{API}/init/error"):
            invocation.error = body.decode(errors="replace")
        else:
            self._reply(404)
            return
        self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
        invocation.finished.set()


class RuntimeApi(ThreadingHTTPServer):
    """The Lambda Runtime API on loopback, for one function process at a time."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A function process is killed once it has answered: its dropped connection is expected, not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RuntimeApiHandler)
        self.invocation: Invocation | None = None
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"

    def __enter__(self) -> RuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.invocation is not None:
            self.invocation.released.set()
        self.shutdown()
        self.server_close()


def python313() -> str | None:
    """The CPython 3.13 the build uses ($PYTHON313, python3.13 on PATH, pyenv's), or None."""
    found = subprocess.run([str(FINDER)], capture_output=True, text=True, check=False)
    return found.stdout.strip() if found.returncode == 0 else None


def runtime_python() -> str | None:
    """CPython 3.13 with what Lambda's python3.13 runtime provides (boto3, and awslambdaric where it installs), as
    the test tooling installs it into .cache/lambda-runtime; or None."""
    candidate = RUNTIME_VENV / "bin" / "python"
    return str(candidate) if candidate.is_file() and any(RUNTIME_VENV.glob(".installed-boto3-*")) else None


def ric_python() -> str | None:
    """That interpreter when awslambdaric is installed in it (or MODELGATE_LAMBDA_RIC names one), or None."""
    configured = os.environ.get("MODELGATE_LAMBDA_RIC")
    if configured and Path(configured).is_file():
        return configured
    python = runtime_python()
    return python if python and any(RUNTIME_VENV.glob(".installed-awslambdaric-*")) else None


@dataclass(frozen=True)
class ColdStart:
    init_ns: int
    first_invoke_ns: int
    response: dict[str, Any]
    # The CPU the process used in each phase (None where /proc is missing). On Lambda, init is CPU-bound on the
    # function's fixed CPU share, so its duration follows its CPU time; on a busy shared machine wall time does not.
    init_cpu_ns: int | None = None
    first_invoke_cpu_ns: int | None = None


def _files(directory: Path) -> set[str]:
    return {str(path.relative_to(directory)) for path in directory.rglob("*")}


def _writable(directory: Path) -> None:
    for path in [directory, *directory.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)


def _read_only(directory: Path) -> None:
    for path in [directory, *directory.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~0o222)


@contextmanager
def read_only_copy(template: Path) -> Iterator[Path]:
    """A fresh copy of `template` that the function cannot write to, checked unchanged afterwards.

    /var/task is read-only, so Lambda's Python writes no __pycache__, and every start finds only the .pyc the
    artifact shipped. Here, each start gets its own copy (so nothing an earlier start left can help it) with the
    write bits removed. Root ignores those bits, so as root the function also runs with `-B` (sys.dont_write_bytecode):
    Python then skips the write that the read-only file system would refuse, and reads exactly as it would there.
    That a start wrote nothing is checked, whoever runs it."""
    with tempfile.TemporaryDirectory(prefix="modelgate-task-") as scratch:
        task = Path(scratch) / "task"
        shutil.copytree(template, task, symlinks=True)
        before = _files(task)
        _read_only(task)
        try:
            yield task
        finally:
            _writable(task)
        written = _files(task) - before
        if written:
            raise RuntimeError(f"the function wrote into its read-only task directory: {sorted(written)[:5]}")


class Launcher:
    """Starts one function process per cold start, under awslambdaric when it is installed."""

    def __init__(self, api: RuntimeApi, environment: Mapping[str, str]) -> None:
        self.api = api
        self.environment = dict(environment)
        ric = ric_python()
        fallback = None if ric else runtime_python()
        if ric is None and fallback is None:
            raise LookupError(
                "no CPython 3.13 with Lambda's runtime packages (.cache/lambda-runtime): run ./infra/dev bench"
            )
        self.python = ric or str(fallback)
        self.runtime = "awslambdaric" if ric else "plain python3.13 (awslambdaric not installed)"

    @property
    def flags(self) -> list[str]:
        return ["-B"] if os.geteuid() == 0 else []  # see read_only_copy

    def command(self, handler: str) -> list[str]:
        if self.runtime == "awslambdaric":
            return [self.python, *self.flags, "-m", "awslambdaric", handler]
        return [self.python, *self.flags, "-c", FALLBACK_BOOTSTRAP]

    def cold_start(self, template: Path, handler: str, event: Mapping[str, Any]) -> ColdStart:
        """Start the function in a fresh read-only copy of `template`, hand it `event`, collect the answer."""
        invocation = Invocation(json.dumps(event).encode())
        self.api.invocation = invocation
        with read_only_copy(template) as task, tempfile.TemporaryFile() as log:
            env = {
                **self.environment,
                "AWS_LAMBDA_RUNTIME_API": self.api.address,
                "LAMBDA_TASK_ROOT": str(task),
                "_HANDLER": handler,
            }
            started = time.perf_counter_ns()
            child = subprocess.Popen(self.command(handler), cwd=task, env=env, stdout=log, stderr=log)
            invocation.pid = child.pid
            try:
                deadline = time.monotonic() + TIMEOUT_SECONDS
                while not (finished := invocation.finished.wait(0.05)):
                    if child.poll() is not None or time.monotonic() > deadline:  # died at init, or hangs
                        break
            finally:
                invocation.released.set()
                child.kill()
                child.wait()
            log.seek(0)
            output = log.read().decode(errors="replace")[-2000:]
        if not finished or invocation.error is not None or invocation.first_next_ns is None:
            reason = invocation.error or ("exited" if child.returncode not in (None, -9) else "timed out")
            raise RuntimeError(f"the function did not answer: {reason}\n{output}")
        assert invocation.handed_out_ns is not None
        assert invocation.answered_ns is not None
        init_cpu, answered_cpu = invocation.first_next_cpu_ns, invocation.answered_cpu_ns
        return ColdStart(
            init_ns=invocation.first_next_ns - started,
            first_invoke_ns=invocation.answered_ns - invocation.handed_out_ns,
            response=invocation.response,
            init_cpu_ns=init_cpu,
            first_invoke_cpu_ns=None if init_cpu is None or answered_cpu is None else answered_cpu - init_cpu,
        )
