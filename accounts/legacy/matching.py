"""Normalisation and similarity of company identities and addresses: pure functions.

The legacy systems spell the same company and the same street differently ("ACME Industries
GmbH", "Acme Industries", "Acme Ind."; "Hauptstraße 5", "Hauptstr. 5"). These functions
reduce such spellings to comparable keys and score how alike two companies look. Nothing here
touches the database.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher

# Greece's VAT numbers start with EL, not its ISO code.
VAT_PREFIX = {"GR": "EL"}
VAT_RE = re.compile(r"^[A-Z]{2}[0-9A-Z]{2,13}$")
REG_RE = re.compile(r"^[0-9A-Z]{1,32}$")

# Suffixes and words that tell the legal form, not the company: dropped before comparing.
LEGAL_FORMS = frozenset({
    "ab", "ag", "aps", "as", "bv", "bvba", "co", "company", "corp", "corporation", "cv",
    "eg", "ev", "eurl", "gbr", "gmbh", "inc", "incorporated", "kg", "kgaa", "limited", "llc",
    "llp", "ltd", "mbh", "nv", "ohg", "oy", "plc", "sa", "sarl", "sas", "sasu", "se", "snc",
    "spa", "srl", "ug", "vof",
})
CONNECTORS = frozenset({"and", "und", "et", "en", "the", "der", "die", "das", "le", "la"})
# Abbreviations seen in the exports that are not plain prefixes of the word.
NAME_ABBREVIATIONS = {
    "intl": "international", "mfg": "manufacturing", "svcs": "services", "svc": "services",
    "grp": "group", "dt": "deutsche", "tel": "telecom", "hldg": "holding",
}
# Street words to one short form, as words and as German compound endings.
STREET_WORDS = {
    "strasse": "str", "street": "st", "square": "sq", "road": "rd", "avenue": "av",
    "ave": "av", "place": "pl", "platz": "pl", "lane": "ln", "drive": "dr",
    "boulevard": "bd", "blvd": "bd", "allee": "al", "weg": "wg", "gasse": "g",
    "general": "gal", "saint": "st", "sankt": "st",
}
COMPOUND_ENDINGS = (("strasse", "str"), ("platz", "pl"), ("allee", "al"), ("gasse", "g"))
_TRANSLITERATE = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ø": "oe",
                                "æ": "ae", "œ": "oe", "å": "aa"})

# Weights of a proposal's score: the name says most, a shared postcode confirms it.
NAME_WEIGHT = 0.75
POSTCODE_WEIGHT = 0.25
PROPOSE_AT = 0.6  # score from which a look-alike is proposed to an operator
NAMES_ALIKE_AT = 0.5  # below this, a shared postcode (an office building) proves nothing


def fold(text: str) -> str:
    """Lower-case ASCII text: umlauts spelled out (ü -> ue), other accents dropped."""
    text = (text or "").casefold().translate(_TRANSLITERATE)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).encode(
        "ascii", "ignore").decode()


def _words(text: str) -> list[str]:
    # Dots join initials ("B.V." -> "bv", "S.A.S." -> "sas"); any other punctuation splits.
    text = fold(text).replace(".", "").replace("&", " and ")
    return re.findall(r"[a-z0-9]+", text)


def normalise_registration(value: str) -> str:
    """A registration number without spaces, dots, dashes and slashes, upper-cased
    ("HRB 123.456" -> "HRB123456"); '' when there is none."""
    return re.sub(r"[\s.\-/]", "", (value or "")).upper()


def normalise_vat(value: str, country: str = "") -> str:
    """A VAT number as "CC" + number, upper-case without separators. A number given without
    its country prefix takes the country's ("811 234 567", DE -> "DE811234567"); '' when
    there is none."""
    compact = re.sub(r"[\s.\-/]", "", (value or "")).upper()
    if not compact:
        return ""
    if not compact[:2].isalpha():
        country = (country or "").upper()
        compact = VAT_PREFIX.get(country, country) + compact
    return compact


def is_valid_vat(vat: str) -> bool:
    """Whether a normalised VAT number has the shape of one (country prefix and 2-13
    letters or digits)."""
    return bool(VAT_RE.match(vat))


def is_valid_registration(reg: str) -> bool:
    """Whether a normalised registration number is letters and digits only, at most 32."""
    return bool(REG_RE.match(reg))


def registration_key(reg: str, country: str) -> str:
    """The key two registration numbers are compared on: numbers are unique per country
    only, so the country is part of it; '' when there is no number."""
    reg = normalise_registration(reg)
    return f"{(country or '').upper()}:{reg}" if reg else ""


def name_tokens(name: str) -> list[str]:
    """The words of a company name that tell it apart: folded, without legal forms and
    connectors. A name made only of such words keeps them."""
    words = _words(name)
    kept = [w for w in words if w not in LEGAL_FORMS and w not in CONNECTORS]
    return kept or words


def normalise_name(name: str) -> str:
    """A company name reduced for comparison ("ACME Industries GmbH" -> "acme industries")."""
    return " ".join(name_tokens(name))


def _tokens_match(a: str, b: str) -> bool:
    if a == b:
        return True
    if NAME_ABBREVIATIONS.get(a) == b or NAME_ABBREVIATIONS.get(b) == a:
        return True
    short, long = sorted((a, b), key=len)
    if len(short) >= 3 and long.startswith(short) and not short.isdigit():
        return True  # an abbreviation: "ind" for "industries"
    return len(short) >= 5 and SequenceMatcher(None, a, b).ratio() >= 0.85  # a typo


def name_similarity(a: str, b: str) -> float:
    """How alike two company names are, from 0 to 1, legal forms and case aside.

    Mostly the share of words that match (equal, abbreviated or mistyped), blended with a
    character-level comparison so that near-equal single words still count. Names whose
    first words differ score half.
    """
    left, right = name_tokens(a), name_tokens(b)
    if not left or not right:
        return 0.0
    unused = list(right)
    matched = 0
    for token in left:
        for other in unused:
            if _tokens_match(token, other):
                unused.remove(other)
                matched += 1
                break
    dice = 2 * matched / (len(left) + len(right))
    chars = SequenceMatcher(None, " ".join(left), " ".join(right)).ratio()
    score = 0.6 * dice + 0.4 * chars
    if not _tokens_match(left[0], right[0]):
        # The first word is usually the brand; "Stark Industries" is not "Acme Industries".
        score /= 2
    return round(score, 3)


def normalise_postcode(postcode: str) -> str:
    """A postcode upper-case without spaces or dashes ("1015 cj" -> "1015CJ")."""
    return re.sub(r"[\s\-]", "", (postcode or "")).upper()


def normalise_street(address: str) -> str:
    """A street address reduced for comparison: "Hauptstraße 5", "Hauptstr. 5" and
    "5 Hauptstrasse" all give "5 hauptstr"; house number "5 a" is "5a"."""
    text = fold(address)
    text = re.sub(r"(\d)\s*([a-z])\b", r"\1\2", text)  # "5 a" -> "5a"
    words = []
    for word in re.findall(r"[a-z0-9]+", text.replace(".", " ")):
        word = STREET_WORDS.get(word, word)
        for ending, short in COMPOUND_ENDINGS:
            if word.endswith(ending) and len(word) > len(ending):
                word = word[: -len(ending)] + short
        words.append(word)
    # Word order differs between countries' conventions ("12 rue X" / "X 12"): sort.
    return " ".join(sorted(words))


def address_key(address: str, postcode: str, country: str) -> tuple[str, str, str]:
    """What makes two sites the same place: country, postcode and street, normalised."""
    return ((country or "").upper(), normalise_postcode(postcode), normalise_street(address))


@dataclass
class Identity:
    """What is known of a company, to compare it with another: its names, identifiers and
    postcodes (from every system that knows it)."""

    names: set[str] = field(default_factory=set)
    registrations: set[str] = field(default_factory=set)  # registration_key()s
    vats: set[str] = field(default_factory=set)  # normalise_vat()s
    postcodes: set[str] = field(default_factory=set)  # normalise_postcode()s

    def add(self, name: str = "", registration: str = "", vat: str = "",
            postcodes: Iterable[str] = ()) -> None:
        """Add what one more record says about the company."""
        if name:
            self.names.add(name)
        if registration:
            self.registrations.add(registration)
        if vat:
            self.vats.add(vat)
        self.postcodes.update(normalise_postcode(p) for p in postcodes if p)


def conflicts(a: Identity, b: Identity) -> list[str]:
    """The identifiers both companies have but that differ: then they are different legal
    entities whatever their names."""
    found = []
    if a.vats and b.vats and not a.vats & b.vats:
        found.append("VAT numbers differ")
    same_country = ({r.split(":")[0] for r in a.registrations}
                    & {r.split(":")[0] for r in b.registrations})
    if same_country and not a.registrations & b.registrations:
        found.append("registration numbers differ")
    return found


def similarity(account: Identity, candidate: Identity,
               check_identifiers: bool = True) -> tuple[float, list[str]]:
    """Score (0 to 1) how likely `account` is the same company as `candidate`, by names and
    postcodes, with the reasons in words. Identifiers that differ make it 0 (unless
    `check_identifiers` is off)."""
    differences = conflicts(account, candidate) if check_identifiers else []
    if differences:
        return 0.0, differences
    best, best_pair = 0.0, ("", "")
    for mine in account.names:
        for theirs in candidate.names:
            score = name_similarity(mine, theirs)
            if score > best:
                best, best_pair = score, (mine, theirs)
    reasons = []
    if best:
        reasons.append(f"names {best:.0%} alike: {best_pair[0]!r} / {best_pair[1]!r}")
    shared = sorted(account.postcodes & candidate.postcodes)
    if shared:
        reasons.append(f"same postcode {', '.join(shared[:3])}")
    else:
        reasons.append("no postcode in common")
    alike = best >= NAMES_ALIKE_AT
    score = NAME_WEIGHT * best + (POSTCODE_WEIGHT if shared and alike else 0.0)
    return round(score, 3), reasons
