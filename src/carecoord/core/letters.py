"""Letters to patients as PDF (fpdf2, core fonts: no system libraries): one letter per page, so a
batch prints and posts as one file. Used for TCI letters (theatres) and validation letters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Letter:
    sender: Sequence[str]  # organisation and site, top right
    recipient: Sequence[str]  # patient name (and address lines where held), top left
    dated: date
    heading: str
    paragraphs: Sequence[str]
    details: Sequence[tuple[str, str]] = field(default_factory=tuple)  # a two-column box of key facts
    reference: str = ""  # e.g. "NHS number 943 476 5919"
    sign_off: Sequence[str] = ("Yours sincerely,", "", "Elective booking team")


def addressed_to(patient) -> dict:
    """The recipient lines and reference of a letter to `patient` (name, postcode district, NHS number)."""
    from carecoord.core.formatting import nhs_number

    name = " ".join(x for x in (patient.given_name, patient.family_name) if x) or "The patient"
    district = [f"Postcode {patient.postcode_district}"] if patient.postcode_district else []
    number = nhs_number(patient.nhs_number)
    return {"recipient": [name, *district], "reference": f"NHS number {number}" if number else ""}


def latin(text: str) -> str:
    """fpdf2's core fonts are Latin-1: replace what they cannot draw rather than fail."""
    return (str(text).replace("–", "-").replace("—", "-").replace("’", "'").replace("‘", "'")
            .replace("“", '"').replace("”", '"').replace("→", "->")
            .encode("latin-1", "replace").decode("latin-1"))


def render(letters: Iterable[Letter], *, title: str = "Letters") -> bytes:
    from fpdf import FPDF

    doc = FPDF(format="A4")
    doc.set_title(latin(title))
    doc.set_auto_page_break(auto=True, margin=20)
    width = doc.w - doc.l_margin - doc.r_margin
    n = 0
    for letter in letters:
        n += 1
        doc.add_page()
        doc.set_font("helvetica", "", 10)
        for line in letter.sender:
            doc.cell(0, 5, latin(line), align="R", new_x="LMARGIN", new_y="NEXT")
        doc.ln(6)
        doc.set_font("helvetica", "", 11)
        for line in letter.recipient:
            doc.cell(0, 6, latin(line), new_x="LMARGIN", new_y="NEXT")
        doc.ln(4)
        doc.cell(0, 6, latin(f"{letter.dated:%d %B %Y}"), new_x="LMARGIN", new_y="NEXT")
        if letter.reference:
            doc.cell(0, 6, latin(letter.reference), new_x="LMARGIN", new_y="NEXT")
        doc.ln(4)
        doc.set_font("helvetica", "B", 14)
        doc.multi_cell(width, 8, latin(letter.heading), new_x="LMARGIN", new_y="NEXT")
        doc.ln(2)
        if letter.details:
            doc.set_font("helvetica", "", 11)
            for key, value in letter.details:
                doc.set_font("helvetica", "B", 11)
                doc.cell(55, 8, latin(key), border=1)
                doc.set_font("helvetica", "", 11)
                doc.multi_cell(width - 55, 8, latin(value), border=1, new_x="LMARGIN", new_y="NEXT")
            doc.ln(4)
        doc.set_font("helvetica", "", 11)
        for p in letter.paragraphs:
            doc.multi_cell(width, 6, latin(p), new_x="LMARGIN", new_y="NEXT")
            doc.ln(3)
        doc.ln(3)
        for line in letter.sign_off:
            doc.cell(0, 6, latin(line), new_x="LMARGIN", new_y="NEXT")
    if n == 0:
        raise ValueError("no letters to print")
    return bytes(doc.output())
