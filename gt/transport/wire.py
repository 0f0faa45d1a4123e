"""The remote mode's wire format: every message GT sends over ZeroMQ, declared here.

A message is a ZeroMQ multipart message: one *header* frame (a ``Header``
union member) and, for the kinds that carry data, one *body* frame.  Both are
MessagePack encoded by msgspec against the Structs below, so decoding checks
every field's type and range in C before any GT code sees it: op codes below
``NUM_OPCODES``, ids in ``[1, MAX_ID]``, dtype names from ``DTYPES``, shapes
whose element count matches the data's byte length.  Nothing that arrives is
unpickled or evaluated; a message that fails these checks raises ``WireError``.

Headers are what the dispatcher reads; bodies (instruction streams from a
client, replies from a worker) pass through it untouched, so routing costs one
small decode per message whatever the payload.

Op params (static arguments: dims, shapes, index keys, reduction names, dtypes)
are nested tuples of None, bool, int, float, str and dtypes.  On the wire they
are MessagePack arrays of those, a dtype being the extension type ``EXT_DTYPE``
holding its name; ``decode_params`` turns them back into exactly the tuples the
op functions take.
"""
from __future__ import annotations

import struct
from typing import Annotated, Any, Union

import msgspec
import torch
from msgspec import Meta, Raw, Struct

from gt.ops import NUM_OPCODES

PROTOCOL_VERSION = 3
MAX_ID = 2 ** 62
MAX_DIMS = 64
MAX_INPUTS = 64   # tensors one op may take (the client splits a longer cat or stack)
MAX_SCALARS = 64
MAX_PARAM_DEPTH = 4
MAX_PARAM_ITEMS = 256
MAX_STRING = 256
EXT_DTYPE = 1

# The dtypes a tensor may have on the wire (a name outside this table is refused).
DTYPES: dict[str, torch.dtype] = {
    name: getattr(torch, name)
    for name in ("float16", "bfloat16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool")
}
DTYPE_NAMES = {dt: name for name, dt in DTYPES.items()}


class WireError(ValueError):
    """A message that does not match the declared schema (or breaks a limit)."""


TensorId = Annotated[int, Meta(ge=1, le=MAX_ID)]
OpCode = Annotated[int, Meta(ge=0, lt=NUM_OPCODES)]
Dim = Annotated[int, Meta(ge=0, le=2 ** 40)]
Shape = Annotated[tuple[Dim, ...], Meta(max_length=MAX_DIMS)]
DTypeName = Annotated[str, Meta(max_length=16)]
Text = Annotated[str, Meta(max_length=4096)]
Name = Annotated[str, Meta(max_length=MAX_STRING)]
Count = Annotated[int, Meta(ge=0, le=2 ** 62)]
Secret = Annotated[bytes, Meta(max_length=64)]


class _Msg(Struct, array_like=True, frozen=True, gc=False):
    """Base: messages are encoded as arrays whose first element is the kind tag.  Not tracked by the
    cyclic garbage collector (gc=False): a message holds only numbers, strings, bytes and tuples,
    lists and dicts of those, so it is never part of a reference cycle (decoding a 72-item
    instruction list took 10.3 us untracked against 11.4 tracked, 2-core VM)."""


# -- headers (frame 0) ---------------------------------------------------------------
class ClientHello(_Msg, tag=1):
    """client -> dispatcher, first message of a connection.  ``worker``: the worker this connection
    must be given (one of the group the dispatcher formed for this client); "": the least loaded."""
    version: int
    token: Text
    pid: int
    worker: Name = ""


class WorkerHello(_Msg, tag=2):
    """worker -> dispatcher, first message (and again after a lost dispatcher).  ``direct``: the
    endpoint where the worker takes its clients' direct connections ("": none); ``local``: its plain
    Unix socket for clients on its machine (``unix://@name``, gt.transport.local; "": none)."""
    version: int
    token: Text
    name: Name
    device: Name
    pid: int
    direct: Name = ""
    local: Name = ""


class Welcome(_Msg, tag=3):
    """dispatcher -> client/worker: accepted.  ``worker``/``device``: the client's worker.
    ``log_shapes``: the dispatcher keeps an instruction log, so ops carry their result's shape (and a
    worker copies the streams it gets directly to the dispatcher).  ``direct``/``secret``: where the
    client may reach its worker directly, and the session's secret it presents there; ``local``: the
    worker's endpoint for a client on its machine (preferred where it is reachable)."""
    worker: Name
    device: Name
    session: Count
    max_message_bytes: Count
    log_shapes: bool = False
    direct: Name = ""
    secret: Secret = b""
    local: Name = ""


