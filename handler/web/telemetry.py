"""The span a Lambda instrumentation opened around the handler, with the `key` query parameter taken out.

The ADOT layer's Lambda instrumentation wraps `handler.main.handler`, so it reads the event (and records
`http.target` with the query string) before any of our code runs. Its span is still open while the handler runs,
and a span is exported when it ends: overwriting those attributes here keeps the key out of every exporter.
Without OpenTelemetry loaded this costs one dictionary lookup.
"""

from __future__ import annotations

import sys

from handler.web.credentials import scrub_url_text


def scrub_current_span() -> None:
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:  # nothing loaded OpenTelemetry: nothing records spans
        return
    span = trace.get_current_span()
    if not span.is_recording():
        return
    for name, value in dict(getattr(span, "attributes", None) or {}).items():
        if isinstance(value, str) and "=" in value:
            scrubbed = scrub_url_text(value)
            if scrubbed != value:
                span.set_attribute(name, scrubbed)
