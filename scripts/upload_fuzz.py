"""Upload fuzz, long profile: every DICOM of pydicom's and pydicom-data's corpora plus mutants of both SIIM
forms, through the API's own upload check. Figures go to docs/reliability.md.

    python -m scripts.upload_fuzz [--mutants 2000] [--out bench/results/upload_fuzz.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from tests.conftest import SIIM, SIIM_MONO1
from tests.upload_fuzz import check_uploads, corpus_files, mutants

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mutants", type=int, default=2000, help="mutants of each SIIM form")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "upload_fuzz.json")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    files = corpus_files()
    corpus = check_uploads((p.name, p.read_bytes()) for p in files).summary()
    print("corpus:", json.dumps(corpus), flush=True)
    cases = list(mutants(SIIM.read_bytes(), args.mutants, args.seed))
    cases += list(mutants(SIIM_MONO1.read_bytes(), args.mutants, args.seed + 1))
    fuzz = check_uploads(cases).summary()
    print("mutants:", json.dumps(fuzz), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"corpus_files": len(files), "corpus": corpus, "mutants": fuzz,
                                    "mutants_per_form": args.mutants, "seed": args.seed}, indent=1))
    print(f"wrote {args.out}")
    if corpus["server_errors_5xx"] or fuzz["server_errors_5xx"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
