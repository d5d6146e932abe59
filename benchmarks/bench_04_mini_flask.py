"""Step 4: what a framework costs per request: bare WSGI, a werkzeug app, the mini-Flask, Flask.

The mini-Flask is lesson 04's framework (its cells tagged "miniflask", which are also lab 04's
reference answers), loaded in this process as a module.
Dispatch cost: `app(environ, start_response)` called directly with an environ built once (no
network), timed as in the lesson (section 8): this thread's CPU time with the garbage collector
paused, in many short rounds that visit every app in a rotating order, the first round dropped;
ratios are the median of the per-round ratios (both apps timed in the same round), with their
quartiles. Then the same apps behind werkzeug's server, over loopback.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import flask
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from common import highlight, progress  # noqa: E402
from werkzeug.exceptions import HTTPException  # noqa: E402
from werkzeug.routing import Map, Rule  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

from socket2flask import plots, probe  # noqa: E402
from socket2flask.labtools.step4 import lesson_module  # noqa: E402
from socket2flask.servers import serve  # noqa: E402

TITLE = "mini-Flask vs Flask: dispatch cost per request, and over loopback"
ROUTES = {
    "/": "a str",
    "/user/42": "an <int:> converter",
    "/api/items": "a dict as JSON",
    "/missing": "a 404",
}


def index() -> str:
    return "hello"


def user(user_id: int) -> str:
    return f"user {user_id}"


def items() -> dict:
    return {"items": [1, 2, 3], "count": 3}


VIEWS = {"index": index, "user": user, "items": items}
RULES = [("/", "index"), ("/user/<int:user_id>", "user"), ("/api/items", "items")]


def bare_wsgi(environ: dict, start_response) -> list[bytes]:
    start_response(
        "200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "5")]
    )
    return [b"hello"]


URL_MAP = Map([Rule(rule, endpoint=endpoint) for rule, endpoint in RULES])


def werkzeug_app(environ: dict, start_response):
    """Step 3's way: a Request, the map bound to it, the view, a Response (or the HTTP error)."""
    request = Request(environ)
    try:
        endpoint, args = URL_MAP.bind_to_environ(request.environ).match()
    except HTTPException as error:  # an HTTPException is a WSGI app itself
        return error(environ, start_response)
    rv = VIEWS[endpoint](**args)
    if isinstance(rv, str):
        return Response(rv, mimetype="text/html")(environ, start_response)
    text = json.dumps(rv, sort_keys=True, separators=(",", ":")) + "\n"
    return Response(text, mimetype="application/json")(environ, start_response)


def same_routes(flask_class):
    app = flask_class("bench")
    for rule, endpoint in RULES:
        app.add_url_rule(rule, endpoint, VIEWS[endpoint])
    return app


def start_response(status: str, headers: list, exc_info=None) -> None:
    pass


# This thread's CPU time: it stops while the machine runs something else. Windows counts it in
# 15.6 ms ticks, too coarse for short rounds: there, wall-clock time.
CLOCK = time.perf_counter if sys.platform == "win32" else time.thread_time


def per_request(app, environ: dict, n: int) -> float:
    """Seconds per request over n calls, the garbage collector paused (as in timeit)."""
    gc.disable()
    try:
        began = CLOCK()
        for _ in range(n):
            b"".join(app(dict(environ), start_response))
        return (CLOCK() - began) / n
    finally:
        gc.enable()


def dispatch(apps: dict, rounds: int, n: int) -> dict[str, dict[str, list[float]]]:
    """{path: {app: seconds per request in each round}}. Each round times every app on every
    route, n calls each, in a rotating order; one warm-up round first is dropped."""
    environs = {path: EnvironBuilder(path=path).get_environ() for path in ROUTES}
    names = list(apps)
    samples: dict[str, dict[str, list[float]]] = {
        path: {name: [] for name in apps} for path in ROUTES
    }
    gc.collect()
    for round_ in range(rounds + 1):
        turn = round_ % len(names)
        for path, environ in environs.items():
            for name in names[turn:] + names[:turn]:
                seconds = per_request(apps[name], environ, n)
                if round_ > 0:
                    samples[path][name].append(seconds)
    return samples


def paired(times: dict[str, list[float]], a: str, b: str) -> tuple[float, float, float]:
    """a's time over b's, round by round: (first quartile, median, third quartile)."""
    return tuple(statistics.quantiles([x / y for x, y in zip(times[a], times[b])], n=4))


def over_loopback(apps: dict, rounds: int, per_round: int) -> dict[str, probe.Latency]:
    """GET /user/42 on each app behind werkzeug's server, raw client; the rounds visit the servers
    in turn and each app's rounds are merged into one Latency."""
    servers = {name: serve(app, name=f"bench-04-{name}") for name, app in apps.items()}
    try:
        parts: dict[str, list[probe.Latency]] = {name: [] for name in servers}
        for _ in range(rounds):
            for name, server in servers.items():
                parts[name].append(
                    probe.measure(server.url + "/user/42", per_round, client="raw", warmup=5)
                )
    finally:
        for server in servers.values():
            server.stop()
    return {
        name: probe.Latency(
            samples=[x for r in results for x in r.samples],
            errors=sum(r.errors for r in results),
            status_counts=sum((r.status_counts for r in results), Counter()),
            elapsed=sum(r.elapsed for r in results),
        )
        for name, results in parts.items()
    }


