"""Pairing artworks with music, aligner training with the audio prior frozen, and evaluation.
The installation never imports this package."""
