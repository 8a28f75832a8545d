"""Rules for rds: see DETECTIONS.md."""
