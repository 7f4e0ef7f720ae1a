"""The Flask application of `dedup serve`: the cluster list, cluster pages with labelling, and
the JSON API, over the index of `index.py` and the verdicts of `labels.py`.

It is meant for one reviewer on their own machine. Every request whose Host is not the
server's own address is refused (a DNS-rebinding page cannot reach it), so is every request
whose Origin is another site's (no cross-site POST), and a cross-site fetch as the browser
marks it (Sec-Fetch-Site). No URL maps to a file: the only files served are the app's own
script and style, by fixed name. Everything taken from a document is escaped (Jinja's
autoescaping here; the report's renderer for the diff).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

try:
    from flask import Flask, Response, abort, jsonify, redirect, render_template, request, url_for
except ImportError as e:  # pragma: no cover - the message is the point
    from ..errors import DedupError

    raise DedupError("dedup serve needs Flask: pip install 'dedup[serve]'") from e

from ..labels import LABELS, Label, LabelLog, parse_label
from ..report import ReportConfig, run_normalize_config, run_thresholds
from ..report.diff import cluster_report, diff_texts, doc_text, shown_members
from ..report.render import Templates, cluster_body
from ..types import Cluster, Member
from .index import NOISE_KINDS, SORTS, Index, Page, Query

PER_PAGE = 50
MAX_PER_PAGE = 500
MAX_QUERY_CHARS = 500
MAX_BODY = 16 * 2**20  # bytes of a request body (a whole cluster's verdicts at once)
# Numbers in a URL are clamped to this (SQLite's integers are 64-bit; no page or size is larger).
MAX_NUMBER = 2**31 - 1
_CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_SORT_LABELS = {
    "rank": "largest, least similar first",
    "size": "size, largest first",
    "-size": "size, smallest first",
    "similarity": "least similar member first",
    "-similarity": "most similar member first",
    "mean": "lowest mean similarity first",
    "cluster": "cluster number",
}


@dataclass(frozen=True)
class Settings:
    """Where the app reads and writes, and the addresses it answers to."""

    outdir: Path
    hosts: frozenset[str]  # Host header values of this server, e.g. "127.0.0.1:8765"
    report: ReportConfig = ReportConfig()


def own_hosts(host: str, port: int) -> frozenset[str]:
    """The Host values a browser sends to this server: the address it binds, and for a
    loopback one the names of loopback."""
    names = {host}
    if host in ("127.0.0.1", "localhost", "::1"):
        names |= {"127.0.0.1", "localhost", "[::1]"}
    if ":" in host and not host.startswith("["):
        names.add(f"[{host}]")
    return frozenset(f"{n}:{port}" for n in names)


def create_app(settings: Settings) -> Flask:
    """The application over a finished run whose index is built (`ensure_index`)."""
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    index = Index(settings.outdir)
    index.warm()
    labels = LabelLog(settings.outdir / LABELS)
    report_templates = Templates.load()
    static = _static_files(report_templates)
    norm_cfg = run_normalize_config(settings.outdir)
    thresholds = run_thresholds(settings.outdir)
    counts = index.counts()  # the index does not change while it is served

    @app.before_request
    def only_this_origin() -> Any:
        host = request.headers.get("Host", "")
        if host not in settings.hosts:
            return _refuse("this server answers only to its own address (Host)")
        origin = request.headers.get("Origin")
        if origin is not None and origin.removeprefix("http://") not in settings.hosts:
            return _refuse("requests from other sites are refused (Origin)")
        # A link followed from another site opens a page (it cannot read it, nor change
        # anything); any other cross-site request is refused.
        navigation = request.method == "GET" and request.headers.get("Sec-Fetch-Mode") == "navigate"
        if request.headers.get("Sec-Fetch-Site") == "cross-site" and not navigation:
            return _refuse("requests from other sites are refused (Sec-Fetch-Site)")
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def cluster_list() -> Any:
        query = _query(request.args)
        page = index.clusters(query)
        return render_template(
            "list.html",
            page=page,
            query=query,
            pages=max(1, -(-page.total // query.per_page)),
            noise_kinds=NOISE_KINDS,
            sorts=_SORT_LABELS,
            link=lambda **changes: _link(query, **changes),
            counts=counts,
            labelled=len(labels),
        )

    @app.get("/go")
    def go() -> Any:
        """A document id or a cluster number, to its cluster page."""
        wanted = request.args.get("id", "").strip()[:MAX_QUERY_CHARS]
        number = index.lookup(wanted) if wanted else None
        if number is None and wanted.isdigit() and len(wanted) < 19:
            number = int(wanted) if index.cluster(int(wanted)) is not None else None
        if number is None:
            return render_template("missing.html", wanted=wanted), 404
        return redirect(url_for("cluster_page", number=number))

    @app.get("/cluster/<int:number>")
    def cluster_page(number: int) -> Any:
        info = index.cluster(number) if number < 2**63 else None
        if info is None:
            abort(404)
        cfg = settings.report
        members = index.members(number)
        cluster = Cluster(
            number,
            info.representative,
            tuple(Member(m.id, m.jaccard, m.containment) for m in members),
        )
        shown = [info.representative, *(m.id for m in shown_members(cluster, cfg.max_members))]
        texts = {m.id: m.text for m in index.members(number, shown) if m.text is not None}
        page = cluster_report(
            cluster,
            {i: doc_text(i, t, cfg.max_chars, norm_cfg) for i, t in texts.items()},
            {m.id: m.length for m in members if m.length is not None},
            max_members=cfg.max_members,
            max_listed=cfg.max_listed,
            max_paragraphs=cfg.max_paragraphs,
            norm_cfg=norm_cfg,
            thresholds=thresholds,
        )
        diff_of = {r.member.id: r.shown for r in page.rows if r.shown is not None}
        rows = [
            {
                "id": m.id,
                "jaccard": m.jaccard,
                "containment": m.containment,
                "diff": diff_of.get(m.id),
                "verdict": labels.verdict(info.representative, m.id),
            }
            for m in members[: cfg.max_listed]
            if m.id != info.representative
        ]
        prev, nxt = index.neighbours(number)
        return render_template(
            "cluster.html",
            info=info,
            rows=rows,
            listed_all=len(members) <= cfg.max_listed,
            body=cluster_body(page, report_templates, cfg),
            prev=prev,
            next=nxt,
        )

    @app.get("/api/clusters")
    def api_clusters() -> Any:
        return _page_json(index.clusters(_query(request.args)))

    @app.get("/api/lookup")
    def api_lookup() -> Any:
        doc_id = request.args.get("id", "")
        return jsonify({"id": doc_id, "cluster": index.lookup(doc_id)})

    @app.get("/api/labels")
    def api_labels() -> Any:
        return jsonify([v.to_dict() for v in labels.verdicts().values()])

    @app.post("/api/labels")
    def api_label() -> Any:
        body = request.get_json(silent=True)
        if not request.is_json or body is None:
            return _error(400, 'send JSON {"a": ID, "b": ID, "dup": true|false}')
        whole = isinstance(body, dict) and "cluster" in body
        try:
            if whole:
                made = whole_cluster(body.get("cluster"), body.get("dup"))
            else:
                made = [parse_label(item) for item in (body if isinstance(body, list) else [body])]
        except ValueError as e:
            return _error(400, str(e))
        labels.record(*made)
        out = [m.to_dict() for m in made]
        return jsonify(out if isinstance(body, list) or whole else out[0]), 201

    @app.post("/labels")
    def form_label() -> Any:
        """The labelling buttons without JavaScript: a form post, then back to the cluster."""
        form = request.form
        dup = {"true": True, "false": False}.get(form.get("dup", ""))
        try:
            if "cluster" in form:
                made = whole_cluster(_int(form.get("cluster"), -1), dup)
            else:
                made = [
                    parse_label({"a": form.get("a"), "b": b, "dup": dup}) for b in form.getlist("b")
                ]
        except ValueError as e:
            return _error(400, str(e))
        labels.record(*made)
        number = index.lookup(made[0].a) if made else None
        if number is None:
            return redirect(url_for("cluster_list"), 303)
        return redirect(url_for("cluster_page", number=number), 303)

    def whole_cluster(number: Any, dup: Any) -> list[Label]:
        """A verdict on every member of a cluster against its representative, all of them
        (a page lists the first `max_listed` only)."""
        if not isinstance(dup, bool):
            raise ValueError('"dup" must be true or false')
        info = None
        if isinstance(number, int) and not isinstance(number, bool) and 0 <= number < 2**63:
            info = index.cluster(number)
        if info is None:
            raise ValueError('"cluster" must be the number of a cluster of this run')
        rep = info.representative
        return [Label(rep, m.id, dup) for m in index.members(info.cluster) if m.id != rep]

    @app.get("/static/<name>")
    def static_file(name: str) -> Any:
        if name not in static:
            abort(404)
        data, mimetype = static[name]
        return Response(data, mimetype=mimetype)

    @app.get("/favicon.ico")
    def favicon() -> Any:
        return Response(status=204)

    @app.errorhandler(404)
    def not_found(_: Any) -> Any:
        if request.path.startswith("/api/"):
            return _error(404, "not found")
        return render_template("missing.html", wanted=None), 404

    return app


def _static_files(t: Templates) -> dict[str, tuple[str, str]]:
    own = resources.files(__package__).joinpath("templates")
    return {
        "report.css": (t.style, "text/css"),
        "report.js": (t.script, "text/javascript"),
        "serve.css": (own.joinpath("serve.css").read_text("utf-8"), "text/css"),
        "serve.js": (own.joinpath("serve.js").read_text("utf-8"), "text/javascript"),
    }


def _refuse(why: str) -> Response:
    return Response(why + "\n", status=403, mimetype="text/plain")


def _error(status: int, message: str) -> Any:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _page_json(page: Page) -> Any:
    q = page.query
    return jsonify(
        {
            "total": page.total,
            "total_is_lower_bound": page.more,
            "page": q.page,
            "per_page": q.per_page,
            "clusters": [c.to_dict() for c in page.clusters],
        }
    )


def _int(value: str | None, low: int, high: int = MAX_NUMBER) -> int | None:
    try:
        n = int(value) if value not in (None, "") else None
    except ValueError:
        return None
    if n is None:
        return None
    return max(low, min(n, high))


def _float(value: str | None) -> float | None:
    try:
        x = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return None if x is None or x != x else x


def _query(args: Any) -> Query:
    sort = args.get("sort", "rank")
    noise = args.get("noise") or None
    return Query(
        q=args.get("q", "")[:MAX_QUERY_CHARS],
        size_min=_int(args.get("size_min"), 0),
        size_max=_int(args.get("size_max"), 0),
        sim_min=_float(args.get("sim_min")),
        sim_max=_float(args.get("sim_max")),
        noise=noise if noise in NOISE_KINDS else None,
        sort=sort if sort in SORTS else "rank",
        page=_int(args.get("page"), 1) or 1,
        per_page=_int(args.get("per_page"), 1, MAX_PER_PAGE) or PER_PAGE,
    )


def _link(query: Query, **changes: Any) -> str:
    """The list's URL for `query` with `changes` (defaults left out)."""
    values = {**query.__dict__, **changes}
    defaults = Query().__dict__ | {"per_page": PER_PAGE}
    params = {k: v for k, v in values.items() if v not in (None, "") and v != defaults.get(k)}
    return url_for("cluster_list", **params)


def make_server(outdir: Path, host: str = "127.0.0.1", port: int = 0) -> Any:
    """A threaded WSGI server (werkzeug's) of the app over OUTDIR, bound but not yet serving
    (`serve_forever`, `shutdown`); port 0 picks a free one (`server.server_port`)."""
    from werkzeug.serving import make_server as wsgi_server

    server = wsgi_server(host, port, Flask(__name__), threaded=True)
    settings = Settings(Path(outdir), own_hosts(host, server.server_port))
    # Load jieba's dictionary and the normalizer's compiled code now, not on the first page.
    norm_cfg = run_normalize_config(settings.outdir)
    diff_texts("预热。\n\n第一段", "預熱！\n\n第二段", norm_cfg=norm_cfg)
    server.app = create_app(settings)
    return server
