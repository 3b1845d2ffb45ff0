"""The Data API over HTTP (docs/data-api.md) from Python's standard library,
for the multi-process tests: one keep-alive connection per DataClient, and a
watch (SSE) read on a thread of its own into a queue, so a test waits for an
event with a timeout instead of blocking on the socket."""
import http.client
import json
import queue
import socket
import threading
import time
import urllib.parse


def row_path(table, pk=None):
    """/v1/tables/{table}/rows[/{pk}], each part one percent-encoded segment."""
    path = "/v1/tables/%s/rows" % urllib.parse.quote(table, safe="")
    return path if pk is None else path + "/" + urllib.parse.quote(pk, safe="")


class DataError(Exception):
    def __init__(self, status, body):
        super().__init__("HTTP %d: %s" % (status, body))
        self.status = status
        self.body = body


class DataClient:
    """Calls of one thread to one node's HTTP listener (not thread-safe)."""

    def __init__(self, port, timeout=10.0):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        """Returns (status, decoded JSON body or None); reconnects once when a kept-alive
        connection was closed by the server."""
        data = None if body is None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json"} if data is not None else {}
        hdrs.update(headers or {})
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise
        return resp.status, json.loads(raw) if raw else None

    def patch(self, table, pk, fields, idempotency_key=None):
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        status, body = self.request("PATCH", row_path(table, pk), fields, headers)
        if status != 200:
            raise DataError(status, body)
        return body

    def get(self, table, pk):
        """The resolved row, or None when the node answers 404."""
        status, body = self.request("GET", row_path(table, pk))
        if status == 404:
            return None
        if status != 200:
            raise DataError(status, body)
        return body["row"]

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Watch:
    """GET /v1/tables/{table}/watch read on a daemon thread: events land in a queue as
    {"id": cursor, "event": name, "data": decoded JSON}."""

    def __init__(self, port, table, prefix=None, since=None, timeout=60.0):
        path = "/v1/tables/%s/watch" % urllib.parse.quote(table, safe="")
        query = {k: v for k, v in (("prefix", prefix), ("since", since)) if v is not None}
        if query:
            path += "?" + urllib.parse.urlencode(query)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.request("GET", path, headers={"Accept": "text/event-stream"})
        self.sock = self.conn.sock  # the response may take it over: kept to wake the reader
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise DataError(self.resp.status, self.resp.read())
        ctype = self.resp.getheader("Content-Type", "")
        if not ctype.startswith("text/event-stream"):
            raise AssertionError("watch answered Content-Type %r" % ctype)
        self.events = queue.Queue()
        self.error = None
        self.closed = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        event = {}
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    return  # the server ended the stream
                line = line.decode().rstrip("\r\n")
                if not line:
                    if "data" in event:
                        event["data"] = json.loads(event["data"])
                        self.events.put(event)
                    event = {}
                elif line.startswith(":"):
                    continue  # a keep-alive comment
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "data" and "data" in event:
                        event["data"] += "\n" + value
                    else:
                        event[name] = value
        except Exception as e:  # noqa: BLE001 - reported to the waiting test
            if not self.closed:
                self.error = e
        finally:
            self.events.put(None)

    def wait_for(self, match, timeout):
        """The first event for which match(event) holds, within timeout seconds; the events
        passed over on the way are returned too, as (event, skipped)."""
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching watch event in %.1f s (saw %s)"
                                     % (timeout, skipped))
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if event is None:
                self.events.put(None)
                raise AssertionError("watch ended (%s) before a matching event (saw %s)"
                                     % (self.error or "closed by the server", skipped))
            if match(event):
                return event, skipped
            skipped.append(event)

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader thread's recv
        except OSError:  # already closed
            pass
        self.conn.close()
        self.thread.join(timeout=5)
