"""The library's torch-free vocabulary, shared with the API: finding names, samplers and their defaults, output
and data formats, counterfactual defaults, model kinds and the sampling object. Nothing here imports torch
(tests/test_layout.py imports every module with torch blocked), so the slim API image can use all of it."""
