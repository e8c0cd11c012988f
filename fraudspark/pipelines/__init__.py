"""Pipelines: the only modules that combine packages and write tables."""
