"""Train the one-pass adversarial detail network (64 -> 256 px) on split G's native 256-px images; every
`--eval-every` steps its EMA weights bring V's images, shrunk to 64 px, back to 256 beside bicubic (PSNR,
high-frequency power, random-CNN FID against the originals, a figure), and the bundle is refreshed so a fresh
machine resumes from it.

    python -m scripts.train_detail_net ../shared/data/nih-cxr14-256 --out runs/detail256 \
        --bundle bundles/detail-nih256-G --steps 4000
"""

from __future__ import annotations

import numpy as np

from models.data.nih import NIHRealismSplit
from models.data.preprocess import resize
from models.diffusion.autoencoder_train import ImageCrops
from models.diffusion.detail_net import upscale
from models.diffusion.detail_train import DetailConfig, DetailTrainer
from models.evaluation.training_runs import train_with_checks, training_parser
from models.metrics.autoencoder_eval import bicubic_from, measures, rows_figure
from models.progress import progress_bar


def main() -> None:
    args = training_parser(__doc__, DetailConfig.steps, DetailConfig.disc_weight).parse_args()
    cfg = DetailConfig(steps=args.steps, disc_weight=args.disc_weight)
    train = ImageCrops(NIHRealismSplit(args.roots, {"G"}, cfg.resolution), cfg.resolution)
    val = NIHRealismSplit(args.roots, {"V"}, cfg.resolution)
    originals = np.stack([((val[i]["image"][0] + 1) / 2).numpy() for i in range(len(val))])
    shrunk = np.stack([resize(im, cfg.resolution // cfg.scale) for im in originals])
    bicubic = bicubic_from(originals)
    bar, update = progress_bar(cfg.steps, "detail net")
    trainer = DetailTrainer(train, args.out, cfg, progress=update)

    def measure() -> dict:
        return measures({"detail net": upscale(trainer.ema_net(), shrunk), "real 64 px + bicubic": bicubic},
                        originals, fid=True)

    def figure(path) -> None:
        rows_figure({"original": originals[:4], "detail net": upscale(trainer.ema_net(), shrunk[:4]),
                     "64 px + bicubic": bicubic[:4]}, path, "Held-out radiographs (V) shrunk to 64 px and brought "
                    f"back to 256 by the detail net (step {trainer.step}) and by bicubic; right of each: a zoomed crop")

    with bar:
        train_with_checks(trainer, args, measure, figure, "upscaled_V.png", write=bar.write)


if __name__ == "__main__":
    main()
