"""Morphine milligram equivalents (MME): the conversion factors of the CDC 2022 guideline.

The factors are those of the table "Morphine milligram equivalent doses for commonly prescribed opioids for
pain management" of the **CDC Clinical Practice Guideline for Prescribing Opioids for Pain -- United States,
2022** (Dowell D, Ragan KR, Jones CM, Baldwin GT, Chou R. MMWR Recomm Rep 2022;71(No. RR-3):1-95; the table
is adapted there from Von Korff et al. 2008 and Nielsen et al. 2016). Daily MME = daily dose x factor, the
daily dose in mg/day, except transdermal fentanyl, whose dose is the patch's rate in mcg/h:

============================  ==========  =================
opioid                        dose unit   conversion factor
============================  ==========  =================
codeine                       mg/day      0.15
fentanyl, transdermal         mcg/h       2.4
hydrocodone                   mg/day      1
hydromorphone                 mg/day      5
methadone                     mg/day      4.7
morphine                      mg/day      1
oxycodone                     mg/day      1.5
oxymorphone                   mg/day      3
tapentadol                    mg/day      0.4
tramadol                      mg/day      0.2
============================  ==========  =================

- **Methadone**: the 2022 table gives one factor, 4.7, whatever the dose. The dose-tiered factors of the 2016
  guideline's companion material (4 up to 20 mg/day, then 8, 10, 12) are *not* used.
- **Transdermal fentanyl**: MME/day = patch rate (mcg/h) x 2.4 x the patches worn at once (a record's
  ``doses_per_day`` is, for a patch, the number of patches worn at the same time; from a quantity and a
  supply, each patch is taken to be worn 72 hours, as labelled: patches worn = quantity x 3 / days supplied).
- **Buprenorphine** is not in the CDC table (a partial agonist: its MME does not mean what the others' does).
  As the NIH HEAL Initiative's MME definitions do (issue 14), buprenorphine records are recognised and
  **flagged**, and left out of the MME total unless asked for (``include_buprenorphine=True``); then the
  factors of the CMS "Opioid Oral Morphine Milligram Equivalent (MME) Conversion Factors" file are used
  (sublingual tablet or film 30 per mg, transdermal 12.6 per mcg/h, buccal film 0.03 per mcg), which say
  themselves that they are not for dose thresholds.

Drug names are recognised case-insensitively with salts, release forms and non-opioid partners of a
combination product left out ("Oxycodone HCl ER", "hydrocodone bitartrate/acetaminophen", "fentanyl patch").

Examples
--------
>>> daily_mme("oxycodone", 10, "mg", 2)      # the guideline's example: 10 mg ER twice a day
30.0
>>> daily_mme("hydrocodone/acetaminophen", 5, "mg", 4)
20.0
>>> daily_mme("fentanyl patch", 25, "mcg/h", 1)
60.0
>>> find_opioid("Buprenorphine sublingual film").buprenorphine
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .errors import PainstudyError

__all__ = [
    "CDC_2022",
    "CMS_BUPRENORPHINE",
    "Opioid",
    "OPIOIDS",
    "UnknownDrug",
    "find_opioid",
    "unit_of",
    "daily_mme",
    "conversion_table",
]

#: The source of the conversion factors (cited in every table of derived MME).
CDC_2022 = (
    "CDC Clinical Practice Guideline for Prescribing Opioids for Pain - United States, 2022 (MMWR Recomm Rep "
    "2022;71(No. RR-3)), table 'Morphine milligram equivalent doses for commonly prescribed opioids for pain "
    "management'"
)
#: The source of the buprenorphine factors used only when buprenorphine is included.
CMS_BUPRENORPHINE = "CMS Opioid Oral Morphine Milligram Equivalent (MME) Conversion Factors (buprenorphine rows)"

#: Patch wear time in days (the labelled replacement interval), for a quantity of patches over a supply.
PATCH_DAYS = {"fentanyl_transdermal": 3.0, "buprenorphine_transdermal": 7.0}


@dataclass(frozen=True)
class Opioid:
    """An opioid of the conversion table: its dose unit and MME conversion factor."""

    name: str
    label: str
    unit: str  # "mg", "mcg/h" or "mcg"
    factor: float
    source: str = CDC_2022
    buprenorphine: bool = False
    patch: bool = False


def _table() -> dict[str, Opioid]:
    rows = [
        ("codeine", "Codeine", "mg", 0.15),
        ("fentanyl_transdermal", "Fentanyl, transdermal", "mcg/h", 2.4),
        ("hydrocodone", "Hydrocodone", "mg", 1.0),
        ("hydromorphone", "Hydromorphone", "mg", 5.0),
        ("methadone", "Methadone", "mg", 4.7),
        ("morphine", "Morphine", "mg", 1.0),
        ("oxycodone", "Oxycodone", "mg", 1.5),
        ("oxymorphone", "Oxymorphone", "mg", 3.0),
        ("tapentadol", "Tapentadol", "mg", 0.4),
        ("tramadol", "Tramadol", "mg", 0.2),
    ]
    out = {n: Opioid(n, label, unit, f, patch=n == "fentanyl_transdermal") for n, label, unit, f in rows}
    for n, label, unit, f in (
        ("buprenorphine", "Buprenorphine, sublingual tablet or film", "mg", 30.0),
        ("buprenorphine_transdermal", "Buprenorphine, transdermal", "mcg/h", 12.6),
        ("buprenorphine_buccal", "Buprenorphine, buccal film", "mcg", 0.03),
    ):
        out[n] = Opioid(n, label, unit, f, CMS_BUPRENORPHINE, True, n == "buprenorphine_transdermal")
    return out


#: Every opioid painstudy converts: the CDC 2022 table and the flagged buprenorphine forms.
OPIOIDS: Mapping[str, Opioid] = MappingProxyType(_table())

#: Words that name a salt, a release form or a non-opioid partner of a combination product.
_IGNORED = {
    *("hcl", "hydrochloride", "sulfate", "sulphate", "bitartrate", "phosphate", "tartrate", "citrate"),
    *("er", "ir", "sr", "cr", "xr", "la", "ecr", "extended", "immediate", "release", "oral", "tablet", "tablets"),
    *("capsule", "capsules", "solution", "mg", "tab", "cap", "and", "with"),
    *("acetaminophen", "paracetamol", "apap", "ibuprofen", "aspirin", "naloxone", "naltrexone", "acetylsalicylic"),
}
_PATCH_WORDS = {"patch", "patches", "transdermal", "td", "system"}
_BUCCAL_WORDS = {"buccal"}
_FORM_WORDS = {"sublingual", "sl", "film", "films"}
_BASES = ("codeine", "fentanyl", "hydrocodone", "hydromorphone", "methadone", "morphine", "oxycodone")
_BASES += ("oxymorphone", "tapentadol", "tramadol", "buprenorphine")


class UnknownDrug(PainstudyError):
    """A drug name that is not an opioid of the conversion table (the message says why)."""


def find_opioid(drug: str) -> Opioid:
    """The opioid a drug name means (salts, release forms and non-opioid partners ignored).

    Raises
    ------
    UnknownDrug
        When the name holds no opioid of the table, or two of them.
    """
    words = [w for w in re.split(r"[\s/+,;()\-_]+", str(drug).strip().lower()) if w]
    words = [w for w in words if not re.fullmatch(r"[\d.]+(mg|mcg)?(/h|/hr)?", w)]
    bases = [w for w in words if w in _BASES]
    other = [w for w in words if w not in _BASES and w not in _IGNORED | _PATCH_WORDS | _BUCCAL_WORDS | _FORM_WORDS]
    if len(set(bases)) != 1 or other:
        known = ", ".join(o.name for o in OPIOIDS.values())
        why = "two opioids in one record" if len(set(bases)) > 1 else "not an opioid of the conversion table"
        raise UnknownDrug(f"{drug!r}: {why} (known: {known})")
    base = bases[0]
    if base == "fentanyl":
        return OPIOIDS["fentanyl_transdermal"]
    if base == "buprenorphine":
        if _PATCH_WORDS & set(words):
            return OPIOIDS["buprenorphine_transdermal"]
        return OPIOIDS["buprenorphine_buccal" if _BUCCAL_WORDS & set(words) else "buprenorphine"]
    return OPIOIDS[base]


_UNITS = {
    "mg": "mg",
    "milligram": "mg",
    "milligrams": "mg",
    "mcg/h": "mcg/h",
    "mcg/hr": "mcg/h",
    "mcg/hour": "mcg/h",
    "ug/h": "mcg/h",
    "ug/hr": "mcg/h",
    "µg/h": "mcg/h",
    "µg/hr": "mcg/h",
    "microgram/hour": "mcg/h",
    "micrograms/hour": "mcg/h",
    "mcg": "mcg",
    "ug": "mcg",
    "µg": "mcg",
    "microgram": "mcg",
    "micrograms": "mcg",
}


def unit_of(text: str) -> str | None:
    """The canonical unit (``mg``, ``mcg/h``, ``mcg``) of a unit as written, or None when unknown."""
    return _UNITS.get(re.sub(r"\s+", "", str(text).strip().lower()))


def daily_mme(drug: str | Opioid, strength: float, unit: str, doses_per_day: float) -> float:
    """MME per day of a dose: strength x doses per day x the CDC 2022 factor (patches: rate x patches worn).

    Raises
    ------
    UnknownDrug
        For a drug outside the table, or a unit that is not the drug's (mg; mcg/h for transdermal patches).
    """
    opioid = drug if isinstance(drug, Opioid) else find_opioid(drug)
    if unit_of(unit) != opioid.unit:
        raise UnknownDrug(f"{opioid.label} is dosed in {opioid.unit}, not {unit!r}")
    return float(strength) * float(doses_per_day) * opioid.factor


def conversion_table():
    """The conversion factors as a DataFrame: ``drug, label, unit, factor, buprenorphine, source``."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "drug": o.name,
                "label": o.label,
                "unit": o.unit,
                "factor": o.factor,
                "buprenorphine": o.buprenorphine,
                "source": o.source,
            }
            for o in OPIOIDS.values()
        ]
    )
