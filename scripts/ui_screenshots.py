"""Screenshots of each view of the web page, made with the bundled models, for the README.

    python -m scripts.ui_screenshots [--out docs/figures]

Starts the whole service as `make run` does (radsynth-serve: Redis, one worker, the API; single-user mode, a
temporary data folder), drives Debian's Chromium with Playwright (no browser download), generates consolidation
images with a GIF, explains the real SIIM chest DICOM, and saves ui-generate.png, ui-explain.png, ui-jobs.png and
ui-models.png.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.conftest import SIIM

ROOT = Path(__file__).resolve().parents[1]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def serve(port: int, data_dir: Path) -> subprocess.Popen:
    from core.redis_server import free_port

    env = os.environ | {"RADSYNTH_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1",
                        "RADSYNTH_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    env.pop("RADSYNTH_API_KEYS", None)
    proc = subprocess.Popen([sys.executable, "-m", "app.launcher", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("the service did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    ap.add_argument("--port", type=int, default=8791)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    data = Path(tempfile.mkdtemp(prefix="radsynth-shots-"))
    proc = serve(args.port, data)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"http://127.0.0.1:{args.port}/")
            page.wait_for_function("document.querySelectorAll('#gen-finding option').length > 1", timeout=60000)
            page.select_option("#gen-finding", "Consolidation")
            page.fill("#genform input[name=n]", "6")
            if page.locator("#genform input[name=gif]").count():
                page.check("#genform input[name=gif]")
            page.click("#genform button[type=submit]")
            page.wait_for_function("document.querySelectorAll('#gallery .card img[src^=blob]').length === 6",
                                   timeout=300000)
            page.screenshot(path=str(args.out / "ui-generate.png"), full_page=True)
            page.click("button[data-view=explain]")
            page.set_input_files("#expfile", str(SIIM))
            page.click("#expform button[type=submit]")
            page.wait_for_selector("#exp-result:not([hidden])", timeout=300000)
            page.wait_for_function("document.querySelector('#exp-overlay').src.startsWith('blob:')")
            page.screenshot(path=str(args.out / "ui-explain.png"), full_page=True)
            page.click("button[data-view=jobs]")
            page.wait_for_selector("#jobrows tr", timeout=30000)
            page.screenshot(path=str(args.out / "ui-jobs.png"), full_page=True)
            page.click("button[data-view=models]")
            page.wait_for_function("document.querySelectorAll('#modelcards img[src^=blob]').length >= 1",
                                   timeout=30000)
            page.screenshot(path=str(args.out / "ui-models.png"), full_page=True)
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(60)
        shutil.rmtree(data, ignore_errors=True)
    print(f"wrote {args.out}/ui-{{generate,explain,jobs,models}}.png")


if __name__ == "__main__":
    main()
