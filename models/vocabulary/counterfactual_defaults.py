"""Counterfactual defaults, torch-free so that the API's contracts can name them (chosen on V:
docs/explain/counterfactual.md)."""

STRENGTH = 0.8  # the share of the noise schedule the upload is noised to before it is regenerated
DDIM_STEPS = 30  # DDIM steps over the whole schedule; a counterfactual runs STRENGTH x this many
GUIDANCE = 5.0  # classifier-free guidance of both regenerations
