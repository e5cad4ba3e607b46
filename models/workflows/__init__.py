"""What a job does, end to end, on top of the library: generate and check images, classify uploads, synthesize a
data set, run an augmentation study. The worker and the CLI call these; nothing below them imports them."""
