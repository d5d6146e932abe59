"""Wrong answers to lab 04 (the mini-Flask), as learners write them."""

from mutants import Mutant

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

MUTANTS = [
    # q1: the contexts
    Mutant(
        "request_in_a_global",
        "q1_answer2",
        old='current_app: "App" = LocalProxy(',
        new=GLOBAL_REQUEST + 'current_app: "App" = LocalProxy(',
        why="the request kept in a module global, as before the lesson's section on contexts: "
        "concurrent requests read each other's request",
    ),
    Mutant(
        "pop_sets_none",
        "q1_answer2",
        old="_app_var.reset(self._token)",
        new="_app_var.set(None)",
        why="pop() clears the variable instead of restoring the outer context: nested contexts break",
    ),
    Mutant(
        "teardown_appcontext_in_registration_order",
        "q1_answer2",
        old="for function in reversed(self.app.teardown_appcontext_funcs):",
        new="for function in self.app.teardown_appcontext_funcs:",
        why="the statement says last registered first; the learner loops in list order",
    ),
    Mutant(
        "endpoint_without_none_check",
        "q1_answer",
        old="return self.url_rule.endpoint if self.url_rule else None",
        new="return self.url_rule.endpoint",
        why="Request.endpoint before routing (or on a 404) raises AttributeError instead of giving None",
    ),
    # q2: what an app records
    Mutant(
        "route_without_return_view",
        "q2_answer",
        old="            return view\n",
        new="",
        why="the decorator registers the view but forgets to return it: the name becomes None",
    ),
    Mutant(
        "http_exception_class_under_none",
        "q2_answer2",
        old="code = exception.code if issubclass(exception, HTTPException) else None",
        new="code = None",
        why="@errorhandler(NotFound) filed under None, not under 404",
    ),
    Mutant(
        "rule_options_dropped",
        "q2_answer",
        old='methods=methods | {"OPTIONS"}, **options)',
        new='methods=methods | {"OPTIONS"})',
        why="**options accepted but never passed on to Rule: strict_slashes=False is lost",
    ),
    Mutant(
        "endpoint_taken_even_by_the_same_view",
        "q2_answer",
        old="if self.view_functions.setdefault(endpoint, view_func) is not view_func:",
        new="if endpoint in self.view_functions or self.view_functions.setdefault(endpoint, view_func) is not view_func:",
        why="any second rule for an endpoint refused, even with the same view (two @app.route on one view)",
    ),
    # q3: what a view may return
    Mutant(
        "str_status_loses_reason",
        "q3_answer",
        old='rv.status = status            # "418 I\'m a teapot"',
        new="rv.status_code = int(status.split()[0])",
        why="a str status turned into an int: its own reason phrase is lost",
    ),
    Mutant(
        "two_tuple_always_status",
        "q3_answer",
        old="elif len(rv) == 2 and isinstance(rv[1], (Headers, dict, tuple, list)):",
        new="elif False:",
        why="a 2-tuple read as (body, status) even when the second item is headers",
    ),
    # q4: exceptions become responses
    Mutant(
        "never_propagate",
        "q4_answer",
        old='if propagate if propagate is not None else (self.config["TESTING"] or self.debug):',
        new="if propagate:",
        why="PROPAGATE_EXCEPTIONS None taken as false: TESTING and debug mode ignored",
    ),
    Mutant(
        "handlers_for_exact_class_only",
        "q4_answer",
        old="for cls in type(e).__mro__:",
        new="for cls in (type(e),):",
        why="a handler found for the exception's own class only, not its base classes",
    ),
    Mutant(
        "redirects_go_to_handlers",
        "q4_answer",
        old="if e.code is None or isinstance(e, RoutingException):",
        new="if e.code is None:",
        why="the redirect to the URL with a slash is given to the HTTPException handler",
    ),
    # q5: the life of a request
    Mutant(
        "request_not_reset",
        "q5_answer",
        old="                _request_var.reset(token)\n",
        new="",
        why="the request stays bound in the thread after its response",
    ),
    Mutant(
        "routing_error_before_hooks",
        "q5_answer",
        old="            except HTTPException as e:    # raised in dispatch_request, after before_request hooks\n"
        "                req.routing_exception = e",
        new="            except HTTPException as e:    # raised in dispatch_request, after before_request hooks\n"
        "                raise",
        why="a 404 escapes wsgi_app before the before_request hooks and the error handlers",
    ),
    Mutant(
        "after_request_in_registration_order",
        "q5_answer2",
        old="for function in reversed(self.after_request_funcs):",
        new="for function in self.after_request_funcs:",
        why="after_request hooks in list order, not the last registered first",
    ),
    # q6: the helpers
    Mutant(
        "redirect_ignores_code",
        "q6_answer",
        old="return werkzeug_redirect(location, code, Response=Response)",
        new="return werkzeug_redirect(location, 302, Response=Response)",
        why="redirect(url, 301) still answers 302",
    ),
    Mutant(
        "url_for_ignores_prefix",
        "q6_answer",
        old="adapter, external = req.url_adapter, bool(_external)",
        new="adapter, external = current_app.url_map.bind(req.host), bool(_external)",
        why="url_for binds the map to the host alone: an app under /shop builds URLs without /shop",
    ),
    Mutant(
        "make_response_first_argument_only",
        "q6_answer",
        old='return current_app.make_response(args if len(args) > 1 else args[0] if args else "")',
        new="return current_app.make_response(args[0])",
        why='make_response("made", 201, headers) drops the status and the headers',
    ),
    # q7: the app
    Mutant(
        "port_zero_becomes_5000",
        "q7_answer",
        old="port = int(port) if port or port == 0 else int(server_port or 5000)",
        new="port = int(port or server_port or 5000)",
        why="run(port=0) falls through `or` to 5000",
    ),
    Mutant(
        "debug_overrides_given_options",
        "q7_answer",
        old='options.setdefault("use_reloader", self.debug)',
        new='options["use_reloader"] = self.debug',
        why="run(debug=True, use_reloader=False) still starts the reloader",
    ),
    Mutant(
        "binds_every_interface",
        "q7_answer",
        old='host = host or server_host or "127.0.0.1"',
        new='host = host or "0.0.0.0"',
        why="run() listens on every interface by default (and ignores SERVER_NAME)",
    ),
    Mutant(
        "no_autoescape",
        "q7_answer2",
        old='autoescape=select_autoescape(["html", "htm", "xml", "xhtml", "svg"]))',
        new="autoescape=False)",
        why="Jinja2's own default: templates do not escape, a user's <script> goes out as it is",
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
