"""Errors the server answers with a JSON body ``{"error": message, "status": code}``; never a traceback."""

from __future__ import annotations

from ..errors import PseudoClickError


class ServeError(PseudoClickError):
    """A request the server refuses or could not answer; ``status`` is the HTTP status code."""

    status = 400

    def __init_subclass__(cls, status: int | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status


class BadRequest(ServeError, status=400): ...
class Forbidden(ServeError, status=403): ...
class NotFound(ServeError, status=404): ...
class TooLarge(ServeError, status=413): ...
class Busy(ServeError, status=503): ...
class TimedOut(ServeError, status=504): ...
