"""Rules for iam: see DETECTIONS.md."""
