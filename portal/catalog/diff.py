"""What changed between two catalog versions, in words: offerings added and removed, and
every field of an offering, the approval policy, the tax rates and the terms of quotes that
differ. A pure function: two `Catalog`s in, a list of `Change`s out."""

from __future__ import annotations

from dataclasses import dataclass, fields

from portal.catalog.display import percent, value_text
from portal.catalog.schema import Catalog, Offering

OFFERING_FIELDS = [f.name for f in fields(Offering) if f.name != "code"]
APPROVAL_FIELDS = ("auto_max", "account_manager_max", "sales_director_max")


@dataclass(frozen=True)
class Change:
    """One difference. `kind` is `added`, `removed` or `changed`; `subject` what it is about
    (`offering MOB-UNL`, `approval`, `tax rates`, `catalog`); `old` and `new` in words."""

    kind: str
    subject: str
    field: str = ""
    old: str = ""
    new: str = ""

    def __str__(self) -> str:
        if self.kind == "added":
            what = f"{self.subject}: {self.field}" if self.field else self.subject
            return f"{what} added ({self.new})"
        if self.kind == "removed":
            what = f"{self.subject}: {self.field}" if self.field else self.subject
            return f"{what} removed (was {self.old})"
        return f"{self.subject}: {self.field}: {self.old} → {self.new}"


def _offering_changes(old: Offering, new: Offering) -> list[Change]:
    subject = f"offering {new.code}"
    return [Change("changed", subject, name, value_text(name, getattr(old, name)),
                   value_text(name, getattr(new, name)))
            for name in OFFERING_FIELDS if getattr(old, name) != getattr(new, name)]


def _policy_changes(old: Catalog, new: Catalog) -> list[Change]:
    changes = []
    for name in ("currency", "quote_validity_days"):
        if getattr(old, name) != getattr(new, name):
            changes.append(Change("changed", "catalog", name, str(getattr(old, name)),
                                  str(getattr(new, name))))
    for name in APPROVAL_FIELDS:
        before, after = getattr(old.approval, name), getattr(new.approval, name)
        if before != after:
            changes.append(Change("changed", "approval", name, percent(before), percent(after)))
    for country in sorted(old.tax_rates.keys() | new.tax_rates.keys()):
        before, after = old.tax_rates.get(country), new.tax_rates.get(country)
        if before is None:
            changes.append(Change("added", "tax rates", country, new=percent(after)))
        elif after is None:
            changes.append(Change("removed", "tax rates", country, old=percent(before)))
        elif before != after:
            changes.append(Change("changed", "tax rates", country, percent(before),
                                  percent(after)))
    return changes


def diff(old: Catalog | None, new: Catalog) -> list[Change]:
    """Every difference from `old` to `new` (`old` None: everything in `new` is added):
    first the catalog's own settings, then the offerings in `new`'s order, removed ones
    last."""
    if old is None:
        return [Change("added", f"offering {code}", new=offering.name)
                for code, offering in new.offerings.items()]
    changes = _policy_changes(old, new)
    for code, offering in new.offerings.items():
        before = old.offerings.get(code)
        if before is None:
            changes.append(Change("added", f"offering {code}", new=offering.name))
        else:
            changes.extend(_offering_changes(before, offering))
    changes.extend(Change("removed", f"offering {code}", old=offering.name)
                   for code, offering in old.offerings.items() if code not in new.offerings)
    return changes
