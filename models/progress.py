"""Progress bars for long command-line work (training, sampling)."""

from __future__ import annotations


def progress_bar(total: int, desc: str, *, disable: bool = False):
    """A tqdm bar plus a callback (step, total, message, metrics) that drives it."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True, disable=disable)

    def update(step: int, total_: int, message: str, metrics: dict) -> None:
        bar.total = total_
        bar.n = step
        post = {k: f"{v:.4g}" for k, v in metrics.items() if isinstance(v, float)}
        bar.set_postfix(post | ({"stage": message} if message != "training" else {}), refresh=False)
        bar.refresh()

    return bar, update
