"""Page timings next to a baseline measured in the same run (`make bench`).

Prints median and p95 per page and the ratio to a static page of the same app. No time
limits: these machines are noisy; the ratios are what to compare across runs.
"""

from __future__ import annotations

from conftest import login_as
from sqlalchemy import insert, select
from timing import print_table

from accounts.models import Membership, User
from portal.audit import AuditEvent
from portal.extensions import db

ROUNDS = 200
MEMBERS = 500
EVENTS = 20_000


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
    print_table(client, [
        ("/healthz (one query)", "/healthz"),
        ("/dashboard", "/dashboard"),
        (f"/organisation/members ({MEMBERS} members)", "/organisation/members"),
        (f"/audit ({EVENTS} events)", "/audit"),
        ("/audit?user=u42&action=test:3", "/audit?user=u42&action=test:3"),
    ], rounds=ROUNDS)
