"""The evaluation protocol and the leaderboards."""
