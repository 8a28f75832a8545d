"""``trailguard dashboard``: a small local web app over the findings history (a state file or the table).

``server`` serves the page and a JSON API with the standard library alone; ``assets/`` holds the
page, its script and its style (no third-party code, nothing fetched from elsewhere). Nothing here
is imported unless the command runs.
"""
