"""RadSynth HTTP API (FastAPI). Nothing on its import path loads torch."""
