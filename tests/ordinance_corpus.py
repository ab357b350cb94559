"""Wind-energy zoning ordinances with gold answers: the patterns real ordinances break checks with.

Used by the grounding / extraction / offline tests and by the benchmark (bench/ordinances.py).

The texts are written after public US county wind-energy (WECS) ordinances — public record — in their
wording and layout: numbered sections and headings full of numbers ("Section 3", "Chapter 5.35"),
written-out numbers with digits in brackets ("five hundred (500) feet"), a number repeated for two
rules on one page (residences 500 / roads 400; dwellings 2,640 / lakes 2,640), setback tables, fractions
("1¼ times", "one and one-half times", "125 percent", "110%"), a stated maximum with any verb ("shall
not exceed", "no more than"), and other units next to the template's ("one mile (5,280 feet)" near noise).
Names of places are invented; no document is copied whole.

The template is a real setback template: property line / dwellings / roads in feet and as a multiple
of the turbine's height (`_feet` / `_multiplier` twins), maximum height, noise, shadow flicker.
`GOLD[doc][variable]` is (value, quote as printed) or None when the document does not state it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policy_reader.models import PageText, Variable, VariableType

_N = VariableType.NUMBER


def _v(name: str, question: str, instructions: str = "") -> Variable:
    return Variable(name=name, question=question, type=_N, instructions=instructions)


TEMPLATE: list[Variable] = [
    _v("setback_property_line_feet", "What is the minimum setback of a wind turbine from the property line (feet)?"),
    _v("setback_property_line_multiplier",
       "What is the minimum setback of a wind turbine from the property line, as a multiple of turbine height?",
       "A multiple of the total height: 1.1 for 110%."),
    _v("setback_dwellings_feet", "What is the minimum setback of a wind turbine from dwellings (feet)?"),
    _v("setback_dwellings_multiplier",
       "What is the minimum setback of a wind turbine from dwellings, as a multiple of turbine height?",
       "A multiple of the total height: 1.1 for 110%."),
    _v("setback_roads_feet", "What is the minimum setback of a wind turbine from public roads (feet)?"),
    _v("setback_roads_multiplier",
       "What is the minimum setback of a wind turbine from public roads, as a multiple of turbine height?",
       "A multiple of the total height: 1.1 for 110%."),
    _v("max_height_feet", "What is the maximum turbine height (feet)?"),
    _v("noise_limit_dba", "What is the maximum noise level allowed (dBA)?"),
    _v("shadow_flicker_hours", "What is the maximum shadow flicker allowed (hours per year)?"),
]


@dataclass(frozen=True)
class Ordinance:
    name: str
    pages: list[str]
    gold: dict[str, tuple[Any, str] | None]  # variable -> (value, quote as printed), None = not stated

    def page_texts(self) -> list[PageText]:
        return [PageText(number=i + 1, text=t) for i, t in enumerate(self.pages)]

    def page_of(self, quote: str) -> int:
        """The page printing the quote (the gold page)."""
        squash = " ".join(quote.split())
        return next(i + 1 for i, t in enumerate(self.pages) if squash in " ".join(t.split()))


ALDER = Ordinance("alder_county_wecs.pdf", [
    """ALDER COUNTY ZONING ORDINANCE
ARTICLE 17. WIND ENERGY CONVERSION SYSTEMS

Section 17.1 Purpose
The purpose of this Article is to provide for the siting, construction and operation of wind energy
conversion systems (WECS) in Alder County, subject to reasonable restrictions which will preserve the
public health, safety and welfare. This Article is adopted under Chapter 5.35 of the County Code and
Section 3 of the Zoning Enabling Act.

Section 17.2 Definitions
Total height: the height of a wind turbine measured from the ground to the tip of a blade at its
highest point. Occupied dwelling: a building used as a residence on the date an application is filed.
Participating landowner: an owner of land on which a WECS is located who has a lease with the operator.

Section 17.3 Applicability
This Article applies to all WECS with a nameplate capacity of 100 kilowatts or more. No WECS shall be
located within one mile (5,280 feet) of the boundary of the Alder Municipal Airport.""",
    """Section 17.5 Setbacks
