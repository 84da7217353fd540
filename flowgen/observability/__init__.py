"""flowgen's own instrumentation: what happens to runs, told to observers (see docs/observability.md).

* :mod:`.observer`: the facts the runtime reports (:class:`~.observer.Observer`) and the fan-out
  every engine holds (:class:`~.observer.Observers`); no optional import;
* :mod:`.metrics`: Prometheus counters and histograms, and the state gauges read from the store
  (the ``[metrics]`` extra, ``prometheus-client``);
* :mod:`.tracing`: OpenTelemetry spans with ids derived from the run and the journal (the
  ``[otel]`` extra, ``opentelemetry-api``), :mod:`.ids` the derivation itself;
* :mod:`.hooks`: ``engine.on(event, callback)``;
* :mod:`.watch`: ``run.watch()`` / ``engine.watch()``, iterators of state changes.

Nothing here is imported by ``import flowgen`` except :mod:`.observer` and :mod:`.hooks`; the
optional libraries are imported only when metrics or tracing are switched on.
"""
