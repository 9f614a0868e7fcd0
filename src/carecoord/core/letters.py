"""Letters to patients as PDF (fpdf2): one letter per page, so a batch prints and posts as one file.
Used for TCI letters (theatres) and validation letters. Set in a Unicode TrueType font
(`CARECOORD_LETTER_FONT`, DejaVu Sans by default), so a name prints as written; without the font files,
in the PDF core font (Latin-1 only)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

log = logging.getLogger(__name__)
_warned: set[str] = set()


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


def _plain(text: str) -> str:
    """Typographic dashes, quotes and arrows as their plain Latin-1 forms."""
    return (str(text).replace("–", "-").replace("—", "-").replace("’", "'").replace("‘", "'")
            .replace("“", '"').replace("”", '"').replace("→", "->"))


def _is_latin(text: str) -> bool:
    try:
        _plain(text).encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def latin(text: str) -> str:
    """fpdf2's core fonts are Latin-1: replace what they cannot draw rather than fail."""
    return _plain(text).encode("latin-1", "replace").decode("latin-1")


def _strings(letter: Letter) -> Iterable[str]:
    yield from letter.sender
    yield from letter.recipient
    yield from (letter.heading, letter.reference, *letter.paragraphs, *letter.sign_off)
    for key, value in letter.details:
        yield from (key, value)


def _font(doc, letters: Sequence[Letter]) -> tuple[str, Callable[[str], str]]:
    """The font family to set these letters in, and how text is prepared for it. Letters whose text is
    all Latin-1 (nearly all) use the PDF core font, which costs nothing to embed; the others the
    Unicode font (loading and subsetting it takes about a tenth of a second per document)."""
    from django.conf import settings

    if all(_is_latin(s) for letter in letters for s in _strings(letter)):
        return "helvetica", latin
    regular, bold = settings.CARECOORD_LETTER_FONT, settings.CARECOORD_LETTER_FONT_BOLD
    if regular and bold and Path(regular).is_file() and Path(bold).is_file():
        doc.add_font("letter", "", regular)
        doc.add_font("letter", "B", bold)
        return "letter", str
    if regular not in _warned:  # once per process, not per letter
        _warned.add(regular)
        log.warning("letter font not found (CARECOORD_LETTER_FONT %s): letters print Latin-1 only", regular or "unset")
    return "helvetica", latin


def render(letters: Iterable[Letter], *, title: str = "Letters") -> bytes:
    from fpdf import FPDF

    letters = list(letters)
    doc = FPDF(format="A4")
    family, text = _font(doc, letters)
    doc.set_title(text(title))
    doc.set_auto_page_break(auto=True, margin=20)
    width = doc.w - doc.l_margin - doc.r_margin
    n = 0
    for letter in letters:
        n += 1
        doc.add_page()
        doc.set_font(family, "", 10)
        for line in letter.sender:
            doc.cell(0, 5, text(line), align="R", new_x="LMARGIN", new_y="NEXT")
        doc.ln(6)
        doc.set_font(family, "", 11)
        for line in letter.recipient:
            doc.cell(0, 6, text(line), new_x="LMARGIN", new_y="NEXT")
        doc.ln(4)
        doc.cell(0, 6, text(f"{letter.dated:%d %B %Y}"), new_x="LMARGIN", new_y="NEXT")
        if letter.reference:
            doc.cell(0, 6, text(letter.reference), new_x="LMARGIN", new_y="NEXT")
        doc.ln(4)
        doc.set_font(family, "B", 14)
        doc.multi_cell(width, 8, text(letter.heading), new_x="LMARGIN", new_y="NEXT")
        doc.ln(2)
        if letter.details:
            doc.set_font(family, "", 11)
            for key, value in letter.details:
                doc.set_font(family, "B", 11)
                doc.cell(55, 8, text(key), border=1)
                doc.set_font(family, "", 11)
                doc.multi_cell(width - 55, 8, text(value), border=1, new_x="LMARGIN", new_y="NEXT")
            doc.ln(4)
        doc.set_font(family, "", 11)
        for p in letter.paragraphs:
            doc.multi_cell(width, 6, text(p), new_x="LMARGIN", new_y="NEXT")
            doc.ln(3)
        doc.ln(3)
        for line in letter.sign_off:
            doc.cell(0, 6, text(line), new_x="LMARGIN", new_y="NEXT")
    if n == 0:
        raise ValueError("no letters to print")
    return bytes(doc.output())