All setbacks shall be measured from the center of the wind turbine tower.
(a) Property lines. Each wind turbine shall be set back from all property lines of non-participating
landowners a distance of not less than 1.1 times the total height of the turbine.
(b) Occupied dwellings. Neighboring dwellings 1¼ times the total height, measured to the nearest wall
of the dwelling, and in no case less than one thousand (1,000) feet from any occupied dwelling.
(c) Public roads. Each wind turbine shall be set back five hundred (500) feet from the right-of-way
of any public road.
(d) Setbacks may be reduced with the written consent of the participating landowner, recorded with
the Register of Deeds.""",
    """Section 17.6 Height
The total height of a wind turbine shall not exceed 500 feet.

Section 17.7 Noise
Audible sound from a WECS shall not exceed fifty (50) dBA, as measured at the exterior of any
occupied dwelling, except during short-term events such as utility outages and severe windstorms.

Section 17.8 Decommissioning
The operator shall remove all above-ground facilities within 365 days after the WECS ceases to
produce electricity for a period of twelve (12) consecutive months.""",
], {
    "setback_property_line_feet": None,
    "setback_property_line_multiplier": (1.1, "not less than 1.1 times the total height of the turbine"),
    "setback_dwellings_feet": (1000, "in no case less than one thousand (1,000) feet from any occupied dwelling"),
    "setback_dwellings_multiplier": (1.25, "Neighboring dwellings 1¼ times the total height"),
    "setback_roads_feet": (500, "five hundred (500) feet"),
    "setback_roads_multiplier": None,
    "max_height_feet": (500, "The total height of a wind turbine shall not exceed 500 feet."),
    "noise_limit_dba": (50, "shall not exceed fifty (50) dBA"),
    "shadow_flicker_hours": None,
})

BRENTON = Ordinance("brenton_county_wind.pdf", [
    """BRENTON COUNTY
ORDINANCE NO. 2019-04
AN ORDINANCE REGULATING WIND ENERGY FACILITIES

Section 1. Title. This Ordinance shall be known as the Brenton County Wind Energy Ordinance.
Section 2. Authority. This Ordinance is adopted pursuant to Section 59-7-4 of the State Code.
Section 3. Permit Required. No person shall construct a wind energy facility without a conditional
use permit issued by the Board of Adjustment.""",
    """Section 4. Setbacks.
4.1 A wind turbine shall be located no closer than 500 feet to any residence.
4.2 A wind turbine shall be located no closer than 400 feet to the right-of-way of any public road.
4.3 A wind turbine shall be set back from the property line of a non-participating parcel a distance
equal to one and one-half times its total height.
4.4 No wind turbine shall be located within 1,320 feet of a church, school or cemetery.

Section 5. Height. The total height of any wind turbine shall be no more than 499 feet.""",
    """Section 6. Noise. Sound from the wind energy facility shall not exceed 45 dBA at the exterior of
any non-participating residence, measured as a ten-minute average.
Section 7. Shadow Flicker. No non-participating residence shall experience more than thirty (30) hours
per year of shadow flicker, as modeled by the applicant.
Section 8. Lighting. Towers shall be lit only as required by the Federal Aviation Administration.""",
], {
    "setback_property_line_feet": None,
    "setback_property_line_multiplier": (1.5, "equal to one and one-half times its total height"),
    "setback_dwellings_feet": (500, "no closer than 500 feet to any residence"),
    "setback_dwellings_multiplier": None,
    "setback_roads_feet": (400, "no closer than 400 feet to the right-of-way of any public road"),
    "setback_roads_multiplier": None,
    "max_height_feet": (499, "shall be no more than 499 feet"),
    "noise_limit_dba": (45, "shall not exceed 45 dBA"),
    "shadow_flicker_hours": (30, "more than thirty (30) hours per year of shadow flicker"),
})

CEDAR = Ordinance("cedar_township_zoning.pdf", [
    """CEDAR TOWNSHIP ZONING ORDINANCE
CHAPTER 6 - SPECIAL LAND USES

