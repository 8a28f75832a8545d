"""Rules for ec2: see DETECTIONS.md."""
