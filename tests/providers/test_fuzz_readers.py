"""Hypothesis fuzzing of the pure wire readers and adapters: random, truncated and mistyped
payloads. Only ProviderError subclasses may escape a reader, and an adapter given whatever a
reader accepted must build its Resource without raising at all."""

from __future__ import annotations

import copy
import json
import typing
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, BeforeValidator, SecretStr

from joytui.config import CockpitAccount, InstancesAccount, JoyAccount
from joytui.model import Resource, Status
from joytui.providers import cockpit, instances, joy
from joytui.providers.errors import BadPayloadError, ProviderError
from joytui.providers.wire import (
    decode_json,
    to_bool,
    to_float,
    to_int,
    to_text,
    to_timestamp,
)

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FUZZ_ADAPTERS = settings(FUZZ, max_examples=300)

# -- valid examples, from the specs and the simulator's shapes ----------------------------------

DASHBOARD = {
    "success": "true",
    "amount": "932.91",
    "instances": 18,
    "iram": 115,
    "icore": 78,
    "hostings": 33,
    "databases": 14,
    "dns_domains": 15,
    "cdn_domains": 1,
    "total": 81,
}
ACCOUNT = {
    "success": "true",
    "amount": "$ 932.91",
    "email": "email@example.com",
    "verify": 1,
    "ip": "10.10.125.14",
    "time": "2023-08-17 16:26:11",
    "twofa": 0,
    "username": "joyuser1",
    "full_name": "First Last",
    "gender": 1,
    "profile_pic": "https://example.com/p.gif",
    "api_token": {
        "id": 1,
        "api_token": "JOY-API-TOKEN#API",
        "api_key": "joy-0123456789abcdef",
        "timestamp": None,
        "api_date": None,
        "api_reg_ip": "10.10.152.16",
        "status": "enabled",
    },
}
MACHINE_LIST = {
    "success": "true",
    "value": [
        {
            "id": 342,
            "machine": "6001",
            "machine_node": "c15-node-joy-london",
            "ip": "10.10.112.65",
            "platform": "ubuntu",
            "price": None,
            "extime": "33285031929",
            "expire": None,
            "ram": 4,
            "core": 2,
            "storage": 48,
            "ihash": "498b5959b4257a8671edd51f2b5cebf7",
        },
        {
            "id": "681",
            "machine": "256",
            "machine_node": "node4-512gb-mumbai",
            "ip": "192.168.155.23",
            "platform": "ubuntu",
            "price": "12.5",
            "extime": "1859621398",
            "expire": "2030-01-01 00:00:00",
            "ram": "8",
            "core": "4",
            "storage": "48",
            "ihash": "09960a1b793ef22bd7c01b5501f6a1b7",
        },
    ],
}
MACHINE_INFO = {
    "success": True,
    "value": "498b5959b4257a8671edd51f2b5cebf7",
    "Current": {
        "name": "user-x-25nov",
        "netout": 18566030361,
        "uptime": 29461293,
        "cpu": 0.015003142419008,
        "vmid": 6001,
        "maxmem": 4294967296,
        "cpus": 2,
        "nics": {"tap6001i0": {"netin": 2476753613887, "netout": 18566030361}},
        "netin": 2476753613887,
        "status": "running",
        "mem": 3405574144,
        "freemem": 696369152,
        "qmpstatus": "running",
        "diskread": 173319141376,
        "diskwrite": 788248155136,
    },
    "qemuConfig": {
        "cores": 1,
        "memory": "4096",
        "sockets": 2,
        "meta": "creation-qemu=8.1.5,ctime=1712772985",
    },
    "osinfo": None,
    "ip": "10.10.240.21",
    "extime": "33285031929",
    "os": "ubuntu",
}
TOKENS = {"token": "eyJhbGciOi.eyJzdWIi.c2ln", "refresh_token": "a1b2c3d4", "expires_in": 3600}
HOSTS = {
    "hosts": [
        {
            "id": "019e0014-abcd-7057-b326-000000000001",
            "hostname": "vapor-node-01.corp.awan.io",
            "status": "connected",
            "sync_cursor": 1716999901,
        }
    ]
}
VMS = {
    "vms": [
        {
            "id": "0e5f70c2-ca45-4b24-8ed9-2f00a2db8787",
            "name": "web-13",
            "host_id": "019e0014-abcd-7057-b326-000000000001",
            "status": "running",
            "vcpus": 2,
            "memory_mb": 8192,
            "disk_gb": 20,
            "ip": "10.20.0.164",
            "os": "rocky-9",
            "cpu_percent": 34.9,
            "memory_used_mb": 5853,
            "uptime_seconds": 719010,
            "created_at": 1783625146,
            "migration_id": None,
        }
    ]
}
MIGRATION = {"migration_id": "abc123def456", "status": "initiated"}
INSTANCES = [
    {
        "id": "inst_abc123",
        "name": "my-bot",
        "status": "running",
        "region": "us-east-1",
        "created_at": 1710410400,
        "updated_at": 1710410700,
        "health": {
            "cpu_percent": 12.5,
            "memory_mb": 256,
            "disk_mb": 1024,
            "last_heartbeat": 1710410700,
            "uptime_secs": 3600,
        },
    }
]

