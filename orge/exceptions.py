"""Errors the engine raises; components raise these too so callers get one shape."""

from __future__ import annotations


class OrgeError(Exception):
    """Base of every ORGE error."""


class ServiceNotFound(OrgeError):
    """A service call named a service that is not registered."""

    def __init__(self, domain: str, service: str) -> None:
        super().__init__(f"Service {domain}.{service} not found.")
        self.domain = domain
        self.service = service


class ServiceValidationError(OrgeError):
    """The data of a service call did not match the service's schema."""


class ConfigError(OrgeError):
    """A configuration problem; `problems` holds one line per problem."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class Unauthorized(OrgeError):
    """A caller lacks the right to do this."""
