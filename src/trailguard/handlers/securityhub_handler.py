"""Rules for securityhub: see DETECTIONS.md."""
