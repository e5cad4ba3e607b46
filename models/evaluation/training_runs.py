"""What the long image-training runs share: their command line, resuming from a bundle on a fresh machine, and a
measurement on V (with its figure) at every `--eval-every` steps, copied into the bundle beside the weights."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

RESUME = "resume.json"
HISTORY = "eval_V.json"


def training_parser(doc: str, steps: int, disc_weight: float) -> argparse.ArgumentParser:
    """The command line of a critic-trained image network: data, run folder, bundle, steps, V checks, critic
    weight."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("roots", nargs="+", help="NIH folders of 256-px images")
    parser.add_argument("--out", required=True, help="run folder (checkpoint, evaluations)")
    parser.add_argument("--bundle", default=None, help="refresh this bundle at every checkpoint; resume from it")
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--disc-weight", type=float, default=disc_weight,
                        help="weight of the patch critic's score in the network's loss (from its start step on)")
    return parser


def train_with_checks(trainer, args: argparse.Namespace, measure: Callable[[], dict],
                      figure: Callable[[Path], None], figure_name: str, write: Callable[[str], None] = print) -> Path:
    """Run `trainer` (a CheckpointedTrainer) to its steps, resuming from `args.bundle` when the run folder has no
    checkpoint; at every `args.eval_every` steps (and the last) append `measure()` to eval_V.json and draw
    `figure` into the run folder, both copied into the bundle."""
    out = Path(args.out)
    if args.bundle and Path(args.bundle, RESUME).exists() and not (out / trainer.CHECKPOINT).exists():
        trainer.resume_from_bundle(args.bundle)
    history_path = out / HISTORY
    history = json.loads(history_path.read_text()) if history_path.exists() else []

    def check() -> None:
        if trainer.step % args.eval_every and trainer.step != trainer.cfg.steps:
            return
        history.append({"step": trainer.step, "wall_s": round(trainer.wall(), 1)} | measure())
        history_path.write_text(json.dumps(history, indent=2))
        figure(out / figure_name)
        write(json.dumps(history[-1]))
        if args.bundle:
            for name in (HISTORY, figure_name):
                Path(args.bundle, name).write_bytes((out / name).read_bytes())

    return trainer.run(bundle_to=args.bundle, on_checkpoint=check)
