"""Rules for vpc: see DETECTIONS.md."""
