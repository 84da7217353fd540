"""Transports: how "advance run X" and "run attempt N of branch K" reach a worker.

:mod:`.base` is the contract (:class:`~.base.Transport`); :mod:`.dramatiq` (with its
:mod:`.doorbell` Redis broker) serves ``flowgen worker`` processes, :mod:`.app_broker` an app's
own Dramatiq broker and its ``dramatiq`` workers, :mod:`.local` embedded engines, :mod:`.inline`
the test runner. Importing this package imports neither Dramatiq nor Redis; only
:mod:`.dramatiq`, :mod:`.doorbell` and :mod:`.app_broker` do.
"""

from __future__ import annotations

from .base import Receiver, Stop, Transport

__all__ = ["Receiver", "Stop", "Transport"]
