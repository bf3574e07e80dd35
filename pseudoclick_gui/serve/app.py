"""The HTTP side: Label Studio's ML-backend routes on a Flask (WSGI) app.

Routes: ``GET /`` and ``GET /health`` (``{"status": "UP", ...}``), ``POST /setup`` (``{"model_version"}``),
``POST /predict``, ``POST /webhook`` (accepted, nothing to do: the model does not train from annotations),
``POST /train`` and ``POST /validate`` (accepted, no-ops), ``GET /metrics`` (cache and request counters).

Every answer is JSON; an error is ``{"error": message, "status": code}`` with that HTTP status, never a
traceback, and the server keeps serving.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import time
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from . import protocol
from .errors import BadRequest, ServeError, TimedOut
from .predictor import Job
from .settings import ServeSettings

log = logging.getLogger("pseudoclick.serve")


def create_app(settings: ServeSettings, pool) -> Flask:
    """``pool``: a ``LocalPool``/``ProcessPool`` (or anything with ``submit(job) -> Future``, ``stats()`` and
    ``model_version``)."""
    app = Flask("pseudoclick_serve")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False
    started = time.time()
    configs: dict[str, str] = {}  # project id -> label config seen at /setup

    @app.before_request
    def _auth():
        if not settings.basic_auth:
            return None
        header = request.headers.get("Authorization", "")
        ok = False
        if header.startswith("Basic "):
            try:
                given = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
                ok = hmac.compare_digest(given.encode(), settings.basic_auth.encode())
            except (binascii.Error, UnicodeDecodeError, ValueError):
                ok = False
        if ok:
            return None
        resp = jsonify(error="authentication required (HTTP basic auth)", status=401)
        resp.status_code = 401
        resp.headers["WWW-Authenticate"] = 'Basic realm="pseudoclick"'
        return resp

    @app.errorhandler(ServeError)
    def _serve_error(exc: ServeError):
        return _error(str(exc), exc.status)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        msg = {413: f"request body larger than {settings.max_request_bytes} bytes"}.get(exc.code, exc.description)
        return _error(msg, exc.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error")
        return _error(f"internal error ({type(exc).__name__}); the server log has the details", 500)

    def body() -> dict:
        data = request.get_json(silent=True, force=True)
        if not isinstance(data, dict):
            raise BadRequest("the request body must be a JSON object")
        return data

    @app.get("/")
    @app.get("/health")
    def health():
        return jsonify(status="UP", model_class="PseudoClick", model_version=pool.model_version,
                       uptime_s=round(time.time() - started, 1))

    @app.get("/metrics")
    def metrics():
        return jsonify(pool.stats())

    @app.post("/setup")
    def setup():
        data = body()
        schema = data.get("schema")
        if isinstance(schema, str) and schema:
            protocol.parse_label_config(schema)  # refuse a config we cannot read, now rather than later
            configs[str(data.get("project", ""))] = schema
        return jsonify(model_version=pool.model_version)

    @app.post("/webhook")
    def webhook():
        data = body()
        return jsonify(status="ignored", action=str(data.get("action", ""))), 200

    @app.post("/train")
    def train():
        body()
        return jsonify(status="ignored", message="this model does not train from annotations"), 200

    @app.post("/validate")
    def validate():
        body()
        return jsonify(status="ok")

    @app.post("/predict")
    def predict():
        data = body()
        tasks = data.get("tasks")
        if not isinstance(tasks, list) or not tasks:
            raise BadRequest("'tasks' must be a non-empty list")
        project = str(data.get("project", ""))
        config = data.get("label_config") or configs.get(project)
        tags = protocol.parse_label_config(config)
        params = data.get("params") or {}
        if not isinstance(params, dict):
            raise BadRequest("'params' must be an object")
        context = params.get("context", data.get("context"))
        interaction = protocol.parse_context(context, tags, settings.max_clicks)
        if interaction is None:  # no keypoints yet: nothing to segment
            return jsonify(results=[], model_version=pool.model_version)
        jobs = []
        for i, task in enumerate(tasks):
            if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
                raise BadRequest(f"task {i} has no 'data' object")
            ref = task["data"].get(tags.data_key)
            if not isinstance(ref, str) or not ref:
                raise BadRequest(f"task {task.get('id', i)} has no image under data.{tags.data_key}")
            task_id = task.get("id")
            key = (project.split(".")[0], str(task_id) if task_id is not None else "", ref, interaction.label)
            jobs.append(Job(key, ref, interaction))
        futures = [pool.submit(job) for job in jobs]
        deadline = time.monotonic() + settings.timeout
        results = []
        for fut in futures:
            try:
                results.append(fut.result(timeout=max(0.0, deadline - time.monotonic())))
            except FutureTimeout:
                raise TimedOut(f"no answer within {settings.timeout:g} s (the server is busy); the work goes on "
                               "and the next request for this task finds it done") from None
        return jsonify(results=results, model_version=pool.model_version)

    return app


def _error(message: str, status: int):
    resp = jsonify(error=message, status=status)
    resp.status_code = status
    return resp
