# mypy: ignore-errors
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegistrationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REGISTRATION_STATUS_UNSPECIFIED: _ClassVar[RegistrationStatus]
    REGISTRATION_STATUS_APPROVED: _ClassVar[RegistrationStatus]
    REGISTRATION_STATUS_PENDING: _ClassVar[RegistrationStatus]

class TaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_STATE_UNSPECIFIED: _ClassVar[TaskState]
    TASK_STATE_RUNNING: _ClassVar[TaskState]
    TASK_STATE_SUCCEEDED: _ClassVar[TaskState]
    TASK_STATE_FAILED: _ClassVar[TaskState]

class QueryKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUERY_KIND_UNSPECIFIED: _ClassVar[QueryKind]
    QUERY_KIND_LIST_PORTS: _ClassVar[QueryKind]
    QUERY_KIND_LIST_SERVICES: _ClassVar[QueryKind]
REGISTRATION_STATUS_UNSPECIFIED: RegistrationStatus
REGISTRATION_STATUS_APPROVED: RegistrationStatus
REGISTRATION_STATUS_PENDING: RegistrationStatus
TASK_STATE_UNSPECIFIED: TaskState
TASK_STATE_RUNNING: TaskState
TASK_STATE_SUCCEEDED: TaskState
TASK_STATE_FAILED: TaskState
QUERY_KIND_UNSPECIFIED: QueryKind
QUERY_KIND_LIST_PORTS: QueryKind
QUERY_KIND_LIST_SERVICES: QueryKind

