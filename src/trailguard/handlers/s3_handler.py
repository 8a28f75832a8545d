"""Rules for s3: see DETECTIONS.md."""
