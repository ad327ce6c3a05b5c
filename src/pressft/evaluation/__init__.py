"""Scoring predictions, the simple baselines, the size study and reproduction checks."""
