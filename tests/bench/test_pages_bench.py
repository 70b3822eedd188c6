"""Page timings next to a baseline measured in the same run (`make bench`).

Prints median and p95 per page and the ratio to `/healthz` (one trivial query). No time
limits: these machines are noisy; the ratios are what to compare across runs.
"""

from __future__ import annotations

import statistics
import time

from conftest import login_as
from sqlalchemy import insert, select

from accounts.models import Membership, User
from portal.audit import AuditEvent
from portal.extensions import db

ROUNDS = 200
MEMBERS = 500
EVENTS = 20_000


def _measure(client, path: str) -> tuple[float, float]:
    for _ in range(10):
        client.get(path)
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def test_page_timings(client, factory, app):
    org_id = factory.org("acme")
    admin = factory.user(org_id, "admin", email="admin@acme.test")
    with app.app_context():
        users = [{"issuer": "https://idp.test", "subject": f"s{n}", "email": f"u{n}@acme.test",
                  "name": f"User {n}", "active": True} for n in range(MEMBERS)]
        db.session.execute(insert(User), users)
        ids = db.session.scalars(select(User.id).where(User.subject.like("s%"))).all()
        db.session.execute(insert(Membership), [
            {"user_id": i, "organisation_id": org_id, "role": "buyer", "source": "idp"}
            for i in ids])
        db.session.execute(insert(AuditEvent), [
            {"action": f"test:{n % 17}", "organisation_id": org_id,
             "actor_label": f"u{n % MEMBERS}@acme.test"} for n in range(EVENTS)])
        db.session.commit()
    login_as(client, admin, org_id)
    base_median, base_p95 = _measure(client, "/healthz")
    print(f"\n{'page':<28}{'median ms':>10}{'p95 ms':>10}{'x healthz':>11}")
    print(f"{'/healthz (baseline)':<28}{base_median:>10.2f}{base_p95:>10.2f}{1:>11.1f}")
    for path in ["/signed-out (static page)", "/dashboard", f"/organisation/members ({MEMBERS})",
                 f"/audit ({EVENTS} events)", "/audit?user=u42&action=test:3"]:
        url = path.split(" ")[0]
        median, p95 = _measure(client, url)
        print(f"{path:<28}{median:>10.2f}{p95:>10.2f}{median / base_median:>11.1f}")
