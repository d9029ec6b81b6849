"""GIVEN the service on one loopback origin, with CORS_ALLOW_ORIGINS and CORS_CREDENTIAL_ORIGINS set
WHEN pages served on other loopback origins fetch /v1/models in a real headless Chromium
THEN the allowed origin reads the key's list, the credential origin may send credentials, the others are blocked.

Each page runs its fetches and writes one line per attempt into the DOM; Chromium prints the DOM (`--dump-dom`)
once the page is idle (`--virtual-time-budget` waits for pending fetches).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import settings_for
from tests.support import world
from tests.support.server import LocalServer, fresh_table, serve

pytestmark = pytest.mark.browser

ATTEMPTS = {
    "anonymous": "{}",
    "key": '{headers: {Authorization: "Bearer %(key)s"}}',
    "key+credentials": '{headers: {Authorization: "Bearer %(key)s"}, credentials: "include"}',
}
PAGE = """<!doctype html><html><body><pre id="result">pending</pre><script>
async function attempt(label, init) {
  try {
    const response = await fetch(%(api)s + "/v1/models", init);
    const body = await response.json();
    return label + " ok " + response.status + " " + body.data.map((m) => m.id).join(",");
  } catch (error) {
    return label + " blocked " + error.name;
  }
}
(async () => {
  const lines = [%(attempts)s];
  document.getElementById("result").textContent = (await Promise.all(lines)).join("\\n");
})();
</script></body></html>
"""


def chromium() -> str:
    found = os.environ.get("MODELGATE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    pytest.skip("chromium not found: `apt-get install chromium`, or run ./infra/dev test, which installs it")


@dataclass
class PageServer:
    """A loopback origin serving one page that fetches the API."""

    server: ThreadingHTTPServer
    page: bytes = b""

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def page_server() -> PageServer:
    holder: list[PageServer] = []

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = holder[0].page
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # the stdlib's name
            pass

    holder.append(PageServer(ThreadingHTTPServer(("127.0.0.1", 0), Page)))
    threading.Thread(target=holder[0].server.serve_forever, daemon=True).start()
    return holder[0]


@dataclass
class Origins:
    allowed: PageServer
    credentialed: PageServer
    other: PageServer
    api: LocalServer


@pytest.fixture(scope="module")
def origins(moto_endpoint: str) -> Iterator[Origins]:
    pages = [page_server() for _ in range(3)]
    table, _ = fresh_table(moto_endpoint)
    settings = settings_for(
        table_name=table,
        dynamodb_endpoint_url=moto_endpoint,
        cors_allow_origins=(pages[0].origin,),
        cors_credential_origins=(pages[1].origin,),
    )
    try:
        with serve(settings) as api:
            script = PAGE % {
                "api": json.dumps(api.base_url),
                "attempts": ", ".join(
                    f"attempt({json.dumps(label)}, {init % {'key': world.KEYS['limited']}})"
                    for label, init in ATTEMPTS.items()
                ),
            }
            for page in pages:
                page.page = script.encode()
            yield Origins(pages[0], pages[1], pages[2], api)
    finally:
        for page in pages:
            page.server.shutdown()
            page.server.server_close()


def load(page: PageServer, profile: Path) -> dict[str, str]:
    """Open the page in headless Chromium; each attempt's outcome, by label."""
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=15000",
        "--dump-dom",
        page.origin + "/",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    match = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, re.DOTALL)
    assert match, f"chromium printed no page (exit {done.returncode}): {done.stderr[-2000:]}"
    lines = html.unescape(match.group(1)).splitlines()
    assert lines != ["pending"], "the page's fetches did not finish"
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in lines}


def test_an_allowed_origin_reads_the_keys_list_without_credentials(origins: Origins, tmp_path: Path) -> None:
    outcome = load(origins.allowed, tmp_path)
    assert outcome == {
        "anonymous": "ok 200 " + ",".join(world.EXPECTED["anonymous"]),
        "key": "ok 200 " + ",".join(world.EXPECTED["limited"]),
        # Allowed to read, but not with credentials: the answer lacks Access-Control-Allow-Credentials.
        "key+credentials": "blocked TypeError",
    }


def test_a_credential_origin_may_also_send_credentials(origins: Origins, tmp_path: Path) -> None:
    outcome = load(origins.credentialed, tmp_path)
    limited = "ok 200 " + ",".join(world.EXPECTED["limited"])
    assert outcome == {
        "anonymous": "ok 200 " + ",".join(world.EXPECTED["anonymous"]),
        "key": limited,
        "key+credentials": limited,
    }


def test_an_origin_not_allowed_is_blocked(origins: Origins, tmp_path: Path) -> None:
    outcome = load(origins.other, tmp_path)
    assert outcome == dict.fromkeys(ATTEMPTS, "blocked TypeError")
