"""Rules for lambda: see DETECTIONS.md."""
