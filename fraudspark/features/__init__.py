"""Customer and terminal features, and the feature store that serves them point-in-time."""
