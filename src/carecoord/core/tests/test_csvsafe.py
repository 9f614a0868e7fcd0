"""CSV cells a spreadsheet would run as formulas are neutralised (OWASP CSV injection)."""

import io
from datetime import date

from carecoord.core import csvsafe


def test_formula_like_text_is_prefixed_and_everything_else_is_kept():
    buf = io.StringIO()
    w = csvsafe.writer(buf, lineterminator="\n")
    w.writerow(["=1+2", "+44", "-x", "@SUM(A1)", "\tTab", "\rCR", "plain", "a=b", -5, 1.5, None, date(2026, 1, 2)])
    w.writerows([["=HYPERLINK(\"http://evil\")"]])
    assert buf.getvalue() == ("'=1+2,'+44,'-x,'@SUM(A1),'\tTab,'\rCR,plain,a=b,-5,1.5,,2026-01-02\n"
                              "\"'=HYPERLINK(\"\"http://evil\"\")\"\n")
