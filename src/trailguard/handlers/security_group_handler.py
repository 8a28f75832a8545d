"""Rules for security_group: see DETECTIONS.md."""
