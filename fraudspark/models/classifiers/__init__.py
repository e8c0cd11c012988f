"""Supervised fraud classifiers."""
