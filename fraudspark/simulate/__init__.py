"""The payment simulator: raw transaction files with known fraud scenarios."""
