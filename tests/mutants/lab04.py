"""Wrong answers to lab 04 (the mini-Flask), as learners write them.

Lab 04's reference answers are lesson 04's own cells: each answer cell of the solution runs them
(`run_lesson_cells`, socket2flask.labtools.step4). A wrong answer is that code as a learner writes
it, with one mistake: `written()` puts the lesson's code, so changed, in place of the call. The
answers that are not lesson code (q8, q9) change the solution's own text, as in the other labs."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from mutants import Mutant
from socket2flask.grading.notebook import BEGIN_SOLUTION, END_SOLUTION, grading, read
from socket2flask.labtools.step4 import lesson_source

SOLUTION = Path(__file__).resolve().parents[2] / "solutions" / "04_mini_flask_lab.ipynb"

# The naive "current request": one module global that every thread shares (what lesson 04's
# section on contexts shows breaking under concurrent requests).
GLOBAL_REQUEST = '''
class SharedVar:
    """A ContextVar look-alike that every thread shares: the naive global request."""
    value = None

    def get(self, *default):
        return self.value if self.value is not None or not default else default[0]

    def set(self, value):
        self.value = value

    def reset(self, token):
        self.value = None


_request_var = SharedVar()
request = LocalProxy(lambda: _request_var.get())
'''


@cache
def reference(cell: str) -> tuple[str, str]:
    """Answer cell `cell`'s solution (the call that runs lesson 04's cells), and their code."""
    [source] = [c.source for c in read(SOLUTION).cells if grading(c).get("grade_id") == cell]
    solution = source.split(BEGIN_SOLUTION + "\n", 1)[1].split(END_SOLUTION, 1)[0]
    [call] = [
        node
        for node in ast.walk(ast.parse(solution))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "run_lesson_cells"
    ]
    return solution, lesson_source(*(argument.value for argument in call.args[1:]))


def written(name: str, cell: str, old: str, new: str, why: str) -> Mutant:
    """A learner's answer to `cell`: the lesson's code for it, with `old` (there once) as `new`."""
    solution, code = reference(cell)
    if code.count(old) != 1:
        raise LookupError(f"{name}: {old!r} is {code.count(old)} times in {cell}'s lesson code")
    return Mutant(name, cell, old=solution, new=code.replace(old, new), why=why)


MUTANTS = [
    # q1: the contexts
    written(
        "request_in_a_global",
        "q1_answer2",
        "            _app_var.reset(self._token)",
        "            _app_var.reset(self._token)\n" + GLOBAL_REQUEST,
        "the request kept in a module global, as before the lesson's section on contexts: "
        "concurrent requests read each other's request",
    ),
    written(
        "pop_sets_none",
        "q1_answer2",
        "_app_var.reset(self._token)",
        "_app_var.set(None)",
        "pop() clears the variable instead of restoring the outer context: nested contexts break",
    ),
    written(
        "teardown_appcontext_in_registration_order",
        "q1_answer2",
        "for function in reversed(self.app.teardown_appcontext_funcs):",
        "for function in self.app.teardown_appcontext_funcs:",
        "the statement says last registered first; the learner loops in list order",
    ),
    written(
        "endpoint_without_none_check",
        "q1_answer",
        "return self.url_rule.endpoint if self.url_rule else None",
        "return self.url_rule.endpoint",
        "Request.endpoint before routing (or on a 404) raises AttributeError instead of giving "
        "None",
    ),
    # q2: what an app records
    written(
        "route_without_return_view",
        "q2_answer",
        "            return view\n",
        "",
        "the decorator registers the view but forgets to return it: the name becomes None",
    ),
    written(
        "http_exception_class_under_none",
        "q2_answer2",
        "code = exception.code if issubclass(exception, HTTPException) else None",
        "code = None",
        "@errorhandler(NotFound) filed under None, not under 404",
    ),
    written(
        "rule_options_dropped",
        "q2_answer",
        'methods=methods | {"OPTIONS"}, **options)',
        'methods=methods | {"OPTIONS"})',
        "**options accepted but never passed on to Rule: strict_slashes=False is lost",
    ),
    written(
        "endpoint_taken_even_by_the_same_view",
        "q2_answer",
        "if self.view_functions.setdefault(endpoint, view_func) is not view_func:",
        "if endpoint in self.view_functions"
        " or self.view_functions.setdefault(endpoint, view_func) is not view_func:",
        "any second rule for an endpoint refused, even with the same view (two @app.route on one "
        "view)",
    ),
    # q3: what a view may return
    written(
        "str_status_loses_reason",
        "q3_answer",
        'rv.status = status            # "418 I\'m a teapot"',
        "rv.status_code = int(status.split()[0])",
        "a str status turned into an int: its own reason phrase is lost",
    ),
    written(
        "two_tuple_always_status",
        "q3_answer",
        "if len(rv) == 2 and isinstance(rv[1], (Headers, dict, tuple, list)):",
        "if False:",
        "a 2-tuple read as (body, status) even when the second item is headers",
    ),
    # q4: exceptions become responses
    written(
        "never_propagate",
        "q4_answer",
        'propagate = self.config["TESTING"] or self.debug',
        "propagate = False",
        "PROPAGATE_EXCEPTIONS None taken as false: TESTING and debug mode ignored",
    ),
    written(
        "handlers_for_exact_class_only",
        "q4_answer",
        "for cls in type(e).__mro__:",
        "for cls in (type(e),):",
        "a handler found for the exception's own class only, not its base classes",
    ),
    written(
        "redirects_go_to_handlers",
        "q4_answer",
        "if e.code is None or isinstance(e, RoutingException):",
        "if e.code is None:",
        "the redirect to the URL with a slash is given to the HTTPException handler",
    ),
    # q5: the life of a request
    written(
        "request_not_reset",
        "q5_answer",
        "            _request_var.reset(self._token)\n",
        "",
        "the request stays bound in the thread after its response",
    ),
    written(
        "routing_error_before_hooks",
        "q5_answer",
        "                req.routing_exception = e",
        "                raise",
        "a 404 escapes wsgi_app before the before_request hooks and the error handlers",
    ),
    written(
        "after_request_in_registration_order",
        "q5_answer2",
        "for function in reversed(self.after_request_funcs):",
        "for function in self.after_request_funcs:",
        "after_request hooks in list order, not the last registered first",
    ),
    # q6: the helpers
    written(
        "redirect_ignores_code",
        "q6_answer2",
        "return werkzeug_redirect(location, code, Response=Response)",
        "return werkzeug_redirect(location, 302, Response=Response)",
        "redirect(url, 301) still answers 302",
    ),
    written(
        "url_for_ignores_prefix",
        "q6_answer",
        "adapter, external = req.url_adapter, bool(_external)",
        "adapter, external = current_app.url_map.bind(req.host), bool(_external)",
        "url_for binds the map to the host alone: an app under /shop builds URLs without /shop",
    ),
    written(
        "make_response_first_argument_only",
        "q6_answer2",
        "return current_app.make_response(args)   # a tuple",
        "return current_app.make_response(args[0])   # a tuple",
        'make_response("made", 201, headers) drops the status and the headers',
    ),
    # q7: the app
    written(
        "port_zero_becomes_5000",
        "q7_answer",
        "port = int(port) if port or port == 0 else int(server_port or 5000)",
        "port = int(port or server_port or 5000)",
        "run(port=0) falls through `or` to 5000",
    ),
    written(
        "debug_overrides_given_options",
        "q7_answer",
        'options.setdefault("use_reloader", self.debug)',
        'options["use_reloader"] = self.debug',
        "run(debug=True, use_reloader=False) still starts the reloader",
    ),
    written(
        "binds_every_interface",
        "q7_answer",
        'host = host or server_host or "127.0.0.1"',
        'host = host or "0.0.0.0"',
        "run() listens on every interface by default (and ignores SERVER_NAME)",
    ),
    written(
        "no_autoescape",
        "q7_answer2",
        'autoescape=select_autoescape(["html", "htm", "xml", "xhtml", "svg"]))',
        "autoescape=False)",
        "Jinja2's own default: templates do not escape, a user's <script> goes out as it is",
    ),
    # q8: Flask's API
    Mutant(
        "module_without_app",
        "q8_answer",
        old="for name in FLASK_API:",
        new="for name in FLASK_API[1:]:",
        why="the first name skipped (an off-by-one): `from flask import Flask` fails",
    ),
    # q9: Shortly
    Mutant(
        "permanent_redirect",
        "q9_answer",
        old="return F.redirect(link_target, 302)",
        new="return F.redirect(link_target, 301)",
        why="a 301: browsers would cache it and skip the click counter",
    ),
    Mutant(
        "details_without_clicks",
        "q9_answer",
        old="click_count=storage.get_clicks(short_id)",
        new="click_count=0",
        why="the details page never shows the clicks",
    ),
]
