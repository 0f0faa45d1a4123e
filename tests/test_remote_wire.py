"""The wire format alone (no processes): round trips, and every malformed input is a WireError."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from gt.config import ConfigError
from gt.transport import settings, wire
from gt.ops import NUM_OPCODES

DECODERS = (wire.decode_header, wire.decode_items, wire.decode_answer)


def test_params_round_trip_to_exactly_what_ops_take():
    params = ((3, 4), torch.float32, None, "mean", ((0, 3, 1), None, 2), True, 1, 1.0, -0.0)
    op = wire.decode_items(wire.encode([(0, 2, 5, (1, 2), params, (0.5, 2, False))]))[0]
    back = wire.decode_params(op.params)
    assert back == params
    assert [type(v) for v in back] == [type(v) for v in params]  # True, 1 and 1.0 stay distinct
    assert back[1] is torch.float32
    assert op.scalars == (0.5, 2, False) and type(op.scalars[2]) is bool
    assert wire.decode_params(wire.decode_items(wire.encode([(0, 0, 1, (), torch.Size([2, 3]), ())]))[0]
                              .params) == (2, 3)
    assert wire.decode_items(wire.encode([(2,), (2, True), (2, False), (2, (False, None)), (2, (None, True))])) == \
        [wire.Boundary(None), wire.Boundary(True), wire.Boundary(False), wire.Boundary((False, None)),
         wire.Boundary((None, True))]
    with pytest.raises(wire.WireError):
        wire.decode_items(wire.encode([(2, (1, "x"))]))


@pytest.mark.parametrize("params, problem", [
    ({"a": 1}, "must be an array"),
    ([{"a": 1}], "may not hold a dict"),
    ([b"xx"], "may not hold a bytes"),
    ([[[[[1]]]]], "nested deeper"),
    ([0] * (wire.MAX_PARAM_ITEMS + 1), "items"),
    (["x" * (wire.MAX_STRING + 1)], "characters"),
])
def test_bad_params_are_refused(params, problem):
    op = wire.decode_items(wire.encode([(0, 0, 1, (), params, ())]))[0]
    with pytest.raises(wire.WireError, match=problem):
        wire.decode_params(op.params)


def test_unknown_extension_dtype_is_refused():
    import msgspec
    body = msgspec.msgpack.encode([[0, 0, 1, [], [msgspec.msgpack.Ext(wire.EXT_DTYPE, b"object")], []]])
    with pytest.raises(wire.WireError, match="unknown extension"):
        wire.decode_params(wire.decode_items(body)[0].params)


@pytest.mark.parametrize("item, problem", [
    ((0, NUM_OPCODES, 1, (), (), ()), f"<= {NUM_OPCODES - 1}"),
    ((0, -1, 1, (), (), ()), ">= 0"),
    ((0, 0, 0, (), (), ()), ">= 1"),
    ((0, 0, wire.MAX_ID + 1, (), (), ()), "<="),
    ((0, 0, 1, ("1",), (), ()), "Expected `int`"),
    ((0, 0, 1, (), (), ("s",)), "Expected `bool | int | float`"),
    ((3, 1, "float32", (-1,), b""), ">= 0"),
    ((3, 1, "float32", (1,) * (wire.MAX_DIMS + 1), b""), "length <="),
    ((9,), "Invalid value 9"),
])
def test_items_are_checked_field_by_field(item, problem):
    with pytest.raises(wire.WireError, match=problem):
        wire.decode_items(wire.encode([item]))


ID_FIELDS = {  # an item with one id field set to ``v``, the rest valid
    "Op.result": lambda v: (0, 0, v, (), (), ()),
    "Op.inputs": lambda v: (0, 0, 1, (1, v), (), ()),
    "Free.id": lambda v: (1, v),
    "Put.id": lambda v: (3, v, "float32", (1,), b"\0" * 4),
    "Fetch.id": lambda v: (4, 1, v),
}


@pytest.mark.parametrize("field", ID_FIELDS)
def test_every_id_field_is_range_checked(field):
    make = ID_FIELDS[field]
    for good in (1, 2, wire.MAX_ID):
        assert len(wire.decode_items(wire.encode([make(good)]))) == 1
    for bad, problem in ((0, ">= 1"), (-1, ">= 1"), (-(2 ** 40), ">= 1"), (wire.MAX_ID + 1, f"<= {wire.MAX_ID}")):
        with pytest.raises(wire.WireError, match=problem):
            wire.decode_items(wire.encode([make(bad)]))


def test_op_limits_are_the_clients_limits():
    ids = tuple(range(1, wire.MAX_INPUTS + 2))
    wire.check_op(ids[:-1], (), ())
    wire.decode_items(wire.encode([(0, 0, 1, ids[:-1], (), ())]))
    with pytest.raises(wire.WireError, match=f"limit of {wire.MAX_INPUTS} inputs"):
        wire.check_op(ids, (), ())
    with pytest.raises(wire.WireError, match=f"length <= {wire.MAX_INPUTS}"):
        wire.decode_items(wire.encode([(0, 0, 1, ids, (), ())]))
    with pytest.raises(wire.WireError, match="numbers"):
        wire.check_op((), (), (1.0,) * (wire.MAX_SCALARS + 1))
    with pytest.raises(wire.WireError, match="characters"):
        wire.check_op((), ("x" * (wire.MAX_STRING + 1),), ())
    with pytest.raises(wire.WireError, match="may not hold a int64"):
        wire.check_op((), (np.int64(3),), ())
    wire.check_op((1, 2), (torch.Size([2, 3]), torch.float32, ((1, None), "mean")), (0.5, 2))


def test_requests_of_an_undecodable_body_are_found():
    body = wire.encode([(0, 0, 1, tuple(range(1, 70)), (), ()), (4, 7, 1), (1, 2), (5, 9), (4, -1, 1), (5, "x")])
    with pytest.raises(wire.WireError):
        wire.decode_items(body)
    assert wire.requests_in(body) == [7, 9]
    assert wire.requests_in(b"\xc1") == [] and wire.requests_in(wire.encode({"a": 1})) == []


def test_tensor_bytes_must_match_shape_and_dtype():
    for t in (torch.randn(3, 4), torch.arange(6, dtype=torch.int32).reshape(2, 3), torch.tensor(True),
              torch.zeros(0, 5), torch.randn(2, 2, dtype=torch.float64).t(), torch.ones(1).expand(3),
              torch.tensor([2.5], dtype=torch.float64).as_strided((1,), (0,)), torch.ones(1).expand(0)):
        name, shape, data = wire.tensor_payload(t)
        item = wire.decode_items(wire.encode([(3, 1, name, shape, data)]))[0]
        back = wire.tensor_from(item.dtype, item.shape, item.data)
        assert back.dtype == t.dtype and torch.equal(back, t)
    with pytest.raises(wire.WireError, match=r"needs 48 bytes, the message holds 47"):
        wire.tensor_from("float32", (3, 4), bytearray(47))
    with pytest.raises(wire.WireError, match="unknown dtype 'object'"):
        wire.tensor_from("object", (1,), bytearray(8))
    with pytest.raises(TypeError, match="cannot send a tensor of dtype torch.complex64"):
        wire.tensor_payload(torch.zeros(2, dtype=torch.complex64))


def test_random_and_mutated_bytes_only_ever_raise_wire_errors():
    rng = np.random.default_rng(0)
    valid = [wire.encode(m) for m in (wire.ClientHello(1, "tok", 3), wire.Deliver(4), wire.StatsAnswer(1, {"a": 1}))]
    valid.append(wire.encode([(0, 1, 5, (1, 2), ((3, 4), torch.float32), (0.5,)), (3, 1, "float32", (2,), b"\0" * 8)]))
    valid.append(wire.encode(wire.Value(1, "float32", (1,), b"\0" * 4)))
    samples = [rng.bytes(int(rng.integers(0, 80))) for _ in range(4000)]
    for base in valid:
        for _ in range(800):
            buf = bytearray(base)
            for _ in range(int(rng.integers(1, 4))):
                buf[int(rng.integers(0, len(buf)))] = int(rng.integers(0, 256))
            samples.append(bytes(buf))
    samples.append(pickle.dumps(object()))
    samples.append(b"\xdd\xff\xff\xff\xff" + b"\x91" * 100_000)  # a huge array header and deep nesting
    decoded = 0
    for buf in samples:
        for decode in DECODERS:
            try:
                decode(buf)
                decoded += 1
            except wire.WireError:
                pass
        try:
            for item in wire.decode_items(buf):
                if type(item) is wire.Op:
                    wire.decode_params(item.params)
        except wire.WireError:
            pass
    assert decoded > 0  # some mutations stay well-formed, and those decode


def test_addresses_and_settings_name_the_problem(monkeypatch):
    assert settings.parse_address("localhost:12345") == ("localhost", 12345)
    assert settings.parse_address("[::1]:80") == ("::1", 80)
    for bad in ("localhost", "host:0", "host:70000", ":12", "host:port"):
        with pytest.raises(ValueError, match="bad GT server address"):
            settings.parse_address(bad)
    monkeypatch.setenv("GT_HEARTBEAT_TIMEOUT", "0.5")
    with pytest.raises(ConfigError, match=r"heartbeat timeout \(0.5 s, GT_HEARTBEAT_TIMEOUT\) must exceed"):
        settings.from_env()
    monkeypatch.setenv("GT_HEARTBEAT_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="GT_HEARTBEAT_TIMEOUT='soon'"):
        settings.from_env()
    monkeypatch.delenv("GT_HEARTBEAT_TIMEOUT")
    monkeypatch.setenv("GT_SERVER", "nohost")
    with pytest.raises(ConfigError, match="GT_SERVER: bad GT server address"):
        settings.from_env()


def test_default_timeouts_report_a_lost_peer_within_15_seconds(monkeypatch):
    for name in ("GT_HEARTBEAT_INTERVAL", "GT_HEARTBEAT_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    cfg = settings.from_env()
    assert cfg.heartbeat_interval + cfg.heartbeat_timeout <= 15
