"""Train the radiograph autoencoder of the latent detail stage on G's 256-px images; every `--eval-every` steps
its EMA weights reconstruct V's images beside 64 px + bicubic (PSNR, high-frequency power, a figure), and the
bundle is refreshed so a fresh machine resumes from it.

    python -m scripts.train_autoencoder ../shared/data/nih-cxr14-256 --out runs/ae256 \
        --bundle bundles/ae-nih256-G --steps 4000
"""

from __future__ import annotations

import numpy as np

from models.data.nih import NIHRealismSplit
from models.diffusion.autoencoder_train import AutoencoderConfig, AutoencoderTrainer, ImageCrops
from models.evaluation.training_runs import train_with_checks, training_parser
from models.metrics.autoencoder_eval import comparison_figure, evaluate
from models.progress import progress_bar


def main() -> None:
    args = training_parser(__doc__, AutoencoderConfig.steps, AutoencoderConfig.disc_weight).parse_args()
    cfg = AutoencoderConfig(steps=args.steps, disc_weight=args.disc_weight)
    train = ImageCrops(NIHRealismSplit(args.roots, {"G"}, cfg.resolution), cfg.resolution)
    val = NIHRealismSplit(args.roots, {"V"}, cfg.resolution)
    val_images = np.stack([((val[i]["image"][0] + 1) / 2).numpy() for i in range(len(val))])
    bar, update = progress_bar(cfg.steps, "autoencoder")
    trainer = AutoencoderTrainer(train, args.out, cfg, progress=update)
    with bar:
        train_with_checks(trainer, args, lambda: evaluate(trainer.ema_autoencoder(), val_images),
                          lambda path: comparison_figure(trainer.ema_autoencoder(), val_images[:4], path),
                          "reconstructions_V.png", write=bar.write)


if __name__ == "__main__":
    main()
