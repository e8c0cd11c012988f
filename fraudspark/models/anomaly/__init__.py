"""Unsupervised anomaly scorers (autoencoder, VAE, RaPP) behind PyOD's contract.

``fit(X)`` returns self and ``decision_function(X)`` gives one score per row, higher = more
anomalous; fitted state ends in ``_``. :mod:`.kinds` maps command-line kinds to classes.
"""
