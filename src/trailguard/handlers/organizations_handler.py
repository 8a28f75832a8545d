"""Rules for organizations: see DETECTIONS.md."""