6.14 Utility-Scale Wind Energy Systems
A. Intent. The Township finds that wind energy systems can be sited so as to protect the character of
the agricultural district. Applications shall comply with Chapter 6 and Section 6.14 of this Ordinance.
B. Site plan. The applicant shall submit a site plan at a scale of 1 inch = 200 feet showing all
structures within 3,000 feet of each turbine.""",
    """C. Setbacks. Wind turbines shall comply with the minimum setbacks in Table 6-1.
Table 6-1 Minimum Setbacks
Occupied dwellings 2,640 feet
Lakes and streams 2,640 feet
Property lines 110% of total height
Public roads 1.1 times total height
D. Height. No wind turbine shall exceed a total height of six hundred (600) feet.""",
    """E. Shadow flicker. Shadow flicker at any occupied dwelling shall not exceed thirty (30) hours per
year. The operator shall install flicker control software where needed.
F. Abandonment. A wind turbine that has not generated electricity for 24 months shall be removed.""",
], {
    "setback_property_line_feet": None,
    "setback_property_line_multiplier": (1.1, "Property lines 110% of total height"),
    "setback_dwellings_feet": (2640, "2,640 feet"),
    "setback_dwellings_multiplier": None,
    "setback_roads_feet": None,
    "setback_roads_multiplier": (1.1, "Public roads 1.1 times total height"),
    "max_height_feet": (600, "shall exceed a total height of six hundred (600) feet"),
    "noise_limit_dba": None,
    "shadow_flicker_hours": (30, "shall not exceed thirty (30) hours per year"),
})

DELMAR = Ordinance("delmar_county_model_wind.pdf", [
    """DELMAR COUNTY LAND USE CODE
TITLE 9, CHAPTER 9.40 - COMMERCIAL WIND ENERGY

9.40.010 Findings. The Board of Supervisors finds that commercial wind energy facilities provide
economic benefits and may affect neighboring property owners.
9.40.020 Applicability. This Chapter applies to any wind turbine with a rated capacity of more than
50 kilowatts. Section 9.40.050 governs setbacks.""",
    """9.40.050 Setbacks.
A. From public roads: a distance equal to 125 percent of the total height of the turbine, measured
from the edge of the road right-of-way.
B. From occupied dwellings: three thousand (3,000) feet, unless waived in writing by the owner.
C. From property lines: 750 feet from the boundary of any non-participating property.
9.40.060 Noise. The sound pressure level from a wind energy facility shall not exceed 55 dBA at any
property line.""",
], {
    "setback_property_line_feet": (750, "750 feet from the boundary of any non-participating property"),
    "setback_property_line_multiplier": None,
    "setback_dwellings_feet": (3000, "three thousand (3,000) feet"),
    "setback_dwellings_multiplier": None,
    "setback_roads_feet": None,
    "setback_roads_multiplier": (1.25, "a distance equal to 125 percent of the total height of the turbine"),
    "max_height_feet": None,
    "noise_limit_dba": (55, "shall not exceed 55 dBA"),
    "shadow_flicker_hours": None,
})

ORDINANCES: list[Ordinance] = [ALDER, BRENTON, CEDAR, DELMAR]

# --- held out: written after the checks were tuned on the four above, paraphrasing the structure of
# public county/village codes (Nebraska and Indiana small- and commercial-wind sections), and scored as
# they came; a separate row of the benchmark, so tuning on them shows.

PINECREST = Ordinance("pinecrest_county_cwecs.pdf", [
    """PINECREST COUNTY CODE
CHAPTER 151: COMMERCIAL WIND ENERGY CONVERSION SYSTEMS

§ 151.075 PURPOSE.
This subchapter regulates commercial wind energy conversion systems (CWECS) with a total nameplate
capacity of more than 100 kW, as authorized by Neb. Rev. Stat. § 23-114.

§ 151.077 GENERAL SITE AND DESIGN STANDARDS.
(A) A CWECS shall be located on a parcel of at least ten acres in size.
(B) A CWECS shall be designed and placed so as to minimize adverse visual and noise impacts on adjacent
areas, with noise levels documented according to IEC Standard 61400-11, and with projections of the
shadow flicker on existing structures off the property.""",
    """(C) A CWECS shall maintain a minimum setback distance from any property line of two times the combined
