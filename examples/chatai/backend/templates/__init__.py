"""Email templates shipped as package data and rendered with string.Template (no template engine needed)."""

import html
from importlib.resources import files
from string import Template


def render(name: str, **context: object) -> str:
    """Render the template file `name` from this package, HTML-escaping every value."""
    source = files(__name__).joinpath(name).read_text(encoding="utf-8")
    return Template(source).substitute({key: html.escape(str(value)) for key, value in context.items()})
