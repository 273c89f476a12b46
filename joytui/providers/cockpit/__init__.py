"""The Cockpit cluster API (``cockpit-api.txt``): hosts and VMs behind a JWT.

The client logs in lazily on first use and keeps the token, the refresh token and the
expiry (counted from when the login was sent: the token cannot be older). It refreshes
shortly before ``expires_in`` runs out. A read refused with a 401 (a token that expired in
flight, say) renews the token once and is sent once more. A write is never sent twice: instead
the token is renewed before sending when it might expire before the write arrives (within
twice the slowest recent round trip of its expiry), and a 401 is reported, the token dropped
so the next call renews it. Concurrent callers share one login or refresh (an
``asyncio.Lock`` plus a generation count), and a refresh that fails falls back to a login.

The spec is silent on the shape of a VM; the model below reads what the simulator sends and
a few plausible alternative names.
"""

from joytui.providers.cockpit.client import CockpitClient
from joytui.providers.cockpit.wire import (
    API,
    COPY_STORAGE,
    HOST_STATUS,
    TOKEN_EXPIRED_HINT,
    VM_ACTIONS,
    VM_PENDING,
    VM_STATUS,
    WRITE_NOT_DONE_HINT,
    ActionAnswer,
    CockpitHost,
    CockpitVM,
    MiB,
    Migration,
    TokenPair,
    host_status,
    migration_words,
    read_hosts,
    read_migration,
    read_tokens,
    read_vm,
    read_vms,
    vm_status,
)

__all__ = [
    "API",
    "COPY_STORAGE",
    "HOST_STATUS",
    "TOKEN_EXPIRED_HINT",
    "VM_ACTIONS",
    "VM_PENDING",
    "VM_STATUS",
    "WRITE_NOT_DONE_HINT",
    "ActionAnswer",
    "CockpitClient",
    "CockpitHost",
    "CockpitVM",
    "MiB",
    "Migration",
    "TokenPair",
    "host_status",
    "migration_words",
    "read_hosts",
    "read_migration",
    "read_tokens",
    "read_vm",
    "read_vms",
    "vm_status",
]
