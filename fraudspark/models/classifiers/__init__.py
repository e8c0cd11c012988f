"""Supervised fraud classifiers, exported and scored like the anomaly scorers."""

from __future__ import annotations

# The kinds ``train-classifier --kind`` takes: the MLP (classifiers.mlp) and XGBoost (.gbt).
CLASSIFIER_KINDS: tuple[str, ...] = ("mlp", "gbt")
