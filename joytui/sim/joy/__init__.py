"""The simulated Joy ``/api/connect`` API, as ``joy-connect-api.txt`` describes.

Every call is ``POST /api/connect/`` with a ``type`` in the JSON body. The fleet can hold
50,000 machines, so a machine is a slotted record, everything else about it (name, rates,
MAC, UUID) is derived from hashes when it is asked for, the machine list is serialized once
and kept as bytes, and pending power transitions wait in a heap keyed by their due time.

Where the spec is silent the simulator is plausible: an unknown ``instance_token`` answers
404, ``invalid_state`` answers 400, a missing ``instance_token`` answers 400
``instance_token_required``, and transitions show a word of their own in ``Current.status``
(starting, stopping, rebooting, suspending, resuming) until they settle.
"""

from __future__ import annotations

from joytui.sim.joy.fleet import ACTIONS, DEMO_KEY, DEMO_TOKEN, NODES
from joytui.sim.joy.routes import JoySim

__all__ = ["ACTIONS", "DEMO_KEY", "DEMO_TOKEN", "NODES", "JoySim"]
