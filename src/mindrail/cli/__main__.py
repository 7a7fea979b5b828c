"""``python -m mindrail.cli``: the same as the ``mindrail`` command."""

from mindrail.cli import app

app()
