"""Figure 5: HTTP throughput of the local server under concurrent load from a second process, on loopback, bounded
in time. The server is `modelgate serve` over the bench table; the baseline is the framework floor's route on the
same uvicorn settings, serving the very bytes modelgate answers. LiteLLM's proxy is measured only when importable.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from infra.bench.report import Report, ratio
from infra.bench.stats import human_time
from infra.bench.world import BenchWorld
from infra.local.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
LITELLM_TARGET = 5.0
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes through a proxy
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens
LITELLM_KEY = "sk-bench-litellm-master"  # a throwaway proxy on loopback


def _fetch(port: int, headers: Mapping[str, str]) -> bytes | None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models", headers=dict(headers))
    try:
        with DIRECT.open(request, timeout=5) as response:
            body: bytes = response.read()
            return body
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


@contextlib.contextmanager
def server_process(
    command: list[str], env: Mapping[str, str], port: int, headers: Mapping[str, str], wait: float
) -> Iterator[bytes]:
    """Run a server process until the block ends; yields the body of its first 200 answer."""
    process = subprocess.Popen(
        command, cwd=ROOT, env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + wait
        while (body := _fetch(port, headers)) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                error = process.stderr.read() if process.stderr and process.poll() is not None else ""
                raise RuntimeError(f"the server {command[2:4]} did not answer: {error[-400:]}")
            time.sleep(0.1)
        yield body
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def load(
    port: int, headers: Mapping[str, str], seconds: float, env: Mapping[str, str], *, connections: int = 16
) -> dict[str, Any]:
    """infra.bench.load's figures for `connections` keep-alive connections asking with `headers` for `seconds`."""
    command = [sys.executable, "-m", "infra.bench.load", "--port", str(port), "--seconds", str(seconds)]
    command += ["--connections", str(connections)]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    done = subprocess.run(command, cwd=ROOT, env=dict(env), capture_output=True, text=True, check=True, timeout=120)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _litellm_config(path: Path, model_ids: list[str]) -> None:
    """LiteLLM's proxy listing the same models (never called upstream: /v1/models reads only the config)."""
    models = [
        {"model_name": model_id, "litellm_params": {"model": f"openai/{model_id}", "api_key": "sk-unused"}}
        for model_id in model_ids
    ]
    path.write_text(json.dumps({"model_list": models, "general_settings": {"master_key": LITELLM_KEY}}))


def run(report: Report, env: Mapping[str, str], world: BenchWorld, *, quick: bool) -> None:
    size = min(world.sizes)
    seconds, rounds = (2.0, 1) if quick else (3.0, 2)
    key_headers = {"Authorization": f"Bearer {world.keys[size]['a']}"}
    ours_port, plain_port = free_port(), free_port()
    serve = [sys.executable, "-c", "import sys; from infra.cli.main import main; sys.exit(main())", "serve"]
    serve += ["--endpoint-url", env["DYNAMODB_ENDPOINT_URL"], "--table", world.table, "--port", str(ours_port)]
    report.section(
        f"5. HTTP throughput: the local server (uvicorn), {size} models, 16 keep-alive connections from another "
        "process",
        f"{rounds} × {seconds:.0f} s per server after a 0.5 s warm-up, alternating; cache warm (as in figure 1); "
        "127.0.0.1 only.",
    )
    report.row("", "req/s", "p50", "p99", note="vs floor (req/s)")
    results: dict[str, list[dict[str, Any]]] = {"modelgate": [], "floor": []}
    with tempfile.TemporaryDirectory() as scratch, server_process(serve, env, ours_port, key_headers, 30) as body:
        body_file = Path(scratch) / "body.json"
        body_file.write_bytes(body)
        plain = [sys.executable, "-m", "infra.bench.plain", "--port", str(plain_port), "--body", str(body_file)]
        with server_process(plain, env, plain_port, {}, 30):
            for _ in range(rounds):
                results["modelgate"].append(load(ours_port, key_headers, seconds, env))
                results["floor"].append(load(plain_port, {}, seconds, env))
        python = litellm_python()
        litellm = _litellm(python, env, world, scratch, seconds) if python else None
    merged = {name: _merge(runs) for name, runs in results.items()}
    floor_rps = merged["floor"]["rps"]
    labels = {"floor": "framework floor: plain FastAPI, same bytes", "modelgate": "modelgate serve, API key"}
    for name in ("floor", "modelgate"):
        result = merged[name]
        cells = (f"{result['rps']:,.0f}", human_time(result["p50_ns"]), human_time(result["p99_ns"]))
        errors = f", {result['errors']} errors" if result["errors"] else ""
        report.row("  " + labels[name], *cells, note=ratio(result["rps"], floor_rps) + errors)
    if litellm is None:
        report.line(
            "LiteLLM proxy: not installed (`litellm[proxy]` is optional, never a dependency; LITELLM_PYTHON may "
            "name an interpreter that has it): not measured"
        )
        report.target("HTTP req/s vs LiteLLM /v1/models", "not measured", f"≥ {LITELLM_TARGET:.0f}× LiteLLM", None)
        return
    cells = (f"{litellm['rps']:,.0f}", human_time(litellm["p50_ns"]), human_time(litellm["p99_ns"]))
    report.row("  LiteLLM proxy /v1/models, master key", *cells, note=ratio(litellm["rps"], floor_rps))
    times = merged["modelgate"]["rps"] / litellm["rps"] if litellm["rps"] else float("inf")
    met = times >= LITELLM_TARGET
    report.line(
        report.target("HTTP req/s vs LiteLLM /v1/models", f"{times:.1f}× LiteLLM", f"≥ {LITELLM_TARGET:.0f}×", met)
    )


def _merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Requests per second over all rounds; the latency figures of the median round."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    middle = ordered[len(ordered) // 2]
    total = sum(r["requests"] for r in runs) / sum(r["seconds"] for r in runs)
    return {**middle, "rps": total, "errors": sum(r["errors"] for r in runs)}


def litellm_python() -> str | None:
    """An interpreter with `litellm[proxy]`: the one LITELLM_PYTHON names (so LiteLLM stays out of .venv), or this
    one when it can import LiteLLM."""
    named = os.environ.get("LITELLM_PYTHON")
    if named:
        return named
    return sys.executable if importlib.util.find_spec("litellm") else None


def _litellm(python: str, env: Mapping[str, str], world: BenchWorld, scratch: str, seconds: float) -> dict[str, Any]:
    port = free_port()
    config = Path(scratch) / "litellm.json"
    _litellm_config(config, [entry["id"] for entry in world.catalog[: min(world.sizes)]])
    command = [python, "-m", "litellm.proxy.proxy_cli", "--config", str(config)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    headers = {"Authorization": f"Bearer {LITELLM_KEY}"}
    # Loopback only: LiteLLM fetches its model cost map from GitHub at start unless told not to, and any other
    # outbound HTTP(S) it tries goes to a dead proxy.
    offline = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "HTTP_PROXY": DEAD_PROXY, "HTTPS_PROXY": DEAD_PROXY}
    offline["NO_PROXY"] = "127.0.0.1,localhost"
    with server_process(command, {**env, **offline}, port, headers, 120):
        return load(port, headers, seconds, env)
