"""RadSynth ML library: data sources, conditional DDPMs, classifiers, explanations, metrics and I/O.

Usable on its own, with no service running. Heavy dependencies (torch, diffusers, captum) are imported
by the submodules that need them, so `models.vocabulary.findings` and `models.io` stay light for the API.
"""

__version__ = "0.1.0"