# -- strategies ---------------------------------------------------------------------------------

FIELD_NAMES = sorted(
    {
        *DASHBOARD,
        *ACCOUNT,
        *ACCOUNT["api_token"],
        *MACHINE_LIST["value"][0],
        *MACHINE_INFO,
        *MACHINE_INFO["Current"],
        *TOKENS,
        *HOSTS["hosts"][0],
        *VMS["vms"][0],
        *INSTANCES[0],
        *INSTANCES[0]["health"],
        "hosts",
        "vms",
        "error",
        "message",
    }
)
TRICKY = st.sampled_from(
    [
        "",
        "true",
        "false",
        "maybe",
        "1",
        "0",
        "n/a",
        "1.5",
        "-3",
        "1e400",
        "NaN",
        "-inf",
        "$ 12.00",
        "-",
        "2024-03-14T10:00:00Z",
        "2024-13-45",
        "1710410400000",
        "running",
        "internal-error",
        "invalid_api_credentials",
        "machine_not_found",
        "invalid_state",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(max_size=12)
    | TRICKY
)
KEYS = st.sampled_from(FIELD_NAMES) | st.text(max_size=6)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=24,
)


def paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += paths(v, (*prefix, i))
    return found


@st.composite
def mutated(draw: st.DrawFn, example: Any) -> Any:
    """``example`` with one to three places deleted or given a random value."""
    doc = copy.deepcopy(example)
    for _ in range(draw(st.integers(1, 3))):
        where = paths(doc)
        if not where:
            return draw(JSON)
        path = draw(st.sampled_from(where))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON)
    return doc


def shaped(example: Any) -> st.SearchStrategy[Any]:
    """The example's structure with every field optional and possibly any scalar: reaches
    every field of the adapters with odd values (huge floats, strings, booleans...)."""
    if isinstance(example, dict):
        return st.fixed_dictionaries(
            {}, optional={k: shaped(v) | SCALARS for k, v in example.items()}
        )
    if isinstance(example, list) and example:
        return st.lists(shaped(example[0]), max_size=3)
    return st.just(example) | SCALARS


def payloads(example: Any) -> st.SearchStrategy[Any]:
    return shaped(example) | mutated(example) | JSON


HUGE = 1.7976931348623157e308
EDGES = [0, -1, 1e-300, 1e19, 2**63, -(2**63), 1e300, 1e306, HUGE, -HUGE, HUGE, -HUGE]
FINITE = st.sampled_from(EDGES) | st.floats(allow_nan=False, allow_infinity=False)
BY_READER: dict[Any, st.SearchStrategy[Any]] = {
    to_float: FINITE,
    to_timestamp: FINITE,
    joy.to_amount: FINITE,
    to_int: st.sampled_from([0, -1, 2**63, -(2**63), 2**70])
    | st.integers(min_value=-(2**70), max_value=2**70),
    to_bool: st.booleans(),
    to_text: st.text(max_size=10),
}


