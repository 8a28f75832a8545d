"""Rules for signin: see DETECTIONS.md."""
