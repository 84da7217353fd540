"""``python -m flowgen``: the same as the ``flowgen`` command."""

from .cli import main

raise SystemExit(main())
