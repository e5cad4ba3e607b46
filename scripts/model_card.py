"""Re-measure the figures of docs/model-card.md: the 64-px QC classifier's AUROC on its test split, the sanity and
localisation of its explanations, explanations of real uploads, and the default generator's denoising GIF.

    python -m scripts.model_card            # full run (CPU: about twenty minutes)
    python -m scripts.model_card --quick    # small sample counts, for a smoke test
    python -m scripts.model_card --quick --docs /tmp/card   # the same, written elsewhere

Writes model-card.json (numbers, sample counts and the SHA-256 of the classifier's weights, which
tests/test_model_card.py checks against the repository), model-card.md and figures/ into --docs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from models.catalog import DEFAULT_GENERATOR, resolve_model
from models.evaluation.real_images import images_of
from models.evaluation.weights import weight_hashes

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
QC_CLASSIFIER = "nih-cxr14-64-classifier"  # the default generator's QC classifier, which this card measures
UPLOADS = ROOT / "tests" / "fixtures" / "uploads"
EXTRA_UPLOAD = ROOT.parent / "shared" / "data" / "uploads" / "00027426_000.png"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--generator", default=DEFAULT_GENERATOR, help="generator of the denoising GIF")
    ap.add_argument("--classifier", default=QC_CLASSIFIER, help="classifier name or folder")
    ap.add_argument("--docs", default=str(DOCS), help="where to write the card (default: docs/)")
    args = ap.parse_args()
    from core.settings import DEMO_DATASET
    from models.classifier.ensemble import ClassifierEnsemble
    from models.classifier.train import dataset_arrays, evaluate
    from models.data.nih import NIHChestXray
    from models.evaluation.cards.model import write_card

    docs, quick, started = Path(args.docs), args.quick, time.time()
    (docs / "figures").mkdir(parents=True, exist_ok=True)
    clf_dir = resolve_model(args.classifier, kind="classifier")
    ens = ClassifierEnsemble.load(clf_dir)
    info = json.loads((clf_dir / "radsynth.json").read_text())
    splits = {s: NIHChestXray(DEMO_DATASET, s, 64) for s in ("train", "val", "test")}
    card: dict = {"generated_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": quick,
                  "weights_sha256": weight_hashes(clf_dir),
                  "classifier": {k: info.get(k) for k in ("dataset", "wall_time_s", "hardware", "images_real",
                                                          "code_version", "config", "thresholds")},
                  "data": {s: {"images": len(d), "patients": len({r.group for r in d.records}),
                               "per_finding": d.label_counts()} for s, d in splits.items()}}
    test_x, test_y = dataset_arrays(splits["test"])
    card["classifier_auroc_test"] = evaluate(ens, test_x, test_y, bootstrap=200 if quick else 2000)["per_finding"]
    card |= explanation_sanity(ens, splits, quick)
    card["explanation_examples"] = explanation_examples(ens, docs / "figures")
    denoising_gif(args.generator, docs / "figures" / "denoising_consolidation.gif")
    card["runtime_s"] = round(time.time() - started, 1)
    (docs / "model-card.json").write_text(json.dumps(card, indent=2, default=float))
    write_card(docs)
    print(f"wrote {docs / 'model-card.json'} and {docs / 'model-card.md'} in {card['runtime_s']} s")


def explanation_sanity(ens, splits: dict, quick: bool) -> dict:
    """The model-randomisation check on held-out images, pointing game on the NIH boxes, and the phantom
    benchmark (a classifier trained on phantoms with drawn lesions)."""
    import numpy as np

    from core.settings import DEMO_DATASET
    from models.classifier.ensemble import ClassifierEnsemble
    from models.classifier.train import ClassifierConfig, train_classifier
    from models.data.phantom import ChestPhantom
    from models.explain.localisation import nih_box_localisation, phantom_localisation
    from models.explain.sanity import randomisation_check
    from models.vocabulary.findings import NO_FINDING

    held = np.concatenate([images_of(splits["val"]), images_of(splits["test"])])
    common = max((f for f in ens.findings if f != NO_FINDING), key=lambda f: splits["train"].label_counts()[f])
    check = randomisation_check(ens, held[: 4 if quick else 12], common, n_steps=32)
    check.pop("spearman_per_image", None)
    cfg = ClassifierConfig(resolution=64, members=3, width=16, epochs=3 if quick else 10, batch_size=32,
                           bootstrap=100, lr=3e-3)
    train, val = ChestPhantom(200 if quick else 600, 64, seed=1), ChestPhantom(60 if quick else 150, 64, seed=2)
    with tempfile.TemporaryDirectory() as work:
        folder, report = train_classifier(train, val, Path(work) / "phantom-clf", cfg)
        phantom = phantom_localisation(ClassifierEnsemble.load(folder), n=24 if quick else 100)
    return {"randomisation_check": check, "localisation_nih_boxes": nih_box_localisation(ens, DEMO_DATASET),
            "localisation_phantom": phantom | {"phantom_classifier_val_auroc": {
                k: v["auroc"] for k, v in report["val"].items()}}}


def explanation_examples(ens, figures: Path) -> list[dict]:
    """Integrated-gradients overlays of the bundled uploads (and one shared NIH upload when present)."""
    from PIL import Image

    from models.data.preprocess import load_image_file
    from models.explain.attribution import explain
    from models.explain.overlay import overlay_rgb

    examples = []
    for path in [UPLOADS / "00000001_000.png", EXTRA_UPLOAD, UPLOADS / "siim_chest_cr.dcm"]:
        if not path.exists():
            continue
        img = load_image_file(path)
        expl = explain(ens, img.pixels, ["Cardiomegaly"] if "00000001" in path.name else None, n_steps=50)
        name = expl.findings[0]
        p = expl.probabilities[name]
        rgb = overlay_rgb(img.pixels, expl.attributions[name], max_side=512,
                          title=f"{path.name}: {name} p={p['probability']:.2f}+/-{p['std']:.2f}")
        target = figures / f"explain_{path.stem}.png"
        Image.fromarray(rgb).save(target)
        examples.append({"file": path.name, "finding": name, "probability": p["probability"], "std": p["std"],
                         "figure": f"figures/{target.name}"})
    return examples


def denoising_gif(generator: str, target: Path) -> None:
    """The default generator's trajectory for consolidation (4 seeds): the base stage's steps, then the
    delivered (super-resolved) images, as the service writes it."""
    from models.vocabulary.sampling import GIF_FRAMES, Sampling
    from models.workflows.generate import GenerationRequest, generate_to_folder

    with tempfile.TemporaryDirectory() as work:
        request = GenerationRequest(model=generator, finding="consolidation", n=4, seed=7,
                                    sampling=Sampling(frames=GIF_FRAMES))
        result = generate_to_folder(request, work)
        target.write_bytes(Path(result["gif"]).read_bytes())


if __name__ == "__main__":
    main()
