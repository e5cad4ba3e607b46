"""Integrated-gradients explanations of the classifier ensemble, overlays and sanity checks."""
