"""Offline training and evaluation of the risk engine: the corpus, the heads, the encoder build and fine-tuning,
leave-one-source-out and challenge-set evaluation. Nothing here runs at inference; ``mindrail.risk`` never
imports it."""
