"""``python -m cli``: the same as the ``wa-sessions`` console script."""

from cli.main import app

app(prog_name="wa-sessions")
