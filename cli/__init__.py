"""``wa-sessions``: the operator's command-line tool; it talks to the API over HTTP only."""
