"""docs/explain/counterfactual.md from the V and T runs of scripts/counterfactual_check.py."""

from __future__ import annotations

import json
from pathlib import Path


def fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:+.{digits}f}" if x < 0 else f"{x:.{digits}f}"


def settings_table(rows: list[dict]) -> list[str]:
    out = ["| strength | CFG | images | mean drop [95% CI] | share dropping | other findings moved | control drop | "
           "reconstruction vs upload |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["mean_drop_ci95"]
        out.append(f"| {r['strength']} | {r['cfg']} | {r['images']} | {fmt(r['mean_drop'])} [{fmt(lo)}, {fmt(hi)}] | "
                   f"{r['share_dropping']:.0%} | {r['other_findings_mean_abs_change']:.3f} | "
                   f"{fmt(r['control_mean_drop'])} | {r['reconstruction_mean_abs_change']:.3f} |")
    return out


def pointing(report: dict) -> list[str]:
    game = report["pointing_game"]
    out = [f"Pointing game on the NIH boxes ({game['boxes']} boxes; a box covers {game['chance_share'] or 0:.1%} of "
           "the image on average, the chance level of the share inside):", "",
           "| map | pointing hit rate | share of the map inside the box |", "|---|---|---|"]
    for name, label in (("counterfactual", "counterfactual difference"), ("integrated_gradients",
                                                                          "integrated gradients (judge)")):
        m = game["per_method"][name]
        out.append(f"| {label} | {fmt(m['pointing_hit_rate'], 2)} | {fmt(m['share_inside_mean'])} |")
    return out


FOLDER = Path(__file__).resolve().parents[3] / "docs" / "explain" / "counterfactual"


def card_text(root: Path = FOLDER) -> str:
    """docs/explain/counterfactual.md's text from the V and T checks in `root`."""
    v = json.loads((root / "V" / "check.json").read_text())
    t = json.loads((root / "T" / "check.json").read_text())
    test = t["settings"][0]
    lines = [
        "# Counterfactual explanations: do they remove the finding, and only it?",
        "",
        "`POST /explain?method=counterfactual` regenerates the upload with the generator twice from one noised copy "
        "(SDEdit, DDIM): once asking for the finding, once for \"No Finding\"; the difference of the two is the map "
        "(models/explain/counterfactual.py). Here the images are real NIH radiographs of the realism splits at the "
        "generator's 64 px; the reader is the judge (bundles/judge-nih-J64, trained on split J only), which never "
        "saw these patients nor the generator's. The service's own ensemble is not used as the reader because it "
        "trained on some of these patients.",
        "",
        f"Findings: those the generator learned from at least 30 images ({', '.join(v['eligible_findings'])}); each "
        "finding image is asked to lose its first such finding. Control: \"No Finding\" images asked to lose a "
        "finding they do not have (the drop should be near 0).",
        "",
        "## Choice on V",
        "",
        f"Rule: {v['rule']}.",
        "",
        *settings_table(v["settings"]),
        "",
        f"Chosen: strength {v['chosen']['strength']}, CFG {v['chosen']['cfg']} (the service default).",
        "",
        "## On T, at the chosen setting",
        "",
        *settings_table(t["settings"]),
        "",
        *pointing(t),
        "",
        "![counterfactuals on T](T/counterfactuals.png)",
        "",
        "Each row: the upload as the generator sees it, regenerated with the finding, regenerated as No Finding, "
        "and their difference (red: brighter with the finding), with the judge's probability of the finding.",
        "",
        "## Reading",
        "",
        f"On T the judge's probability of the finding drops by {fmt(test['mean_drop'])} on average "
        f"(95% CI {fmt(test['mean_drop_ci95'][0])} to {fmt(test['mean_drop_ci95'][1])}, patients resampled) while "
        f"the other findings move by {test['other_findings_mean_abs_change']:.3f}, and the control drops by "
        f"{fmt(test['control_mean_drop'])}. " + (
            "The change is small: the generator's own conditioning is weak (see its label agreement without guidance "
            "in the [realism card](../realism-card.md)), and so is the judge. " if test["mean_drop"] < 0.05 else "")
        + ("The drop is smaller than how much the other findings move, so the change is not specific to the "
           "finding. " if test["mean_drop"] < test["other_findings_mean_abs_change"] else "")
        + (f"On the {t['pointing_game']['boxes']} boxes the difference map points inside none"
           + (", with less of it inside than chance" if t["pointing_game"]["per_method"]["counterfactual"][
               "share_inside_mean"] < (t["pointing_game"]["chance_share"] or 0) else "") + ". "
           if t["pointing_game"]["per_method"]["counterfactual"]["pointing_hit_rate"] == 0 else "")
        + "A counterfactual is only as specific as the generator's idea of the finding; read its map beside "
        "integrated gradients, not instead of them.",
        "",
        "Reproduce:",
        "",
        "```bash",
        "python -m scripts.counterfactual_check models/pretrained/nih-cxr14 bundles/judge-nih-J64 \\",
        "    ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256 --split V --limit 24 --controls 8 \\",
        "    --strength 0.5,0.8 --cfg 2,5 --out docs/explain/counterfactual/V",
        "python -m scripts.counterfactual_check models/pretrained/nih-cxr14 bundles/judge-nih-J64 \\",
        f"    ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256 --split T --strength {v['chosen']['strength']} "
        f"--cfg {v['chosen']['cfg']} \\",
        "    --out docs/explain/counterfactual/T",
        "python -m scripts.render_counterfactual_card docs/explain/counterfactual",
        "```",
        "",
    ]
    return "\n".join(lines)


def write(root: Path = FOLDER) -> Path:
    """Write the card beside its folder."""
    out = root.parent / "counterfactual.md"
    out.write_text(card_text(root))
    return out
