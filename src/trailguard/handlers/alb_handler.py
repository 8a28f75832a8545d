"""Rules for alb: see DETECTIONS.md."""
