"""Figures and the generated results report."""
