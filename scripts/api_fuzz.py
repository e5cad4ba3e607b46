"""Schemathesis against openapi/openapi.json: every operation, all checks, on a real API and Redis.

    python -m scripts.api_fuzz [--examples 100] [--phases examples,coverage,fuzzing,stateful]

The API runs as a real uvicorn process with tiny models; no worker runs, so accepted jobs stay queued. One
check is left out: `positive_data_acceptance` expects every schema-valid request to succeed, but a model or
finding name that is a valid string yet names nothing is rightly a 422 that lists the valid names.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.integration.schema_fuzz import run_schemathesis

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=100, help="test cases per operation")
    ap.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    out = run_schemathesis(args.examples, args.phases, args.seed)
    print(out.stdout[-8000:], out.stderr[-2000:])
    sys.exit(out.returncode)


if __name__ == "__main__":
    main()
