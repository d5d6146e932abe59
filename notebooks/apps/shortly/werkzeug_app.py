"""Step 3's app machinery on werkzeug, the shape of werkzeug's Shortly tutorial, with nothing of
Shortly in it: templates, URL building, dispatch to the method named after the endpoint, and the
WSGI entry point. Shortly's views subclass it: in notebooks/03_werkzeug.ipynb (section 7.4), and in
lab 03, where you write them. Step 4 turns this class into a framework with Flask's API.
"""

from pathlib import Path

from jinja2 import Environment, FileSystemLoader
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, MapAdapter
from werkzeug.wrappers import Request, Response


class WerkzeugApp:
    """A WSGI app that answers each request with the method named after the matched endpoint,
    called as `method(request, **values)`; 404.html for a URL that matches nothing."""

    URLS = "werkzeug_app.urls"  # where a request's environ keeps the URL map bound to it

    def __init__(self, url_map: Map, template_dir: Path) -> None:
        self.url_map = url_map
        # autoescape: a value put into a page is HTML-escaped (a stored URL may hold <script>)
        self.jinja_env = Environment(loader=FileSystemLoader(template_dir), autoescape=True)

    def url_for(self, request: Request, endpoint: str, **values) -> str:
        """The URL of `endpoint` with `values`, built by the map bound to this request."""
        urls: MapAdapter = request.environ[self.URLS]
        return urls.build(endpoint, values)

    def render(self, request: Request, template: str, status: int = 200, **context) -> Response:
        """A template rendered as an HTML response; templates get a `url_for` for links."""
        html = self.jinja_env.get_template(template).render(
            url_for=lambda endpoint, **values: self.url_for(request, endpoint, **values),
            **context,
        )
        return Response(html, status=status, mimetype="text/html")

    def dispatch_request(self, request: Request) -> Response:
        urls = request.environ[self.URLS] = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, values = urls.match()
            return getattr(self, endpoint)(request, **values)
        except NotFound:
            return self.render(request, "404.html", status=404)
        except HTTPException as error:
            return error  # 405 and friends answer for themselves

    def wsgi_app(self, environ: dict, start_response):
        response = self.dispatch_request(Request(environ))
        return response(environ, start_response)

    def __call__(self, environ: dict, start_response):
        return self.wsgi_app(environ, start_response)  # so middleware can replace wsgi_app
