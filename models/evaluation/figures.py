"""Figures the evaluations share: labelled image grids and how a matplotlib figure is saved."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def labelled_grid(rows: dict[str, np.ndarray], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = max(len(v) for v in rows.values())
    # constrained layout reserves room for the title (tight_layout drew it over the first row)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.3 * cols + 1.4, 1.3 * len(rows) + 0.4), dpi=110,
                             squeeze=False, layout="constrained")
    for r, (name, imgs) in enumerate(rows.items()):
        for c in range(cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(imgs):
                ax.imshow(imgs[c], cmap="gray", vmin=0, vmax=1)
        axes[r][0].text(-0.1, 0.5, name, transform=axes[r][0].transAxes, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
