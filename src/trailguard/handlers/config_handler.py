"""Rules for config: see DETECTIONS.md."""
