"""``flowgen.metrics``: flowgen's Prometheus metrics for users who serve their own endpoint.

Needs the ``[metrics]`` extra (``prometheus-client``)::

    import flowgen.metrics
    flowgen.metrics.instrument(engine)        # record this engine's facts, read its store's state
    # then expose flowgen.metrics.registry, e.g. with prometheus_client.make_wsgi_app(registry)

``flowgen worker --metrics-port`` and ``flowgen metrics`` do this for you (docs/observability.md).
"""

from __future__ import annotations

from .observability.metrics import DEFAULT_HOST, Metrics, StoreCollector, instrument, registry, serve

__all__ = ["DEFAULT_HOST", "Metrics", "StoreCollector", "instrument", "registry", "serve"]
