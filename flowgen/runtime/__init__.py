"""How a run advances: the runtime package.

* :mod:`.runtime` — :class:`Runtime`, what a process does with each message a transport delivers
  (advance a run; run one attempt of a step branch) and with control requests;
* :mod:`.advance` — the advance loop: replay, evaluate, apply, commit; it knows no command family;
* :mod:`.dispatch` — the one table from command types to their evaluators;
* the evaluators, one module per command family, pure (no I/O; see :mod:`.view`):
  :mod:`.steps` (inline steps and retries), :mod:`.waits` (sleeps, events, deterministic
  values), :mod:`.parallel` (the tree of ``all_of``/``any_of`` branches), :mod:`.branch_steps`
  (steps run as their own messages), :mod:`.children` (child runs), :mod:`.sagas`
  (compensation), :mod:`.control` (cancel, pause, continue-as-new, journal size);
* :mod:`.actions` — what evaluators decide, as data; :mod:`.view` — what they read;
* :mod:`.settings`, :mod:`.cache`, :mod:`.entries` — configuration, the generator cache, closing entries.
"""

from __future__ import annotations

from .cache import CACHE_HORIZON, GeneratorCache
from .runtime import EnqueueBranch, EnqueueRuns, Runtime
from .settings import Settings, encode_call, encode_new_call, fingerprint

__all__ = [
    "CACHE_HORIZON",
    "EnqueueBranch",
    "EnqueueRuns",
    "GeneratorCache",
    "Runtime",
    "Settings",
    "encode_call",
    "encode_new_call",
    "fingerprint",
]
