#!/bin/bash
# Serve a later snapshot of the base run if V chooses it, the way the served base was chosen:
#   bash scripts/serve_base_snapshot.sh STEP      (after `radsynth train-generator ... --out runs/base64-noaug`)
# 1. assembles runs/base64-noaug/snapshots/step_STEP with the served second stage and puts it in
#    models/pretrained/nih-cxr14 (the served generator is kept in runs/gen-served-prev);
# 2. measures it on V at the served CFG with guidance at t/T 0-0.7, 0-0.8, 0.1-0.7 and 0.1-0.8 (the interval choice on these
#    weights; a lower end of 0.1 leaves the last, least noisy step unguided, where guidance draws grain),
#    and joins those rows to docs/realism/V/base_steps (scripts/add_base_rows.py); if another base wins, the served
#    generator is put back and the script stops;
# 3. chooses the second stage again on its images (docs/realism/V/superres_baseSTEP), redraws the sample sheet,
# 4. reads T into runs/t-card. Commit the V choice before looking at T; put T in place in a later commit with
#    scripts/merge_t_card.py (it keeps the card's record of earlier changes).
# About 55 minutes on two cores. Check the `--choice` text below against what V chose before committing.
set -euo pipefail
cd "$(dirname "$0")/.."; source .venv/bin/activate; export HF_HUB_OFFLINE=1
STEP=$1; S=$(printf "%07d" "$STEP"); NICE=$(python -c "print(f'{int($STEP):,}')")
D="../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256"
G=models/pretrained/nih-cxr14
CFG=$(python -c "import json;print(f\"{json.load(open('$G/radsynth.json'))['default_guidance']:g}\")")
INTERVALS=0:0.7,0:0.8,0.1:0.7,0.1:0.8
B=runs/base-$STEP; SNAP=runs/base64-noaug/snapshots/step_$S
rm -rf "$B"; mkdir -p "$B"; cp -r bundles/nih-base64-G/scheduler "$B/"; cp -r "$SNAP" "$B/unet"; rm -f "$B/unet/time.json"
python - "$B" "$SNAP" <<'PY'
import json, sys
b, snap = sys.argv[1], sys.argv[2]
d = json.load(open("bundles/nih-base64-G/radsynth.json")); t = json.load(open(f"{snap}/time.json"))
d["steps"], d["wall_time_s"] = t["step"], t["wall_s"]
open(f"{b}/radsynth.json", "w").write(json.dumps(d, indent=2))
PY
CHOICE="docs/realism/V: the base (no augmentation, step $NICE) by the rule over the training-step comparison at CFG $CFG (base_steps/choice.json), CFG $CFG by the rule over the base comparison (base_choice/choice.json, step 4,500: label agreement within +/- 0.05 of the judge's on real V images, washed out within 5 points of real, then the lowest geometric mean of FID over the judge's and both random CNNs' features); guidance at INTERVAL (guidance_interval_base$STEP/choice.json, same rule over t/T ${INTERVALS//:/-}); the one-pass detail network with the base's coarse content kept at 64 px as the second stage (superres_base$STEP/choice.json: no noise-dominated image, default job within the 8-s budget, lowest judge FID; chosen on this base)"
python -m scripts.assemble_generator "$B" bundles/detail-nih256-G/net $D --cfg $CFG --cfg-interval 0:0.8 --sr-keep-low 4 \
  --superres-choice "docs/realism/V/superres_base$STEP" --choice "$CHOICE" --out "runs/gen-$STEP"
rm -rf runs/gen-served-prev; cp -r $G runs/gen-served-prev
rm -rf $G; cp -r "runs/gen-$STEP" $G; cp runs/gen-served-prev/samples.png $G/samples.png
echo "assembled $(date)"
python -m scripts.realism_card $G bundles/judge-nih-J64 $D --split V --cfg $CFG --cfg-intervals $INTERVALS \
  --n 12 --choice-only --out "docs/realism/V/guidance_interval_base$STEP"
echo "interval done $(date)"
cp docs/realism/V/base_steps/choice.json runs/base_steps_before.json
python -m scripts.add_base_rows docs/realism/V/base_steps/choice.json "docs/realism/V/guidance_interval_base$STEP/choice.json" \
  --base "no augmentation, step $NICE" --unet "$SNAP"
BASE=$(python -c "import json;print(json.load(open('docs/realism/V/base_steps/choice.json'))['chosen']['base'])")
echo "chosen base: $BASE"
case "$BASE" in *"step $NICE") ;; *) echo "new base not chosen: restore the served generator"; rm -rf $G; cp -r runs/gen-served-prev $G; exit 0;; esac
python - "$STEP" <<'PY'
import json
from models.evaluation.realism_measures import choose_setting
c = json.load(open("docs/realism/V/base_steps/choice.json"))["chosen"]
p = "models/pretrained/nih-cxr14/radsynth.json"; d = json.load(open(p))
d["default_guidance_interval"] = c.get("cfg_interval"); d["default_guidance"] = c["cfg"]
d["defaults_chosen_on"] = d["defaults_chosen_on"].replace("INTERVAL", "t/T {:g}-{:g}".format(*c["cfg_interval"]))
open(p, "w").write(json.dumps(d, indent=2)); print("interval", c.get("cfg_interval"), "cfg", c["cfg"])
PY
python -m scripts.superres_sweep $D --generator $G --aug-steps '' --keep-low --detail bundles/detail-nih256-G/net \
  --out "docs/realism/V/superres_base$STEP"
python -m scripts.superres_choice "docs/realism/V/superres_base$STEP/sweep.json" --budget-s 8
echo "second stage done $(date)"
python -m scripts.bundled_samples
echo "samples done $(date)"
python -m scripts.realism_card $G bundles/judge-nih-J64 $D --split T --n 12 --per-finding-256 12 --out runs/t-card
echo "T done $(date); after committing V: python -m scripts.merge_t_card runs/t-card docs/realism/T --step $STEP --what ... --look ..."
