"""Finding-conditional DDPM: network, pipeline, samplers and training."""
