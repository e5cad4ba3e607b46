"""Train the radiograph autoencoder of the latent detail stage on G's 256-px images; every `--eval-every` steps
its EMA weights reconstruct V's images beside 64 px + bicubic (PSNR, high-frequency power, a figure), and the
bundle is refreshed so a fresh machine resumes from it.

    python -m scripts.train_autoencoder ../shared/data/nih-cxr14-256 --out runs/ae256 \
        --bundle bundles/ae-nih256-G --steps 4000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from models.data.nih import NIHRealismSplit
from models.diffusion.autoencoder_train import AutoencoderConfig, AutoencoderTrainer, ImageCrops
from models.metrics.autoencoder_eval import comparison_figure, evaluate
from models.progress import progress_bar


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+", help="NIH folders of 256-px images")
    parser.add_argument("--out", required=True, help="run folder (checkpoint, evaluations)")
    parser.add_argument("--bundle", default=None, help="refresh this bundle at every checkpoint; resume from it")
    parser.add_argument("--steps", type=int, default=AutoencoderConfig.steps)
    parser.add_argument("--eval-every", type=int, default=500)
    args = parser.parse_args()
    cfg = AutoencoderConfig(steps=args.steps)
    train = ImageCrops(NIHRealismSplit(args.roots, {"G"}, cfg.resolution), cfg.resolution)
    val = NIHRealismSplit(args.roots, {"V"}, cfg.resolution)
    val_images = np.stack([((val[i]["image"][0] + 1) / 2).numpy() for i in range(len(val))])
    bar, update = progress_bar(cfg.steps, "autoencoder")
    trainer = AutoencoderTrainer(train, args.out, cfg, progress=update)
    out = Path(args.out)
    if args.bundle and Path(args.bundle, "resume.json").exists() and not (out / "checkpoint.pt").exists():
        trainer.resume_from_bundle(args.bundle)
    history_path = out / "eval_V.json"
    history = json.loads(history_path.read_text()) if history_path.exists() else []

    def evaluate_on_v() -> None:
        if trainer.step % args.eval_every and trainer.step != cfg.steps:
            return
        vae = trainer.ema_autoencoder()
        history.append({"step": trainer.step, "wall_s": round(trainer.wall(), 1)} | evaluate(vae, val_images))
        history_path.write_text(json.dumps(history, indent=2))
        comparison_figure(vae, val_images[:4], out / "reconstructions_V.png")
        bar.write(json.dumps(history[-1]))
        if args.bundle:
            for name in ("eval_V.json", "reconstructions_V.png"):
                Path(args.bundle, name).write_bytes((out / name).read_bytes())

    trainer.run(bundle_to=args.bundle, on_checkpoint=evaluate_on_v)
    bar.close()


if __name__ == "__main__":
    main()