class Refused(_Msg, tag=4):
    """dispatcher -> peer: not accepted (wrong token, protocol version)."""
    reason: Text


class Ping(_Msg, tag=5):
    """heartbeat socket -> dispatcher: the link (data socket's routing id) is alive."""
    link: Annotated[bytes, Meta(max_length=64)]


class Pong(_Msg, tag=6):
    """dispatcher -> heartbeat socket.  ``known`` is False once the dispatcher has forgotten the link."""
    known: bool


class Stream(_Msg, tag=7):
    """client -> dispatcher, body: an instruction list for the client's worker."""


class Deliver(_Msg, tag=8):
    """dispatcher -> worker, body: a client's instruction list."""
    session: Count


class Reply(_Msg, tag=9):
    """worker -> dispatcher, body: an answer for a session's client."""
    session: Count


class Forward(_Msg, tag=10):
    """dispatcher -> client, body: its worker's answer."""


class Bye(_Msg, tag=11):
    """client -> dispatcher: closing; free this client's tensors now."""


class SessionOpen(_Msg, tag=12):
    """dispatcher -> worker: a client was assigned to you; it may connect directly presenting ``secret``."""
    session: Count
    secret: Secret = b""


class SessionClose(_Msg, tag=13):
    """dispatcher -> worker: the client left or died; drop its tensors."""
    session: Count


class StatsRequest(_Msg, tag=14):
    """client -> dispatcher: every worker's statistics."""
    req: Count


class StatsQuery(_Msg, tag=15):
    """dispatcher -> worker: your statistics (``session``'s own too when it is yours; 0: none)."""
    req: Count
    session: Count


class StatsAnswer(_Msg, tag=16):
    """worker -> dispatcher."""
    req: Count
    stats: dict[str, Any]


class StatsResult(_Msg, tag=17):
    """dispatcher -> client: ``{worker name: stats}``."""
    req: Count
    stats: dict[str, dict[str, Any]]


class WorkerLost(_Msg, tag=18):
    """dispatcher -> client: the worker holding this client's tensors is gone."""
    worker: Name
    reason: Text


class Error(_Msg, tag=19):
    """dispatcher -> client: a message of this client's was refused."""
    reason: Text


class DirectHello(_Msg, tag=20):
    """client -> worker's direct socket, its first message: this connection carries ``session``'s streams
    (each message after it is an instruction list, one frame)."""
    session: Count
    secret: Secret


class DirectWelcome(_Msg, tag=21):
    """worker -> client: the direct connection is admitted (a ``Refused`` says why not)."""
    session: Count


class StreamCopy(_Msg, tag=22):
    """worker -> dispatcher, body: a stream ``session``'s client sent directly, for the instruction log."""
    session: Count


class GroupRequest(_Msg, tag=23):
    """client -> dispatcher: form a data-parallel group of ``n`` idle workers for this client."""
    req: Count
    n: Count


class GroupJoin(_Msg, tag=24):
    """dispatcher -> worker: join process group ``group`` as ``rank`` of ``world``, meeting at ``init``
    (``tcp://host:port``); "" (rank 0): open the rendezvous and report its address."""
    group: Name
    rank: Count
    world: Count
    init: Text = ""


class GroupStatus(_Msg, tag=25):
    """worker -> dispatcher: rank 0's rendezvous address (``init``), then ``ready`` once the process
    group is formed; ``error``: joining failed."""
    group: Name
    init: Text = ""
    ready: bool = False
    error: Text = ""


class GroupFormed(_Msg, tag=26):
    """dispatcher -> client: the group's workers in rank order, or why there is none (``retry``: not
    enough idle workers yet)."""
    req: Count
    workers: list[Name]
    error: Text = ""
    retry: bool = False


class GroupLeave(_Msg, tag=27):
    """dispatcher -> worker: the group's client left; leave the process group."""
    group: Name


Header = Union[ClientHello, WorkerHello, Welcome, Refused, Ping, Pong, Stream, Deliver, Reply, Forward, Bye,
               SessionOpen, SessionClose, StatsRequest, StatsQuery, StatsAnswer, StatsResult, WorkerLost, Error,
               DirectHello, DirectWelcome, StreamCopy, GroupRequest, GroupJoin, GroupStatus, GroupFormed, GroupLeave]


# -- instruction stream (client -> worker body) --------------------------------------
class Op(_Msg, tag=0):
    """``Worker.submit(opcode, result, inputs, params, scalars)``."""
    opcode: OpCode
    result: TensorId
    inputs: Annotated[tuple[TensorId, ...], Meta(max_length=MAX_INPUTS)]
    params: Raw
    scalars: Annotated[tuple[Union[bool, int, float], ...], Meta(max_length=MAX_SCALARS)]
    shape: Union[Shape, None] = None  # the result's shape, sent only for the dispatcher's instruction log


