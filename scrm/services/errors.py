"""Domain errors: services raise them, handlers and views turn them into friendly text."""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain was broken; `message` is a translatable msgid for the user."""

    message = "That could not be done."

    def __init__(self, message: str | None = None, **params: object) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message
        self.params = params


class NotFound(DomainError):
    message = "Not found."


class Forbidden(DomainError):
    message = "You are not allowed to do that."


class Invalid(DomainError):
    """Bad input; `field` names the offending field when there is one."""

    message = "The input is not valid."

    def __init__(self, message: str | None = None, field: str = "", **params: object) -> None:
        super().__init__(message, **params)
        self.field = field
