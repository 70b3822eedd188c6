"""One repricing request of the configurator on a 200-line cart (a quantity changed, the
cart fragment sent back), next to a trivial request of the same app measured in the same
run (`make bench`)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from conftest import csrf_token, login_as
from sqlalchemy import insert, select
from timing import BASELINE, measure

from accounts.estate.models import BillingAccount, Site
from portal.catalog.store import load_version
from portal.extensions import db
from quotes.models import Cart, CartLine

ROUNDS = 60
LINES = 200
OFFERINGS = ["MOB-UNL", "MOB-20GB", "BB-FIBRE-1G", "VOICE-SIP"]
CATALOG = Path(__file__).resolve().parents[2] / "portal" / "demo_data" / "catalog.yaml"


def test_repricing_a_200_line_cart(client, factory, app):
    org_id = factory.org("acme")
    buyer = factory.user(org_id, "buyer", email="bob@acme.test")
    with app.app_context():
        load_version(db.session, CATALOG.read_text(), "catalog.yaml", "bench")
        db.session.add(BillingAccount(organisation_id=org_id, number="BA-1", name="DE",
                                      country="DE"))
        db.session.execute(insert(Site), [
            {"organisation_id": org_id, "code": f"S{n:03d}", "name": f"Site {n}",
             "address": "x", "postcode": "10115", "city": "Berlin", "country": "DE",
             "status": "active"} for n in range(LINES // len(OFFERINGS))])
        site_ids = db.session.scalars(select(Site.id).order_by(Site.id)).all()
        cart = Cart(organisation_id=org_id, created_by_id=buyer)
        cart.lines = [CartLine(site_id=site, offering_code=code, quantity=5, term_months=24)
                      for site in site_ids for code in OFFERINGS]
        db.session.add(cart)
        db.session.commit()
        line_id = cart.lines[0].id
    login_as(client, buyer, org_id)
    token = csrf_token(client, "/configurator")
    base_median, base_p95 = measure(client, BASELINE[1], ROUNDS)
    times = []
    for n in range(ROUNDS + 5):
        start = time.perf_counter()
        response = client.post(f"/configurator/lines/{line_id}", headers={
            "X-Requested-With": "fetch"}, data={"csrf_token": token,
                                                "quantity": str(5 + n % 7), "term_months": "24"})
        elapsed = (time.perf_counter() - start) * 1000
        assert response.status_code == 200 and 'data-testid="total-mrc"' in response.get_data(
            as_text=True)
        if n >= 5:
            times.append(elapsed)
    times.sort()
    median, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
    page_median, page_p95 = measure(client, "/configurator", ROUNDS)
    print(f"\n{'request':<44}{'median ms':>10}{'p95 ms':>10}{'x baseline':>12}")
    print(f"{BASELINE[0]:<44}{base_median:>10.2f}{base_p95:>10.2f}{1:>12.1f}")
    print(f"{'reprice a 200-line cart (POST, fragment)':<44}{median:>10.2f}{p95:>10.2f}"
          f"{median / base_median:>12.1f}")
    print(f"{'the configurator page, 200 lines':<44}{page_median:>10.2f}{page_p95:>10.2f}"
          f"{page_median / base_median:>12.1f}")
