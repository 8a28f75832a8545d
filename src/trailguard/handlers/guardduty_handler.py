"""Rules for guardduty: see DETECTIONS.md."""