def plot_dispatch(costs: dict[str, dict[str, float]], out: Path) -> None:
    names = list(next(iter(costs.values())))
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100, layout="constrained")
    height = 0.8 / len(costs)
    for i, (path, by_app) in enumerate(costs.items()):
        ax.barh(
            [k + (i - (len(costs) - 1) / 2) * height for k in range(len(names))],
            [by_app[name] * 1e6 for name in names],
            height=height,
            label=f"GET {path}",
        )
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("median time per request without a network (µs)")
    ax.set_title("dispatch cost by framework and route")
    ax.legend(fontsize="small")
    fig.savefig(out / "mini_flask_dispatch.png", dpi=100)
    plt.close(fig)


def run(report: list[str], quick: bool, out: Path) -> None:
    apps = {
        "bare WSGI": bare_wsgi,
        "werkzeug app": werkzeug_app,
        "mini-Flask": same_routes(lesson_module().Flask),
        "Flask": same_routes(flask.Flask),
    }
    for name in ("mini-Flask", "Flask"):
        apps[name].logger.disabled = True
    rounds, n = (8, 25) if quick else (100, 25)
    samples = dispatch(apps, rounds, n)
    costs = {
        path: {name: statistics.median(values) for name, values in by_app.items()}
        for path, by_app in samples.items()
    }
    report += [
        "## Step 4: dispatch cost per request, no network",
        "",
        "`app(environ, start_response)` with a prebuilt environ, timed on this thread's CPU clock "
        f"(wall clock on Windows) with the garbage collector paused: {rounds} rounds of {n} calls "
        "per app and route, each round visiting every app in a rotating order (a warm-up round "
        "dropped). Times are medians; ratios are the median of the per-round ratios, with their "
        "quartiles. The mini-Flask is lesson 04's framework (lab 04's reference answers).",
        "",
        "| route | bare WSGI | werkzeug app | mini-Flask | Flask | mini-Flask / Flask | "
        "werkzeug app / Flask |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    ratios = {}
    for path, by_app in costs.items():
        low, ratio, high = ratios[path] = paired(samples[path], "mini-Flask", "Flask")
        w_low, w_ratio, w_high = paired(samples[path], "werkzeug app", "Flask")
        report.append(
            f"| `GET {path}` ({ROUTES[path]}) | "
            + " | ".join(plots.duration(by_app[name]) for name in apps)
            + f" | {ratio:.2f}× ({low:.2f}-{high:.2f})"
            + f" | {w_ratio:.2f}× ({w_low:.2f}-{w_high:.2f}) |"
        )
        progress(
            f"dispatch {path}: "
            + ", ".join(f"{k} {plots.duration(v)}" for k, v in by_app.items())
            + f"; mini-Flask / Flask {ratio:.2f} ({low:.2f}-{high:.2f})"
        )
    overall = statistics.median(
        sum(samples[path]["mini-Flask"][r] for path in ROUTES)
        / sum(samples[path]["Flask"][r] for path in ROUTES)
        for r in range(rounds)
    )
    worst = max(ratio for _, ratio, _ in ratios.values())
    report += [
        "",
        f"All four routes together: mini-Flask / Flask = **{overall:.2f}×** (median of the "
        f"rounds; the aim: ≤ 0.5×; worst single route {worst:.2f}×). The mini-Flask does not "
        "bind the URL map to each request and has no signals, sessions, blueprints or async "
        "support; Flask pays for all of them on every request.",
        "",
        "![dispatch](mini_flask_dispatch.png)",
        "",
    ]
    plot_dispatch(costs, out)

    rounds, per_round = (3, 100) if quick else (10, 200)
    count = rounds * per_round
    loopback = over_loopback(
        {name: apps[name] for name in ("werkzeug app", "mini-Flask", "Flask")}, rounds, per_round
    )
    for name, result in loopback.items():
        progress(f"loopback {name}: {result}")
    flask_p50 = loopback["Flask"].p50
    report += [
        "## Step 4: the same apps over loopback",
        "",
        f"`GET /user/42` behind werkzeug's threaded server, raw keep-alive client, {count} "
        f"requests per app in {rounds} rounds that visit the servers in turn (werkzeug's server "
        "closes each connection).",
        "",
        "| app | p50 | p99 | req/s | p50 / Flask p50 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, result in loopback.items():
        report.append(
            f"| {name} | {plots.duration(result.p50)} | {plots.duration(result.p99)} | "
            f"{result.rps:,.0f} | {result.p50 / flask_p50:.2f}× |"
        )
    gap = costs["/user/42"]["Flask"] - costs["/user/42"]["mini-Flask"]
    report += [
        "",
        f"The dispatch gap on this route ({plots.duration(gap)}) is "
        f"{gap / flask_p50:.0%} of Flask's median over loopback: the server and the "
        "connection take most of a loopback request.",
        "",
        "![loopback](mini_flask_loopback.png)",
        "",
    ]
    plots.plot_latency(loopback, title="GET /user/42 over loopback, werkzeug's server").savefig(
        out / "mini_flask_loopback.png", dpi=plots.DPI
    )
    progress(f"mini-Flask / Flask dispatch: {overall:.2f} overall, {worst:.2f} worst route")
    highlight(
        f"dispatch cost without a network: the step-4 mini-Flask costs {overall:.2f}× Flask's "
        f"(worst route {worst:.2f}×) for the same routes"
    )
