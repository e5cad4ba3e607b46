"""Metrics: AUROC with bootstrap intervals, FID/KID on pluggable features, MS-SSIM diversity."""