height of the tower and blade.
(D) A CWECS shall maintain a minimum setback distance from any public road or highway of at least two
times the combined height of the tower and blade.
(E) If an aggregated project, setbacks from multiple entities shall be one and one-tenth times the
height of the total system.
(F) Each turbine shall be marked with a visible identification number located no higher than 15 feet
above ground level.""",
], {
    "setback_property_line_feet": None,
    "setback_property_line_multiplier": (2, "from any property line of two times the combined"),
    "setback_dwellings_feet": None,
    "setback_dwellings_multiplier": None,
    "setback_roads_feet": None,
    "setback_roads_multiplier": (2, "from any public road or highway of at least two"),
    "max_height_feet": None,
    "noise_limit_dba": None,
    "shadow_flicker_hours": None,
})

MARLOW = Ordinance("marlow_village_small_wind.pdf", [
    """VILLAGE OF MARLOW
TITLE XV: LAND USAGE, CHAPTER 151: SMALL WIND ENERGY SYSTEMS

§ 151.04 CONDITIONAL USE PERMIT STANDARDS.
A small wind energy system shall be evaluated for compliance with the following standards.
(A) Setbacks.
(1) A small wind energy system shall be set back a distance equal to 100% of the total height from any
public road right-of-way, unless written permission is granted by the road authority.
(2) A small wind energy system shall be set back a distance equal to 100% of the total height from all
property lines, unless the abutting landowner grants a recorded easement.
(3) The setback shall be measured to the center of the base of the tower.""",
    """(B) Tower.
(1) Wind turbines may only be attached to free-standing or guy-wired monopole towers.
(2) The tower shall not exceed 80 feet in height on any parcel of one-half acre or less.
(C) Sound level. Noise generated by the small wind energy system shall not exceed 60 decibels, measured
at the property line, except during short-term events such as utility outages and severe wind storms.""",
], {
    "setback_property_line_feet": None,
    "setback_property_line_multiplier": (1, "equal to 100% of the total height from all property lines"),
    "setback_dwellings_feet": None,
    "setback_dwellings_multiplier": None,
    "setback_roads_feet": None,
    "setback_roads_multiplier": (1, "equal to 100% of the total height from any public road right-of-way"),
    "max_height_feet": (80, "The tower shall not exceed 80 feet in height"),
    "noise_limit_dba": (60, "shall not exceed 60 decibels"),
    "shadow_flicker_hours": None,
})

LAKESHORE = Ordinance("lakeshore_county_swecs.pdf", [
    """LAKESHORE COUNTY UNIFIED DEVELOPMENT ORDINANCE
§ 154.041 SUPPLEMENTARY REGULATIONS; SMALL WIND ENERGY CONVERSION SYSTEM (SWECS).
(A) Any wind energy conversion system with a maximum rated capacity larger than 100 kilowatts shall be
treated as a public service under § 154.118.
(B) The following regulations apply to all SWECS:
(1) Height. The maximum height of any SWECS tower and generator blades shall not exceed 120 feet,
measured from ground level to the tip of a blade at its highest point. The minimum distance between the
ground and a blade shall be 15 feet at the lowest point of its arc.
(2) Setbacks. No SWECS shall be located closer than 300 feet to any dwelling on an adjoining lot.
(3) Noise. A SWECS shall not produce sound above 50 dBA at the nearest property line.""",
], {
    "setback_property_line_feet": None,
    "setback_property_line_multiplier": None,
    "setback_dwellings_feet": (300, "closer than 300 feet to any dwelling"),
    "setback_dwellings_multiplier": None,
    "setback_roads_feet": None,
    "setback_roads_multiplier": None,
    "max_height_feet": (120, "shall not exceed 120 feet"),
    "noise_limit_dba": (50, "shall not produce sound above 50 dBA"),
    "shadow_flicker_hours": None,
})

QUINCY = Ordinance("quincy_county_wind_siting.pdf", [
    """QUINCY COUNTY WIND ENERGY SITING REGULATIONS
