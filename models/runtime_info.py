"""Facts about the code and hardware, recorded with every trained model and benchmark."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from models import __version__


def code_version() -> str:
    """Package version plus the git commit when run from a checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).resolve().parent).stdout.strip()
    except Exception:
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def hardware() -> dict:
    import torch

    info = {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
            "threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info |= {"device": torch.cuda.get_device_name(0), "cuda": torch.version.cuda}
    else:
        info["device"] = "cpu"
    return info


def pick_device(preferred: str | None = None) -> str:
    import torch

    if preferred:
        return preferred
    return "cuda" if torch.cuda.is_available() else "cpu"
