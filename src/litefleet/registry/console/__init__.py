"""The operator's console: server-rendered pages (Jinja2), a small hand-written CSS and JS,
an SVG adoption plot; behind the operator login (`registry/operators.py`)."""
