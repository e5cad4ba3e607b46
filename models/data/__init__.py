"""Streaming data sources: each item is an image in [-1, 1], multi-hot labels and metadata."""
