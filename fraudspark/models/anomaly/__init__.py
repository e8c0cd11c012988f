"""Anomaly scorers: fitted on genuine rows, higher score = more anomalous."""
