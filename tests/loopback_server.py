"""A loopback HTTP server in a thread, serving files from a dict {name: bytes}, for the download tests."""
import contextlib
import http.server
import threading


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        name = self.path.lstrip("/").split("?")[0]
        self.server.requests.append(name)
        body = self.server.files.get(name)
        if body is None:
            self.send_error(404, "Not Found")
            return
        truncate = self.server.truncate.get(name)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if truncate is None else body[:truncate])  # a short body: the connection drops

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(files, truncate=None):
    """Yields (base_url, server); server.requests lists the names fetched, in order."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.files, server.truncate, server.requests = files, truncate or {}, []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port_url():
    """A loopback URL nobody listens on (bound, then released)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
