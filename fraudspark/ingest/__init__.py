"""Lossless ingest of raw payment feeds and late fraud labels (no table writes here).

``sources`` reads feeds and maps them to the contract, ``rules`` validates, ``transactions``
and ``labels`` classify rows and count them; :mod:`fraudspark.pipelines.ingest` writes.
"""
