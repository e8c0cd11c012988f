"""The lakehouse: table definitions, reads and writes, and the nightly run lock."""