def models(cls: type[BaseModel]) -> st.SearchStrategy[Any]:
    """Valid instances of a wire model with extreme values in every field (huge and tiny
    numbers, empty strings, nested models or none), to drive the adapters."""
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, info in cls.model_fields.items():
        readers = [m.func for m in info.metadata if isinstance(m, BeforeValidator)]
        if readers:
            strategy = BY_READER[readers[0]]
            if info.is_required():
                strategy = st.text(min_size=1, max_size=10)
        else:
            inner = [a for a in typing.get_args(info.annotation) if a is not type(None)]
            nested = inner[0] if inner else info.annotation
            if typing.get_origin(nested) is list:
                strategy = st.lists(models(typing.get_args(nested)[0]), max_size=3)
            elif isinstance(nested, type) and issubclass(nested, BaseModel):
                strategy = models(nested)
            else:
                strategy = JSON
        key = info.alias or name
        if info.is_required():
            required[key] = strategy
        else:
            optional[key] = strategy | st.none()
    return st.fixed_dictionaries(required, optional=optional).map(cls.model_validate)


def reads(reader: Any, data: Any) -> Any:
    """``reader(data)``, or None when it raises a ProviderError; anything else escapes."""
    try:
        return reader(data)
    except ProviderError as err:
        assert err.kind in {"bad_payload", "auth", "not_found", "rejected", "server"}
        assert "\n" not in str(err)
        return None


def joy_client() -> joy.JoyClient:
    acc = JoyAccount(name="x", base_url="http://joy.test", api_token="t", api_key="k")
    return joy.JoyClient(acc, {"api_token": SecretStr("t" * 8), "api_key": SecretStr("k" * 8)})


def cockpit_client() -> cockpit.CockpitClient:
    acc = CockpitAccount(name="c", base_url="http://c.test", username="u", password="p")
    return cockpit.CockpitClient(acc, {"password": SecretStr("p" * 8)})


def instances_client() -> instances.InstancesClient:
    acc = InstancesAccount(name="i", base_url="http://i.test", api_key="k")
    return instances.InstancesClient(acc, {"api_key": SecretStr("k" * 8)})


JOY, COCKPIT, INSTANCES_CLIENT = joy_client(), cockpit_client(), instances_client()


def test_the_examples_themselves_read_cleanly():
    """The fuzz starts from payloads that read: otherwise it would prove little."""
    assert joy.read_dashboardinfo(DASHBOARD).amount == 932.91
    assert joy.read_account_info(ACCOUNT).api_token.api_key == "****cdef"
    assert len(joy.read_machine_list(MACHINE_LIST)) == 2
    assert joy.read_machine_info(MACHINE_INFO).current.status == "running"
    assert cockpit.read_hosts(HOSTS)[0].status == "connected"
    assert cockpit.read_vms(VMS)[0].vcpus == 2
    assert cockpit.read_tokens(TOKENS, "login").expires_in == 3600
    assert cockpit.read_migration(MIGRATION, "migrate").status == "initiated"
    assert instances.read_instance_list(INSTANCES)[0].health.memory_mb == 256


# -- joy ----------------------------------------------------------------------------------------


@FUZZ
@given(payloads(DASHBOARD))
def test_fuzz_dashboardinfo(data):
    dash = reads(joy.read_dashboardinfo, data)
    if dash is not None:
        assert all(isinstance(v, int | float) for v in dash.figures().values())


@FUZZ
@given(payloads(ACCOUNT))
def test_fuzz_account_info(data):
    account = reads(joy.read_account_info, data)
    if account is not None and account.api_token is not None:
        for value in (account.api_token.api_token, account.api_token.api_key):
            assert value is None or value.startswith("****")
        assert account.amount_value is None or isinstance(account.amount_value, float)


@FUZZ
@given(payloads(MACHINE_LIST), payloads(MACHINE_INFO))
def test_fuzz_machine_list_and_info_and_the_adapter(list_data, info_data):
    machines = reads(joy.read_machine_list, list_data)
    info = reads(joy.read_machine_info, info_data)
    for item in machines or []:
        resource = JOY.to_resource(item, info)
        assert isinstance(resource, Resource) and resource.id == item.ihash
        assert isinstance(resource.status, Status)