class RegisterRequest(_message.Message):
    __slots__ = ("hostname", "public_key", "labels", "token", "os", "architecture", "version", "name")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    public_key: bytes
    labels: _containers.ScalarMap[str, str]
    token: str
    os: str
    architecture: str
    version: str
    name: str
    def __init__(self, hostname: _Optional[str] = ..., public_key: _Optional[bytes] = ..., labels: _Optional[_Mapping[str, str]] = ..., token: _Optional[str] = ..., os: _Optional[str] = ..., architecture: _Optional[str] = ..., version: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("agent_id", "agent_token", "status", "heartbeat_interval_ms")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    agent_token: str
    status: RegistrationStatus
    heartbeat_interval_ms: int
    def __init__(self, agent_id: _Optional[str] = ..., agent_token: _Optional[str] = ..., status: _Optional[_Union[RegistrationStatus, str]] = ..., heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class AgentMessage(_message.Message):
    __slots__ = ("hello", "heartbeat", "task_progress", "check_result", "query_result")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    TASK_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CHECK_RESULT_FIELD_NUMBER: _ClassVar[int]
    QUERY_RESULT_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    heartbeat: HeartbeatPing
    task_progress: TaskProgress
    check_result: CheckResult
    query_result: QueryResult
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., heartbeat: _Optional[_Union[HeartbeatPing, _Mapping]] = ..., task_progress: _Optional[_Union[TaskProgress, _Mapping]] = ..., check_result: _Optional[_Union[CheckResult, _Mapping]] = ..., query_result: _Optional[_Union[QueryResult, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("agent_token",)
    AGENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agent_token: str
    def __init__(self, agent_token: _Optional[str] = ...) -> None: ...

class HeartbeatPing(_message.Message):
    __slots__ = ("seq", "metrics", "version")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    SEQ_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    seq: int
    metrics: _containers.ScalarMap[str, float]
    version: str
    def __init__(self, seq: _Optional[int] = ..., metrics: _Optional[_Mapping[str, float]] = ..., version: _Optional[str] = ...) -> None: ...

class TaskProgress(_message.Message):
    __slots__ = ("task_id", "state", "percent", "message")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    state: TaskState
    percent: int
    message: str
    def __init__(self, task_id: _Optional[str] = ..., state: _Optional[_Union[TaskState, str]] = ..., percent: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class CheckResult(_message.Message):
    __slots__ = ("check_id", "passed", "detail")
    CHECK_ID_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    check_id: str
    passed: bool
    detail: str
    def __init__(self, check_id: _Optional[str] = ..., passed: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class ServerMessage(_message.Message):
    __slots__ = ("ack", "task", "check", "inventory_request", "terminal_request", "query")
    ACK_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    INVENTORY_REQUEST_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_REQUEST_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    ack: HeartbeatAck
    task: Task
    check: Check
    inventory_request: InventoryRequest
    terminal_request: TerminalRequest
    query: Query
    def __init__(self, ack: _Optional[_Union[HeartbeatAck, _Mapping]] = ..., task: _Optional[_Union[Task, _Mapping]] = ..., check: _Optional[_Union[Check, _Mapping]] = ..., inventory_request: _Optional[_Union[InventoryRequest, _Mapping]] = ..., terminal_request: _Optional[_Union[TerminalRequest, _Mapping]] = ..., query: _Optional[_Union[Query, _Mapping]] = ...) -> None: ...

class HeartbeatAck(_message.Message):
    __slots__ = ("seq", "server_time_unix_nanos")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_UNIX_NANOS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    server_time_unix_nanos: int
    def __init__(self, seq: _Optional[int] = ..., server_time_unix_nanos: _Optional[int] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("task_id", "kind", "params", "steps")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    kind: str
    params: _containers.ScalarMap[str, str]
    steps: int
    def __init__(self, task_id: _Optional[str] = ..., kind: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., steps: _Optional[int] = ...) -> None: ...

class Check(_message.Message):
    __slots__ = ("check_id", "name")
    CHECK_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    check_id: str
    name: str
    def __init__(self, check_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class InventoryRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class Package(_message.Message):
    __slots__ = ("name", "version", "arch")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    arch: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., arch: _Optional[str] = ...) -> None: ...

class InventoryChunk(_message.Message):
    __slots__ = ("agent_token", "request_id", "packages")
    AGENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    agent_token: str
    request_id: str
    packages: _containers.RepeatedCompositeFieldContainer[Package]
    def __init__(self, agent_token: _Optional[str] = ..., request_id: _Optional[str] = ..., packages: _Optional[_Iterable[_Union[Package, _Mapping]]] = ...) -> None: ...

class InventorySummary(_message.Message):
    __slots__ = ("agent_id", "request_id", "chunks_received", "packages_received")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    request_id: str
    chunks_received: int
    packages_received: int
    def __init__(self, agent_id: _Optional[str] = ..., request_id: _Optional[str] = ..., chunks_received: _Optional[int] = ..., packages_received: _Optional[int] = ...) -> None: ...

class TerminalRequest(_message.Message):
    __slots__ = ("session_id", "columns", "rows")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    columns: int
    rows: int
    def __init__(self, session_id: _Optional[str] = ..., columns: _Optional[int] = ..., rows: _Optional[int] = ...) -> None: ...

class TerminalFrame(_message.Message):
    __slots__ = ("agent_token", "session_id", "data")
    AGENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    agent_token: str
    session_id: str
    data: bytes
    def __init__(self, agent_token: _Optional[str] = ..., session_id: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class TerminalInput(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class Query(_message.Message):
    __slots__ = ("query_id", "kind")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    kind: QueryKind
    def __init__(self, query_id: _Optional[str] = ..., kind: _Optional[_Union[QueryKind, str]] = ...) -> None: ...

class ListeningPort(_message.Message):
    __slots__ = ("port", "protocol", "process", "address")
    PORT_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    port: int
    protocol: str
    process: str
    address: str
    def __init__(self, port: _Optional[int] = ..., protocol: _Optional[str] = ..., process: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class ServiceStatus(_message.Message):
    __slots__ = ("name", "state")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[str] = ...) -> None: ...

class QueryResult(_message.Message):
    __slots__ = ("query_id", "kind", "ports", "services", "error")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    kind: QueryKind
    ports: _containers.RepeatedCompositeFieldContainer[ListeningPort]
    services: _containers.RepeatedCompositeFieldContainer[ServiceStatus]
    error: str
    def __init__(self, query_id: _Optional[str] = ..., kind: _Optional[_Union[QueryKind, str]] = ..., ports: _Optional[_Iterable[_Union[ListeningPort, _Mapping]]] = ..., services: _Optional[_Iterable[_Union[ServiceStatus, _Mapping]]] = ..., error: _Optional[str] = ...) -> None: ...
