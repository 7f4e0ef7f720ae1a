"""`dedup serve`: a local web app over a finished run, for reviewing clusters and labelling pairs.

`index.py` builds and queries OUTDIR/serve.sqlite (no web framework there), with the text
search of `search.py` (what is indexed to find a text, and how a query is folded); `app.py` is the
Flask application (pages, the JSON API, the checks that keep it local); `templates/` holds its
pages, script and style. Flask is imported only by `app.py` (`pip install 'dedup[serve]'`).
"""

from __future__ import annotations

from .index import INDEX, Index, Query, ServeError, ensure_index

__all__ = ["INDEX", "Index", "Query", "ServeError", "ensure_index"]
