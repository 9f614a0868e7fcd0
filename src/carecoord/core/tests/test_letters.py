"""Letters print names and text as written (a Unicode font), and still print without the font."""

import io
from datetime import date

from pypdf import PdfReader

from carecoord.core import letters

NAME = "Łukasz Żółkiewski-Çelik"


def _letter(**kw):
    return letters.Letter(sender=["Alpha Hospitals NHS Trust"], recipient=[NAME, "Postcode LS1"],
                          dated=date(2026, 11, 30), heading="Your operation – please read",
                          paragraphs=["Dear Şebnem Øvergård, we expect to see you on 1 December."],
                          details=[("Consultant", "Mr Ōtani")], reference="NHS number 943 476 5919", **kw)


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_names_outside_latin_1_print_as_written():
    pdf = letters.render([_letter(), _letter()])
    text = _text(pdf)
    for written in (NAME, "Şebnem Øvergård", "Mr Ōtani", "Your operation – please read"):
        assert written in text
    assert "?" not in text and b"DejaVu" in pdf


def test_latin_1_letters_embed_no_font():
    """Nearly every letter is Latin-1: those keep the core font, which costs nothing to embed."""
    pdf = letters.render([letters.Letter(sender=["Trust"], recipient=["Zoë Brontë"], dated=date(2026, 11, 30),
                                         heading="Your operation – please read", paragraphs=["Café “today”."])])
    text = _text(pdf)
    assert "Zoë Brontë" in text and "Your operation - please read" in text
    assert b"/Helvetica" in pdf and b"DejaVu" not in pdf


def test_without_the_font_letters_still_print_latin_1_and_say_why(settings, caplog, tmp_path):
    settings.CARECOORD_LETTER_FONT = str(tmp_path / "missing.ttf")
    text = _text(letters.render([_letter()]))
    assert "Postcode LS1" in text and "?ukasz" in text  # what the core font cannot draw becomes "?"
    assert "letter font not found" in caplog.text
