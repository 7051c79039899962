"""The names of the benchmark's pipelines and sinks, shared by the runner and the targets."""

from __future__ import annotations

SINKS = ("memory", "file")
FLOOR_ORJSON = "floor: orjson.dumps(entry)"
FLOOR_JSON = "floor: json.dumps(entry)"
FLOOR_LOGGING = "floor: stdlib logging (pre-serialized)"
FLOOR_LOGGING_ORJSON = "floor: stdlib logging + orjson.dumps(entry).decode() in the call"
WFL_JSON = "wflogging json"
WFL_ORJSON = "wflogging orjson"
WFL_RECORDER = "wflogging recorder"
PJL_JSON = "PJL JsonFormatter"
PJL_JSON_UTF8 = "PJL JsonFormatter(json_ensure_ascii=False)"
PJL_ORJSON = "PJL OrjsonFormatter"
ECS = "ecs-logging StdlibFormatter"
STRUCTLOG_JSON = "structlog JSONRenderer(json)"
STRUCTLOG_ORJSON = "structlog JSONRenderer(orjson) bytes"
PIPELINES = (
    WFL_JSON,
    WFL_ORJSON,
    WFL_RECORDER,
    PJL_JSON,
    PJL_JSON_UTF8,
    PJL_ORJSON,
    ECS,
    STRUCTLOG_JSON,
    STRUCTLOG_ORJSON,
    FLOOR_LOGGING,
    FLOOR_LOGGING_ORJSON,
    FLOOR_JSON,
    FLOOR_ORJSON,
)
#: Pipelines that are a function call, not logging: they have no sink.
SINKLESS = frozenset((FLOOR_JSON, FLOOR_ORJSON))
#: Pipelines whose call-site latency is also measured through a QueueHandler.
QUEUE_PIPELINES = (WFL_JSON, WFL_ORJSON, WFL_RECORDER, PJL_JSON, FLOOR_LOGGING)
