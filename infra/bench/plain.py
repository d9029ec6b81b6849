"""The baseline server of figure 5, run as its own process: the framework floor of figure 1 (a plain FastAPI
route returning fixed bytes) on uvicorn, configured as `modelgate serve` configures it.

    python -m infra.bench.plain --port 8001 --body body.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from infra.bench.warm import floor_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bench.plain")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True, help="the bytes to serve")
    args = parser.parse_args(argv)
    app = floor_app(args.body.read_bytes(), {})
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
