"""The Joy ``/api/connect`` API (``joy-connect-api.txt``).

Every call is ``POST /api/connect/`` with a ``type`` and the ``x-api-token``/``x-api-key``
headers. The API's quirks are read tolerantly: ``success`` as ``true`` or ``"true"``, numbers
as strings, the whole document encoded as a JSON string. ``machine_list`` carries no state,
so a machine's status comes from ``machine_info``, fetched with bounded concurrency.

A one-shot snapshot (``snapshot(None)``, ``joytui list``) asks every machine. A repeating poll
(``snapshot(hints)``, the dashboard) cannot: 50,000 machines would mean 50,000 calls every few
seconds. So the client spreads them over polls (:meth:`JoyClient.poll_budget`): a first poll of
:data:`FIRST_POLL_INFOS`, then each poll the priority machines (the rows on screen) plus a
rotation through the rest, sized so the whole fleet is visited in about :data:`CYCLE_POLLS`
polls (the first poll has nothing on screen to put first yet). After the priority machines a
poll asks those never asked yet, then the least recently asked. While more machines have no
status than the rotation would reach in :data:`CATCH_UP_POLLS` polls, a poll catches up: it
asks as many as it can in about :data:`CATCH_UP_SECONDS` at the account's concurrency. The last
known status is kept for the machines not asked this time; :attr:`JoyClient.unknown_count`
says how many have none yet.

A machine's ``name`` is its VM name (``qemuConfig.name``, else ``Current.name``) once a
machine_info is known, else the ``machine`` number of the list; the number stays in
``detail["machine"]`` (searchable either way).
"""

from joytui.providers.joy.client import JoyClient
from joytui.providers.joy.wire import (
    CATCH_UP_POLLS,
    CATCH_UP_SECONDS,
    CHUNK,
    CYCLE_POLLS,
    FIRST_POLL_INFOS,
    PATH,
    PENDING,
    PENDING_SUFFIXES,
    POWER_FITS,
    POWER_STATES,
    POWER_WORDS,
    ROTATION_INFOS,
    STATUS,
    AccountInfo,
    Amount,
    ApiTokenInfo,
    DashboardInfo,
    Envelope,
    GiB,
    KnownMachine,
    MachineCurrent,
    MachineInfo,
    MachineListItem,
    Masked,
    QemuConfig,
    envelope_error,
    machine_status,
    mask_secret,
    read_account_info,
    read_answer,
    read_dashboardinfo,
    read_machine_info,
    read_machine_list,
    to_amount,
)

__all__ = [
    "CATCH_UP_POLLS",
    "CATCH_UP_SECONDS",
    "CHUNK",
    "CYCLE_POLLS",
    "FIRST_POLL_INFOS",
    "PATH",
    "PENDING",
    "PENDING_SUFFIXES",
    "POWER_FITS",
    "POWER_STATES",
    "POWER_WORDS",
    "ROTATION_INFOS",
    "STATUS",
    "AccountInfo",
    "Amount",
    "ApiTokenInfo",
    "DashboardInfo",
    "Envelope",
    "GiB",
    "JoyClient",
    "KnownMachine",
    "MachineCurrent",
    "MachineInfo",
    "MachineListItem",
    "Masked",
    "QemuConfig",
    "envelope_error",
    "machine_status",
    "mask_secret",
    "read_account_info",
    "read_answer",
    "read_dashboardinfo",
    "read_machine_info",
    "read_machine_list",
    "to_amount",
]