@FUZZ
@given(payloads(MACHINE_INFO))
def test_fuzz_envelopes(data):
    err = reads(lambda d: joy.envelope_error("machine_info", d), data)
    assert err is None or isinstance(err, ProviderError)


@FUZZ
@given(payloads(MACHINE_LIST), st.integers(0, 4000), st.booleans())
def test_fuzz_truncated_and_double_encoded_answers(data, cut, double):
    text = json.dumps(data)
    if double:
        text = json.dumps(text)
    content = text[:cut].encode()
    answer = reads(lambda c: joy.read_answer("machine_list", c), content)
    assert answer is None or isinstance(answer, dict)


# -- cockpit ------------------------------------------------------------------------------------


@FUZZ
@given(payloads(HOSTS), payloads(VMS))
def test_fuzz_hosts_vms_and_the_adapters(hosts_data, vms_data):
    hosts = reads(cockpit.read_hosts, hosts_data) or []
    vms = reads(cockpit.read_vms, vms_data) or []
    names = {h.id: h.hostname or h.id for h in hosts}
    for host in hosts:
        assert COCKPIT.host_resource(host).kind == "host"
    for vm in vms:
        assert COCKPIT.vm_resource(vm, names).kind == "vm"


@FUZZ
@given(payloads(VMS["vms"][0]), payloads(TOKENS), payloads(MIGRATION))
def test_fuzz_vm_tokens_migration(vm_data, token_data, migration_data):
    vm = reads(cockpit.read_vm, vm_data)
    if vm is not None:
        assert COCKPIT.vm_resource(vm).id == vm.id
    tokens = reads(lambda d: cockpit.read_tokens(d, "login"), token_data)
    assert tokens is None or tokens.token
    reads(lambda d: cockpit.read_migration(d, "migrate"), migration_data)


# -- instances ----------------------------------------------------------------------------------


@FUZZ
@given(payloads(INSTANCES) | payloads({"instances": INSTANCES}), payloads(INSTANCES[0]))
def test_fuzz_instances_and_the_adapter(list_data, one_data):
    for inst in reads(instances.read_instance_list, list_data) or []:
        assert INSTANCES_CLIENT.to_resource(inst).id == inst.id
    one = reads(instances.read_instance, one_data)
    if one is not None:
        assert INSTANCES_CLIENT.to_resource(one).kind == "instance"


# -- the adapters, on any valid model ----------------------------------------------------------


@FUZZ_ADAPTERS
@given(models(joy.MachineListItem), models(joy.MachineInfo) | st.none())
def test_joy_adapter_builds_a_resource_from_any_valid_models(item, info):
    resource = JOY.to_resource(item, info)
    assert resource.id == item.ihash and isinstance(resource.status, Status)
    assert resource.memory_total is None or isinstance(resource.memory_total, int)


@FUZZ_ADAPTERS
@given(models(cockpit.CockpitHost), models(cockpit.CockpitVM))
def test_cockpit_adapters_build_resources_from_any_valid_models(host, vm):
    assert COCKPIT.host_resource(host).id == host.id
    assert COCKPIT.vm_resource(vm, {host.id: host.hostname or host.id}).id == vm.id


@FUZZ_ADAPTERS
@given(models(instances.Instance))
def test_instances_adapter_builds_a_resource_from_any_valid_model(inst):
    resource = INSTANCES_CLIENT.to_resource(inst)
    assert resource.id == inst.id and resource.kind == "instance"


# -- the shared pieces --------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
def test_fuzz_decode_json(content):
    try:
        value = decode_json(content, "call")
    except BadPayloadError as err:
        assert err.call == "call" and err.__context__ is None
    else:
        assert not isinstance(value, str)


@FUZZ
@given(SCALARS | JSON)
def test_fuzz_tolerant_readers_raise_only_value_error(value):
    for reader in (to_float, to_int, to_bool, to_timestamp):
        try:
            reader(value)
        except ValueError:
            pass


@pytest.mark.parametrize("cut", [1, 10, 50, 100])
def test_cut_documents_are_bad_payloads_naming_the_call(cut):
    content = json.dumps(MACHINE_INFO).encode()[:cut]
    with pytest.raises(BadPayloadError) as info:
        joy.read_answer("machine_info", content)
    assert info.value.call == "machine_info"