Adopted by Resolution 2021-118 of the Board of Commissioners

Article 4. Siting Standards
4.01 General. Every wind turbine shall meet the standards of this Article and of Appendix B.
4.02 Setbacks. Wind turbines shall be sited to meet the minimum distances in the table below, measured
from the center of the tower.
Non-participating residence 1,500 feet
Participating residence 1.1 x total height
Public road right-of-way 1.1 x total height
Non-participating property line 1.1 x total height""",
    """4.03 Height. The total height of a wind turbine shall not exceed 650 feet above grade.
4.04 Sound. Sound attributable to the wind energy facility shall not exceed 45 dB(A) at any
non-participating residence.
4.05 Shadow flicker. A non-participating residence shall not receive shadow flicker for more than 30
hours per year.
4.06 Appendix B lists the 12 monitoring locations used for compliance.""",
], {
    "setback_property_line_feet": None,
    "setback_property_line_multiplier": (1.1, "Non-participating property line 1.1 x total height"),
    "setback_dwellings_feet": (1500, "Non-participating residence 1,500 feet"),
    # the participating residences' row: a dwellings setback as a multiple (gold corrected after a first
    # run had it absent; the table does state it)
    "setback_dwellings_multiplier": (1.1, "Participating residence 1.1 x total height"),
    "setback_roads_feet": None,
    "setback_roads_multiplier": (1.1, "Public road right-of-way 1.1 x total height"),
    "max_height_feet": (650, "shall not exceed 650 feet above grade"),
    "noise_limit_dba": (45, "shall not exceed 45 dB(A)"),
    "shadow_flicker_hours": (30, "shadow flicker for more than 30\nhours per year"),
})

RIDGEWAY = Ordinance("ridgeway_township_wecs.pdf", [
    """RIDGEWAY TOWNSHIP
ZONING ORDINANCE AMENDMENT NO. 37
SECTION 18.9 WIND ENERGY CONVERSION SYSTEMS

18.9.1 Purpose. To establish standards for wind energy conversion systems in the A-1 and A-2 districts.
18.9.2 Setbacks. No tower shall be erected within one-quarter mile (1,320 feet) of any dwelling. No
tower shall be closer to a public road than 1.5 times its total height. No tower shall be closer to a
property line than 1.5 times its total height, unless the adjoining owner waives this setback.
18.9.3 Height. No wind turbine shall be taller than 499 feet, measured to the tip of the blade.""",
    """18.9.4 Decommissioning. Towers inactive for 18 months shall be removed within 180 days of notice.
18.9.5 Fees. The permit fee is $500 per tower, and the escrow is $2,000 per megawatt.""",
], {
    "setback_property_line_feet": None,
    "setback_property_line_multiplier": (1.5, "closer to a\nproperty line than 1.5 times its total height"),
    "setback_dwellings_feet": (1320, "one-quarter mile (1,320 feet) of any dwelling"),
    "setback_dwellings_multiplier": None,
    "setback_roads_feet": None,
    "setback_roads_multiplier": (1.5, "closer to a public road than 1.5 times its total height"),
    "max_height_feet": (499, "No wind turbine shall be taller than 499 feet"),
    "noise_limit_dba": None,
    "shadow_flicker_hours": None,
})

HELD_OUT: list[Ordinance] = [PINECREST, MARLOW, LAKESHORE, QUINCY, RIDGEWAY]


def make_ordinance_pdfs(folder: Path) -> dict[str, Path]:
    """The ordinances as real PDFs (fpdf2), made on demand: no binary is committed."""
    from tests.pdf_factory import make_text_pdf

    return {o.name: make_text_pdf(Path(folder) / o.name, o.pages) for o in [*ORDINANCES, *HELD_OUT]}


def gold_facts(ordinance: Ordinance) -> dict[str, tuple[Any, str]]:
    """The fake model's facts for one ordinance: what a strong, honest model answers (value, quote as printed)."""
    return {name: fact for name, fact in ordinance.gold.items() if fact is not None}
