"""The OpenAPI 3.1 document of the JSON API (served at ``/api/v1/openapi.json``).

Written out rather than inferred, so the document is the contract: a test checks that every
route of :mod:`.api` is described here and every described path is served.
"""

from __future__ import annotations

from typing import Any

from .. import __version__

_RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}}
_ERROR = {"$ref": "#/components/responses/Error"}


def _json(schema_ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": False, "content": {"application/json": {"schema": schema}}}


def _run_action(summary: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": [_RUN_ID],
        "responses": {"200": _json("Run", "the run after the action"), "default": _ERROR},
    }
    if body is not None:
        operation["requestBody"] = _body(body)
    return {"post": operation}


def openapi_document() -> dict[str, Any]:
    """The document, with this flowgen's version."""
    filters = [
        {"name": "status", "in": "query", "schema": {"type": "string"}, "description": "a run status"},
        {"name": "workflow", "in": "query", "schema": {"type": "string"}},
        {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "an exact run id"},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
        {
            "name": "cursor",
            "in": "query",
            "schema": {"type": "string"},
            "description": "next_cursor of the previous page",
        },
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "flowgen",
            "version": __version__,
            "description": "Start, find, inspect and control flowgen runs. Errors are "
            '{"error": {"code": ..., "message": ...}}; state-changing requests take a JSON body.',
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{}, {"bearer": []}],
        "paths": {
            "/runs": {
                "get": {
                    "summary": "List runs, newest first",
                    "parameters": filters,
                    "responses": {"200": _json("RunPage", "a page of runs"), "default": _ERROR},
                },
                "post": {
                    "summary": "Start a run (idempotent on run_id)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/StartRun"}}
                        },
                    },
                    "responses": {"201": _json("Run", "the run"), "default": _ERROR},
                },
            },
            "/counts": {
                "get": {
                    "summary": "Count runs by status",
                    "parameters": filters[1:2],
                    "responses": {"200": _json("Counts", "runs per status"), "default": _ERROR},
                }
            },
            "/runs/{run_id}": {
                "get": {
                    "summary": "Get a run",
                    "parameters": [_RUN_ID],
                    "responses": {"200": _json("Run", "the run"), "default": _ERROR},
                }
            },
            "/runs/{run_id}/journal": {
                "get": {
                    "summary": "The run's journal, values decoded",
                    "parameters": [_RUN_ID],
                    "responses": {"200": {"description": '{"entries": [...]}'}, "default": _ERROR},
                }
            },
            "/runs/{run_id}/history": {
                "get": {
                    "summary": "The run's earlier generations",
                    "parameters": [_RUN_ID],
                    "responses": {"200": {"description": '{"generations": [...]}'}, "default": _ERROR},
                }
            },
            "/runs/{run_id}/events": {
                "get": {
                    "summary": "Events buffered in the run's inbox",
                    "parameters": [_RUN_ID],
                    "responses": {"200": {"description": '{"events": [...]}'}, "default": _ERROR},
                },
                "post": {
                    "summary": "Send an event to the run",
                    "parameters": [_RUN_ID],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/SendEvent"}}
                        },
                    },
                    "responses": {"200": {"description": '{"delivered": bool}'}, "default": _ERROR},
                },
            },
            "/runs/{run_id}/result": {
                "get": {
                    "summary": "Wait for the run to finish (long poll)",
                    "parameters": [
                        _RUN_ID,
                        {
                            "name": "timeout",
                            "in": "query",
                            "schema": {"type": "number", "minimum": 0, "maximum": 60},
                        },
                    ],
                    "responses": {
                        "200": _json("Run", "the finished run"),
                        "202": _json("Run", "the run, not finished within the timeout"),
                        "default": _ERROR,
                    },
                }
            },
            "/runs/{run_id}/cancel": _run_action(
                "Cancel the run (force ends it at once)",
                {"type": "object", "properties": {"force": {"type": "boolean"}}},
            ),
            "/runs/{run_id}/pause": _run_action("Pause the run at its next yield"),
            "/runs/{run_id}/resume": _run_action("Resume a paused run"),
            "/runs/{run_id}/retry": _run_action("Retry a failed run from where it failed"),
            "/runs/{run_id}/restart": _run_action("Restart a finished run from the beginning"),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {
                    "description": "an error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        }
                    },
                },
                "Run": {
                    "type": "object",
                    "required": ["run_id", "workflow", "status", "created", "updated"],
                    "properties": {
                        "run_id": {"type": "string"},
                        "workflow": {"type": "string"},
                        "status": {
                            "enum": [
                                "queued",
                                "running",
                                "waiting",
                                "paused",
                                "compensating",
                                "completed",
                                "failed",
                                "cancelled",
                            ]
                        },
                        "created": {"type": "string", "format": "date-time"},
                        "updated": {"type": "string", "format": "date-time"},
                        "finished": {"type": ["string", "null"], "format": "date-time"},
                        "output": {},
                        "error": {"type": ["object", "null"]},
                        "parent": {"type": ["string", "null"]},
                        "waiting_for": {"type": "array", "items": {"type": "string"}},
                        "pause_pending": {"type": "boolean"},
                        "cancellation": {"type": ["string", "null"]},
                        "generation": {"type": "integer"},
                        "journal_length": {"type": "integer"},
                        "unconsumed_queues": {"type": "array", "items": {"type": "string"}},
                        "schedule": {
                            "type": ["string", "null"],
                            "description": "the schedule that started it",
                        },
                        "tick": {
                            "type": ["string", "null"],
                            "format": "date-time",
                            "description": "the tick it runs for, with the schedule's UTC offset",
                        },
                    },
                },
                "RunPage": {
                    "type": "object",
                    "properties": {
                        "runs": {"type": "array", "items": {"$ref": "#/components/schemas/Run"}},
                        "next_cursor": {"type": ["string", "null"]},
                    },
                },
                "Counts": {
                    "type": "object",
                    "properties": {"counts": {"type": "object"}, "total": {"type": "integer"}},
                },
                "StartRun": {
                    "type": "object",
                    "required": ["workflow"],
                    "properties": {
                        "workflow": {"type": "string"},
                        "args": {"type": "array"},
                        "kwargs": {"type": "object"},
                        "run_id": {"type": "string"},
                    },
                },
                "SendEvent": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {"type": {"type": "string"}, "payload": {}, "event_id": {"type": "string"}},
                },
            },
        },
    }
