"""A minimal OTLP/HTTP trace receiver: decodes real exporter requests with the OTLP protobufs."""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    attributes: dict[str, str]
    """Each attribute's value as text (a string attribute as the string itself)."""
    events: tuple[tuple[str, dict[str, str]], ...] = ()
    """Each span event's name and attributes (as text), e.g. a recorded exception."""
    status_message: str = ""


def _text(value: AnyValue) -> str:
    """An OTLP attribute value as text: strings as they are, other kinds as protobuf text."""
    return value.string_value if value.HasField("string_value") else str(value).strip()


class OtlpReceiver:
    """Listens on 127.0.0.1:port for POST /v1/traces."""

    def __init__(self, port: int) -> None:
        self.spans: list[ReceivedSpan] = []
        self.port = port
        lock = threading.Lock()
        spans = self.spans

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                with lock:
                    for rs in request.resource_spans:
                        service = next(
                            (
                                a.value.string_value
                                for a in rs.resource.attributes
                                if a.key == "service.name"
                            ),
                            "",
                        )
                        for ss in rs.scope_spans:
                            for s in ss.spans:
                                attrs = {a.key: _text(a.value) for a in s.attributes}
                                events = tuple(
                                    (e.name, {a.key: _text(a.value) for a in e.attributes})
                                    for e in s.events
                                )
                                spans.append(
                                    ReceivedSpan(
                                        service,
                                        s.name,
                                        s.trace_id.hex(),
                                        attrs,
                                        events,
                                        s.status.message,
                                    )
                                )
                payload = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