class Free(_Msg, tag=1):
    id: TensorId


class Boundary(_Msg, tag=2):
    """``Worker.mark_boundary(region)``: (compile, dynamic) or True opens a region, False closes one."""
    region: Union[bool, tuple[Union[bool, None], Union[bool, None]], None] = None


class Put(_Msg, tag=3):
    id: TensorId
    dtype: DTypeName
    shape: Shape
    data: bytearray


class Fetch(_Msg, tag=4):
    req: Count
    id: TensorId


class Sync(_Msg, tag=5):
    """Flow control: the worker answers ``Ack(req)`` once it has applied everything before this."""
    req: Count


Item = Union[Op, Free, Boundary, Put, Fetch, Sync]


# -- answers (worker -> client body) --------------------------------------------------
class Value(_Msg, tag=0):
    req: Count
    dtype: DTypeName
    shape: Shape
    data: bytearray


class Failure(_Msg, tag=1):
    req: Count
    message: Text


class Ack(_Msg, tag=2):
    req: Count


Answer = Union[Value, Failure, Ack]
# On the direct path every message is one frame (a frame fewer each way is measurably faster): from the
# client a ``DirectHello``, then instruction lists; from the worker an answer, or one of these headers.
DirectAnswer = Union[Value, Failure, Ack, Refused, WorkerLost, Error, DirectWelcome]


# -- codecs ----------------------------------------------------------------------------
def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, torch.dtype):
        name = DTYPE_NAMES.get(obj)
        if name is None:
            raise TypeError(f"GT cannot send dtype {obj} (supported: {', '.join(DTYPES)})")
        return msgspec.msgpack.Ext(EXT_DTYPE, name.encode())
    if isinstance(obj, tuple):  # torch.Size and other tuple subclasses
        return tuple(obj)
    raise TypeError(f"GT cannot send a {type(obj).__name__} as an op parameter")


def _ext_hook(code: int, data: memoryview) -> Any:
    if code == EXT_DTYPE:
        dtype = DTYPES.get(bytes(data).decode("ascii", "replace"))
        if dtype is not None:
            return dtype
    raise WireError(f"unknown extension value (code {code})")


_encoder = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
encode = _encoder.encode
_header_decoder = msgspec.msgpack.Decoder(Header)
_items_decoder = msgspec.msgpack.Decoder(Annotated[list[Item], Meta(max_length=1 << 20)])
_answer_decoder = msgspec.msgpack.Decoder(Answer)
_direct_decoder = msgspec.msgpack.Decoder(DirectAnswer)
_params_decoder = msgspec.msgpack.Decoder(ext_hook=_ext_hook)


def _decoder(decoder: msgspec.msgpack.Decoder, what: str):
    def decode(buf) -> Any:
        try:
            return decoder.decode(buf)
        # Any failure on bytes from the network means a malformed message: besides its
        # own errors msgspec raises UnicodeDecodeError (bad UTF-8), RecursionError, ...
        except Exception as exc:  # noqa: BLE001
            raise WireError(f"malformed {what}: {type(exc).__name__}: {exc}") from None
    decode.__name__ = f"decode_{what}"
    return decode


decode_header = _decoder(_header_decoder, "header")
decode_items = _decoder(_items_decoder, "instruction list")
decode_answer = _decoder(_answer_decoder, "answer")
decode_direct = _decoder(_direct_decoder, "direct answer")
_decode_any = _decoder(_params_decoder, "op params")


def _check_param(value: Any, depth: int) -> Any:
    """``value`` with lists (and tuples) turned into tuples, or WireError when it holds anything else."""
    t = type(value)
    if value is None or t is bool or t is int or t is float or isinstance(value, torch.dtype):
        return value
    if t is str:
        if len(value) > MAX_STRING:
            raise WireError(f"op param string of {len(value)} characters (limit {MAX_STRING})")
        return value
    if isinstance(value, (list, tuple)):
        if depth >= MAX_PARAM_DEPTH:
            raise WireError(f"op params nested deeper than {MAX_PARAM_DEPTH}")
        if len(value) > MAX_PARAM_ITEMS:
            raise WireError(f"op param sequence of {len(value)} items (limit {MAX_PARAM_ITEMS})")
        return tuple(_check_param(v, depth + 1) for v in value)
    raise WireError(f"op params may not hold a {t.__name__}")


def check_params(params: tuple) -> None:
    """WireError when a worker would refuse ``params`` (the client checks before sending)."""
    _check_param(params, 0)


