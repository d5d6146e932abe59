"""The step-7 kinds, as adapters (see `kinds`): "asyncio" runs your coroutine for each connection,
and "uvicorn" runs an ASGI app. Each runs an event loop in a daemon thread of its own: the kernel's
own loop is busy running your cells, and a loop runs in one thread only. One thread serves every
connection; stop() asks the loop to end and waits for its thread.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .kinds import Adapter

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


class AsyncioAdapter(Adapter):
    """ "asyncio": `await handler(reader, writer)` for each connection, all on one event loop;
    the writer is closed after. A silent client holds its coroutine (not a thread) until your
    handler's own timeout (`asyncio.timeout`) or stop()."""

    name = "asyncio"

    def start(self, handler: Handler, options: dict) -> None:
        loop = asyncio.new_event_loop()
        connections: set[asyncio.Task] = set()  # what stop() cancels

        async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
            task = asyncio.current_task()
            assert task is not None  # start_server runs each connection in a task of its own
            connections.add(task)
            try:
                await handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass  # the client went away: nobody is left to answer
            except asyncio.CancelledError:  # stop() ended it: end quietly (Python 3.11's streams
                pass  # print "Exception in callback ..." for a connection task that was cancelled)
            except Exception:
                peer = writer.get_extra_info("peername", ("?", "?"))
                self.events.report(f"the handler raised while serving port {peer[1]}")
            finally:
                connections.discard(task)
                writer.close()

        ended = threading.Event()  # every connection has ended (or stop() stopped waiting)

        def shut_down() -> None:  # in the loop: stop accepting, then end every connection
            for server in servers:
                server.close()
            for task in connections:
                task.cancel()  # CancelledError is raised where the handler awaits
            waiting = asyncio.gather(*connections, return_exceptions=True)
            # one more turn of the loop once they end: the closed sockets' callbacks run first
            waiting.add_done_callback(lambda _: loop.call_soon(ended.set))

        def stop_loop() -> None:
            # A plain callback, not a coroutine: a loop blocked by a handler never runs it, and
            # then nothing is left half-started when the loop stops.
            loop.call_soon_threadsafe(shut_down)
            ended.wait(self.time_left())
            loop.call_soon_threadsafe(loop.stop)
            running.join(self.time_left())

        listener = _listen(self.host, self.port)
        self.port = listener.getsockname()[1]
        servers: list[asyncio.Server] = []  # the one below, once the loop has started it
        running = self.spawn(lambda: _run_forever(loop), "asyncio loop")
        self._undo += [listener.close, stop_loop]  # from here on, stop() undoes it all
        starting = asyncio.start_server(serve_connection, sock=listener)
        servers.append(asyncio.run_coroutine_threadsafe(starting, loop).result(timeout=5))


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound before the loop starts so that we know the port at once. The
    backlog is large: a thousand clients may connect at once to a server built for many."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    # proto must say TCP (create_server's says 0): asyncio turns Nagle's algorithm off only on
    # connections that do, and without that each kept-alive response of uvicorn (headers, then
    # body: two writes) waits 40 ms for the client's delayed ACK.
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(address)
    listener.listen(2048)
    return listener


def _run_forever(loop: asyncio.AbstractEventLoop) -> None:
    """Run `loop` in this thread until stop_loop() stops it, then close it."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.close()


class UvicornAdapter(Adapter):
    """ "uvicorn": an ASGI app under uvicorn, on an event loop in a thread of ours; uvicorn's own
    settings as keywords (`timeout_keep_alive=5`, `limit_concurrency=100`, ...)."""

    name = "uvicorn"

    @classmethod
    def options(cls) -> set[str]:  # uvicorn.Config's keywords, less those that would leave us
        import inspect

        from uvicorn import Config

        ours = {"app", "host", "port", "uds", "fd", "reload", "workers", "log_config", "loop"}
        reloading = {"reload_dirs", "reload_delay", "reload_includes", "reload_excludes"}
        return set(inspect.signature(Config).parameters) - ours - reloading

    def start(self, app: ASGIApp, options: dict) -> None:
        import uvicorn

        listener = _listen(self.host, self.port)  # uvicorn serves the socket we give it
        self.port = listener.getsockname()[1]
        settings = {"log_level": "warning", "lifespan": "auto", **options}
        # log_config=None: uvicorn leaves the kernel's logging alone (no dictConfig of its own).
        config = uvicorn.Config(asgi_guard(app, self.events), log_config=None, **settings)
        server = uvicorn.Server(config)  # not in the main thread: it installs no signal handler

        def run() -> None:
            try:
                asyncio.run(server.serve([listener]))
            except SystemExit:  # uvicorn's answer to a failed startup: start() reports it below
                pass

        running = self.spawn(run, "uvicorn loop")

        def stop_server() -> None:
            server.should_exit = True  # uvicorn looks every 0.1 s, then closes every connection
            running.join(min(1.0, self.time_left()))
            server.force_exit = True  # a request still running after 1 s: stop waiting for it
            running.join(self.time_left())

        self._undo += [listener.close, stop_server]
        started = time.monotonic()
        while not server.started and running.is_alive() and time.monotonic() - started < 5:
            time.sleep(0.01)
        if not server.started:  # serve() stops what we started, and raises this
            raise RuntimeError("uvicorn did not start (its message, if any, is above)")


def asgi_guard(app: ASGIApp, events: Any) -> ASGIApp:
    """Log each HTTP request; an exception is printed in the notebook and kept for check(), and the
    client gets a 500 if no response had started (uvicorn would log it where nobody looks)."""

    async def guarded(scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":  # lifespan and websocket go straight through
            await app(scope, receive, send)
            return
        line = f"{scope['method']} {scope['path']}"
        events.log.append(line)
        response_started = False

        async def watched_send(message: dict) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await app(scope, receive, watched_send)
        except Exception:
            events.report(f"the app raised while answering {line}")
            if response_started:
                raise  # too late for a 500: uvicorn closes the connection
            body = b"Internal Server Error: the app raised an exception (see the notebook).\n"
            headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    return guarded
