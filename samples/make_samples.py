"""Regenerate the bundled sample policy PDFs (fictional countries, realistic wording).

    .venv/bin/python samples/make_samples.py

Each document puts its facts on different pages (title on page 1, adoption elsewhere, the target
later) with distractors (baseline years, other percentages, other ministries) so that the sample
run in the app shows real evidence and page numbers. The expected answers are in `EXPECTED`;
the tests check the offline extractor against them. Needs fpdf2 (requirements-dev.txt).
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from policy_reader.fsio import atomic_write_bytes  # noqa: E402

DOCUMENTS: dict[str, dict] = {
    "nordavia_climate_policy_2019.pdf": {
        "title": "National Climate Change Policy of the Republic of Nordavia",
        "pages": [
            "National Climate Change Policy of the Republic of Nordavia\n"
            "Foreword\n"
            "Nordavia is a small coastal economy whose farms, ports and towns are already exposed to a changing "
            "climate. This document sets out how the country will reduce its emissions and protect its people. "
            "It replaces the Environmental Framework of 2008 and builds on the national greenhouse gas inventory "
            "published in 2017.",

            "1. Status and adoption\n"
            "The National Climate Change Policy was adopted by Cabinet on 4 June 2019. "
            "It will be reviewed every five years, with the first review due in 2024. "
            "The Ministry of Environment is responsible for implementing the policy and reports to Parliament "
            "each year. The Ministry of Finance supports the costing of measures.\n\n"
            "2. National circumstances\n"
            "Energy accounts for 62% of national emissions, followed by agriculture and transport. "
            "Forest cover has declined since 1990.",

            "3. Mitigation\n"
            "Nordavia will reduce greenhouse gas emissions by 45% below 2010 levels by 2030. "
            "The policy covers the energy, transport and agriculture sectors. "
            "Renewable electricity will rise to 70% of supply through wind and solar auctions.\n\n"
            "4. Adaptation\n"
            "The policy also covers adaptation to climate change: chapter four sets out flood defences, "
            "drought-resilient crops and an early warning system for coastal storms.",
        ],
    },
    "kestria_energy_transition_strategy.pdf": {
        "title": "Kestria Energy Transition Strategy 2021-2035",
        "pages": [
            "Kestria Energy Transition Strategy 2021-2035\n"
            "Summary\n"
            "This strategy describes how Kestria will modernise its power system and heavy industry while "
            "keeping energy affordable for households. It was prepared after a public consultation that "
            "received 1,200 written submissions.",

            "Part A. Legal basis\n"
            "The strategy was approved by Parliament on 18 March 2021 and entered into force on publication. "
            "The Ministry of Energy leads its implementation together with the national regulator.\n\n"
            "Part B. Scope\n"
            "The strategy covers the energy and industry sectors. "
            "This strategy does not cover adaptation; climate risks are addressed in a separate resilience "
            "programme.",

            "Part C. Targets\n"
            "Kestria commits to cut greenhouse gas emissions by 30% by 2035 compared with 2015 levels. "
            "Coal power plants will close by 2032. "
            "Public investment of USD 3.5 billion is planned over the period.",

            "Part D. Monitoring\n"
            "Progress is reported every two years in a public dashboard. "
            "Indicators include installed renewable capacity, industrial energy intensity and household "
            "energy prices.",
        ],
    },
    "lowland_low_emission_development_plan.pdf": {
        "title": "Lowland Republic Low Emission Development Plan",
        "pages": [
            "Lowland Republic Low Emission Development Plan\n"
            "Introduction\n"
            "The Lowland Republic depends on its forests, rivers and farmland. This plan charts a path to a "
            "low emission economy that also makes communities safer.",

            "Chapter 1. Institutional arrangements\n"
            "The plan was approved by the Council of Ministers on 12 May 2016. "
            "The Ministry of Finance is responsible for the plan and coordinates budgets across government. "
            "A steering committee with the Ministry of Environment meets twice a year.",

            "Chapter 2. Sectors\n"
            "The plan covers the transport, waste, forestry and agriculture sectors. "
            "Waste collection reached 40% of urban households in 2015.",

            "Chapter 3. Mitigation goals\n"
            "The Lowland Republic aims to reduce greenhouse gas emissions by 60% by 2050 relative to 2000 levels. "
            "An interim milestone is set for 2035.\n\n"
            "Chapter 4. Resilience\n"
            "Adaptation is a core part of the plan: it includes river flood management, climate-smart farming "
            "and heat action plans for cities.",
        ],
    },
}

# What a careful analyst would record (the offline extractor is tested against this).
EXPECTED: dict[str, dict[str, tuple[object, int]]] = {
    "nordavia_climate_policy_2019.pdf": {
        "year_adopted": (2019, 2), "adoption_date": ("2019-06-04", 2), "emission_target_pct": (45, 3),
        "target_year": (2030, 3), "covers_adaptation": (True, 3),
        "sectors": (["energy", "transport", "agriculture"], 3), "responsible_ministry": ("Ministry of Environment", 2),
        "renewable_share_pct": (70, 3),  # the only sample stating it: the others answer "not found"
    },
    "kestria_energy_transition_strategy.pdf": {
        "year_adopted": (2021, 2), "adoption_date": ("2021-03-18", 2), "emission_target_pct": (30, 3),
        "target_year": (2035, 3), "covers_adaptation": (False, 2),
        "sectors": (["energy", "industry"], 2), "responsible_ministry": ("Ministry of Energy", 2),
    },
    "lowland_low_emission_development_plan.pdf": {
        "year_adopted": (2016, 2), "adoption_date": ("2016-05-12", 2), "emission_target_pct": (60, 4),
        "target_year": (2050, 4), "covers_adaptation": (True, 4),
        "sectors": (["transport", "agriculture", "waste", "forestry"], 3), "responsible_ministry": ("Ministry of Finance", 2),
    },
}

_FIXED_DATE = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)  # reproducible bytes


def render(title: str, pages: list[str]) -> bytes:
    """One born-digital PDF: the first line of each page as a heading, the rest as body text."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_title(title)
    pdf.set_creation_date(_FIXED_DATE)
    for number, text in enumerate(pages, start=1):
        pdf.add_page()
        pdf.set_xy(15, 15)
        heading, _, body = text.partition("\n")
        pdf.set_font("Helvetica", style="B", size=13)
        pdf.multi_cell(180, 7, heading)
        pdf.ln(2)
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(180, 5.5, body)
        pdf.set_y(-15)
        pdf.set_font("Helvetica", size=8)
        pdf.cell(0, 5, f"Page {number}", align="C")
    return bytes(pdf.output())


def main(out_dir: Path = HERE) -> list[Path]:
    written = []
    for name, doc in DOCUMENTS.items():
        path = out_dir / name
        atomic_write_bytes(path, render(doc["title"], doc["pages"]))
        written.append(path)
    return written


if __name__ == "__main__":
    for p in main():
        print(f"wrote {p} ({p.stat().st_size} bytes)")
