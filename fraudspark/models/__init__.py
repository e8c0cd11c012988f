"""Models: anomaly scorers and classifiers."""
