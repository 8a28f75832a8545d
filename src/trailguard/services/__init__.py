"""Services at the edges: notification and delivery."""
