"""The models: anomaly scorers and classifiers, their one artifact type and their one loader.

- :mod:`.artifact`: :class:`~.artifact.ModelArtifact` (bytes + JSON metadata) and the scoring
  surface every loaded model shares; :mod:`.loader`: the one loader.
- :mod:`.inputs`, :mod:`.training`, :mod:`.attribution`: feature matrices, the one training loop
  and alert rule, per-feature attributions.
- :mod:`.anomaly`: autoencoder, VAE, RaPP (PyOD's contract); :mod:`.classifiers`: the MLP.
- :mod:`.batch_scoring`: the Arrow kernel that scores feature rows in Spark.

Nothing here reads or writes tables.
"""
