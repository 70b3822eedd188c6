"""Every estate page runs the same number of SQL statements with 10 rows as with 300."""

from __future__ import annotations

from conftest import count_queries, login_as
from estate_data import add_account, add_services, add_sites


def test_pages_run_a_fixed_number_of_queries_whatever_the_data_size(client, factory, app):
    org_id = factory.org("acme")
    login_as(client, factory.user(org_id, "admin"), org_id)

    def fill(count: int, tag: str) -> dict:
        account = add_account(app, org_id, f"BA-{tag}")
        sites = add_sites(app, org_id, count, prefix=f"S{tag}", account_id=account)
        for site_id in sites[:3]:
            add_services(app, org_id, site_id, count // 3, account_id=account)
        add_services(app, org_id, sites[-1], count, account_id=account, status="suspended")
        return {"site": sites[0], "account": account}

    paths = ["/sites", "/sites?q=S&country=DE&status=active&sort=city&dir=desc",
             "/sites?billing_account={account}&page=2", "/sites/{site}", "/sites/{site}/edit",
             "/sites/new", "/sites/export.csv", "/sites/import", "/billing-accounts",
             "/billing-accounts/{account}", "/billing-accounts/{account}/edit",
             "/billing-accounts/new", "/inventory", "/inventory?sort=site&status=active&q=MOB",
             "/inventory?billing_account={account}&page=3"]

    def queries(ids: dict) -> dict[str, int]:
        counts = {}
        for path in paths:
            client.get(path.format(**ids))  # warm up (session row, caches)
            with count_queries(app) as statements:
                assert client.get(path.format(**ids)).status_code == 200, path
            counts[path] = len(statements)
        return counts

    small = queries(fill(10, "A"))
    large = queries(fill(300, "B"))
    assert large == small
