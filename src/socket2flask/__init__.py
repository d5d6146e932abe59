"""From Socket to Flask: the support package of the course.

`servers` runs any server in the background of the kernel, `probe` measures it, `plots` draws the
measurements, `wire` shows the bytes, `httpclient` is the small raw-socket client behind the last
two, and `grading` checks and grades the labs. Import what you need:

    from socket2flask.servers import serve
    from socket2flask import probe, plots, wire
"""

__version__ = "0.1.0"
