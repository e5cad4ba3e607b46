"""The bundled generator's sample sheet (`samples.png` in its folder, shown on the web page's Models tab): two
images per finding at the service's defaults, shown at 128 px, rows labelled.

    python -m scripts.bundled_samples [--model nih-cxr14] [--per-finding 2] [--size 128]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from models.catalog import resolve_model
from models.diffusion.pipeline import RadSynthPipeline
from models.io.writers import write_png
from models.workflows.generate import sample_sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nih-cxr14")
    parser.add_argument("--per-finding", type=int, default=2)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    folder = Path(resolve_model(args.model))
    pipe = RadSynthPipeline.load(folder)
    sheet = sample_sheet(pipe, list(pipe.findings), args.per_finding, size=args.size)
    write_png(folder / "samples.png", sheet, text={"radsynth_artifact": "sample sheet", "synthetic": "yes",
                                                   "model": folder.name, "findings": list(pipe.findings)})
    print(f"wrote {folder / 'samples.png'}")


if __name__ == "__main__":
    main()
