"""Face-attribute amalgamation: CelebA or the embedded procedural faces."""
