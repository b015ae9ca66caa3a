"""The FastAPI application: routes translate, one application function decides."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ingress import live, operator_api, read_api, webhook
from ingress.console import routes as console
from ingress.services import IngressServices
from ingress.strict_input import validation_refused


def create_app(services: IngressServices) -> FastAPI:
    app = FastAPI(
        title="Switchboard",
        summary="Event-sourced core of a WhatsApp contact center: an LLM answers, humans "
        "stay in control.",
        version="0.1.0",
    )
    app.state.services = services
    app.add_exception_handler(RequestValidationError, validation_refused)
    app.include_router(operator_api.router)
    app.include_router(read_api.router)
    app.include_router(live.router)
    console.install(app)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus text format, no token. A plain function: collecting (the
        dead-letter gauge asks the bus) runs in the thread pool, not the event loop."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(webhook.router)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "not ready"}})
    def readyz() -> JSONResponse:
        """Every back end answers."""
        failures = []
        for check in services.ready_checks:
            try:
                check()
            except Exception as error:
                failures.append(f"{getattr(check, '__name__', 'check')}: {type(error).__name__}")
        if failures:
            return JSONResponse({"status": "unavailable", "failures": failures}, status_code=503)
        return JSONResponse({"status": "ok"})

    return app
