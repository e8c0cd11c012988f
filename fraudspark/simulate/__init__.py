"""Payment simulators: the project's generator and its presets."""