def check_op(input_ids: tuple, params: tuple, scalars: tuple) -> None:
    """WireError naming the limit an op breaks: the wire's limits are the client's limits."""
    if len(input_ids) > MAX_INPUTS:
        raise WireError(f"an op of {len(input_ids)} tensors exceeds GT's remote limit of {MAX_INPUTS} inputs")
    if len(scalars) > MAX_SCALARS:
        raise WireError(f"an op of {len(scalars)} numbers exceeds GT's remote limit of {MAX_SCALARS}")
    if params:
        check_params(params)


def requests_in(body) -> list[int]:
    """The request numbers of the ``Fetch`` and ``Sync`` items in a body that failed to decode,
    read as loosely as MessagePack allows, so that every request a client waits on gets an answer."""
    try:
        items = msgspec.msgpack.decode(body)
    except Exception:  # noqa: BLE001 - not MessagePack at all: nothing to answer
        return []
    if type(items) is not list:
        return []
    reqs = []
    for item in items:
        if (type(item) is list and len(item) >= 2 and item[0] in (4, 5) and type(item[1]) is int
                and 0 <= item[1] <= 2 ** 62):
            reqs.append(item[1])
    return reqs


def decode_params(raw: Raw) -> tuple:
    """An op's params as the op functions take them (nested tuples; dtypes as torch.dtype)."""
    value = _decode_any(raw)
    if type(value) is not list:
        raise WireError(f"op params must be an array, got {type(value).__name__}")
    return _check_param(value, 0)


# -- tensors -----------------------------------------------------------------------------
# One element of each dtype as struct packs the Python number torch's item() gives (bfloat16 has no
# struct format): a one-element value (a read's loss) crosses the wire without NumPy or a tensor.
_NUMBER = {name: struct.Struct("=" + code) for name, code in (
    ("float16", "e"), ("float32", "f"), ("float64", "d"), ("uint8", "B"), ("int8", "b"), ("int16", "h"),
    ("int32", "i"), ("int64", "q"), ("bool", "?"))}


def tensor_payload(value: torch.Tensor) -> tuple[str, tuple, bytes | memoryview]:
    """(dtype name, shape, raw bytes) of a tensor, for a ``Put`` or a ``Value``."""
    name = DTYPE_NAMES.get(value.dtype)
    if name is None:
        raise TypeError(f"GT cannot send a tensor of dtype {value.dtype} (supported: {', '.join(DTYPES)})")
    number = _NUMBER.get(name)
    if number is not None and value.numel() == 1:  # the common read, a loss: its number, packed
        x = value.item()
        if x == x:  # a NaN's payload bits may not survive a Python float: sent as they are, below
            return name, tuple(value.shape), number.pack(x)
    if value.device.type == "cpu" and value.dtype is not torch.bfloat16 and value.is_contiguous():
        try:  # NumPy's view of the bytes, without a copy
            return name, tuple(value.shape), memoryview(value.detach().numpy()).cast("B")
        except TypeError:  # an empty tensor, or a size-1 dimension of stride 0: packed below
            pass
    flat = value.detach().to("cpu").reshape(-1)
    if flat.stride(0) != 1:  # an expanded, size-1 or empty view: a packed copy of its own
        flat = flat.clone(memory_format=torch.contiguous_format)
    return name, tuple(value.shape), memoryview(flat.view(torch.uint8).numpy()).cast("B")


def item_from(dtype_name: str, shape: tuple, data: bytearray):
    """The Python number of a one-element ``Value``, as torch's item() gives it, without building a tensor."""
    number = _NUMBER.get(dtype_name)
    if number is not None and len(data) == number.size:
        return number.unpack(data)[0]
    return tensor_from(dtype_name, shape, data).item()


def tensor_from(dtype_name: str, shape: tuple, data: bytearray) -> torch.Tensor:
    """The tensor a ``Put`` or ``Value`` describes, after checking dtype and byte length."""
    dtype = DTYPES.get(dtype_name)
    if dtype is None:
        raise WireError(f"unknown dtype {dtype_name!r} (supported: {', '.join(DTYPES)})")
    numel = 1
    for n in shape:
        numel *= n
    itemsize = dtype.itemsize
    if numel * itemsize != len(data):
        raise WireError(f"tensor of shape {tuple(shape)} and dtype {dtype_name} needs {numel * itemsize} bytes, "
                        f"the message holds {len(data)}")
    if numel == 0:
        return torch.empty(shape, dtype=dtype)
    flat = torch.frombuffer(data, dtype=dtype)
    return flat.reshape(shape) if shape else flat[0]  # a 0-d value (a read's loss) by the cheaper index
