"""Pipelines: the only modules that combine packages and write tables.

Each pipeline reads from the lakehouse, calls the domain packages (ingest, features, models,
oversampling, evaluation, monitoring) and writes its tables idempotently through
:mod:`fraudspark.lakehouse.io`. The CLI (and the notebooks) call one pipeline per command.
"""
