"""Supervised fraud classifiers, exported and scored like the anomaly scorers."""
