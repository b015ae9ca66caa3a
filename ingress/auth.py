"""Bearer-token authentication for the operator API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from contracts.operators import Operator
from ingress.services import IngressServices

_bearer = HTTPBearer(auto_error=False, description="A token from `switchboard operators add`")


def services_of(request: Request) -> IngressServices:
    services: IngressServices = request.app.state.services
    return services


def current_operator(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Operator:
    """The active operator holding the bearer token; 401 otherwise."""
    operator = None
    if credentials is not None:
        operator = services_of(request).operators.authenticate(credentials.credentials)
    if operator is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid operator token is required (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return operator


def token_check(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Callable[[], bool]:
    """Whether the request's token still names an active operator, asked again: a
    long-lived response (the live stream) calls it now and then, so that revoking the
    token ends it."""
    operators = services_of(request).operators
    token = credentials.credentials if credentials is not None else ""
    return lambda: bool(token) and operators.authenticate(token) is not None


CurrentOperator = Annotated[Operator, Depends(current_operator)]
StillAuthorized = Annotated[Callable[[], bool], Depends(token_check)]
Services = Annotated[IngressServices, Depends(services_of)]
