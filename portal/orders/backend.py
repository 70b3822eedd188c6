"""The HTTP client of the order backend (DESIGN.md, "Order backend"): one request, and what
its answer means for the outbox — done, try again later, or refused for good."""

from __future__ import annotations

from dataclasses import dataclass

import requests

RETRYABLE = {409, 429}  # conflict (still being processed), too many requests
PATHS = {"create": "/productOrder", "cancel": "/cancelProductOrder"}
MAX_RETRY_AFTER = 3600.0


@dataclass(frozen=True)
class Outcome:
    """`kind`: "ok" (the backend has it; `body` is its answer), "retry" (network error, 5xx,
    409, 429: send again later, no sooner than `retry_after` seconds if the backend said so)
    or "refused" (another 4xx: sending it again would not help)."""

    kind: str
    status: int | None = None
    body: dict | None = None
    error: str = ""
    retry_after: float | None = None


def send(http: requests.Session, base_url: str, token: str, kind: str, payload: dict,
         idempotency_key: str, timeout: tuple[float, float]) -> Outcome:
    """POST one outbox message to the backend with its Idempotency-Key."""
    url = base_url.rstrip("/") + PATHS[kind]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": idempotency_key,
               "Accept": "application/json"}
    try:
        response = http.post(url, json=payload, headers=headers, timeout=timeout)
    except requests.Timeout:
        return Outcome("retry", error=f"No answer from the order backend within {timeout[1]} s.")
    except requests.RequestException as exc:
        return Outcome("retry", error=f"Could not reach the order backend: {type(exc).__name__}.")
    status = response.status_code
    if 200 <= status < 300:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # It may have the order; the same key next time returns it.
            return Outcome("retry", status, error="The backend's answer was not a JSON object.")
        return Outcome("ok", status, body)
    detail = _message(response)
    if status >= 500 or status in RETRYABLE:
        return Outcome("retry", status, error=f"HTTP {status}: {detail}",
                       retry_after=_retry_after(response))
    return Outcome("refused", status, error=f"HTTP {status}: {detail}")


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason or ""
    if isinstance(body, dict):
        return str(body.get("message") or body.get("reason") or body)[:200]
    return str(body)[:200]


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return None
