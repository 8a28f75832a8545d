"""Rules for kms: see DETECTIONS.md."""
