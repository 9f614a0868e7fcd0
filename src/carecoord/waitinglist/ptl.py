"""The PTL query: filters and sorts parsed from a query string, applied to a scoped queryset.

Shared by the PTL page, its CSV/XLSX export, the API and saved views, so all four agree."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django import forms
from django.core.paginator import Paginator
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.functional import cached_property

from carecoord.waitinglist.models import ClockState, ListType

# Weeks-waited bands: (label, min days exclusive-lower, max days inclusive) per RTT guidance s10.1.7.
BANDS = {
    "0-18": ("Up to 18 weeks", None, 126),
    "18-52": ("Over 18 to 52 weeks", 126, 364),
    "52-65": ("Over 52 to 65 weeks", 364, 455),
    "65-78": ("Over 65 to 78 weeks", 455, 546),
    "78-104": ("Over 78 to 104 weeks", 546, 728),
    "104+": ("Over 104 weeks", 728, None),
}

# Sorts: key -> (label shown in the sort menu, ORDER BY). Every order ends with the primary key, so
# rows that tie never swap between two page requests (pages neither overlap nor skip). The default,
# "priority", is treat in turn (RTT guidance §9.1: clinical priority, then the order added to the list).
TREAT_IN_TURN = ("priority_rank", "queue_date", "id")
SORTS = {
    "priority": ("Treat in turn (clinical priority, then queue-order date)", TREAT_IN_TURN),
    "-priority": ("Clinical priority, lowest first", ("-priority_rank", "-queue_date", "id")),
    "wait": ("Weeks waited, longest first", ("rtt_start", "id")),
    "-wait": ("Weeks waited, shortest first", ("-rtt_start", "id")),
    "breach": ("52-week breach date, earliest first", ("rtt_start", "id")),
    "-breach": ("52-week breach date, latest first", ("-rtt_start", "id")),
    "tci": ("TCI date, earliest first", ("tci_date", *TREAT_IN_TURN)),
    "-tci": ("TCI date, latest first", ("-tci_date", *TREAT_IN_TURN)),
    "queue": ("Queue-order date, earliest first", ("queue_date", "id")),
    "-queue": ("Queue-order date, latest first", ("-queue_date", "id")),
    "tfc": ("Treatment function, lowest code first", ("tfc", *TREAT_IN_TURN)),
    "-tfc": ("Treatment function, highest code first", ("-tfc", *TREAT_IN_TURN)),
    "consultant": ("Consultant code, A to Z", ("consultant_code", *TREAT_IN_TURN)),
    "-consultant": ("Consultant code, Z to A", ("-consultant_code", *TREAT_IN_TURN)),
    "provider": ("Provider code, A to Z", ("provider__ods_code", *TREAT_IN_TURN)),
    "-provider": ("Provider code, Z to A", ("-provider__ods_code", *TREAT_IN_TURN)),
    "list": ("List type, A to Z", ("list_type", *TREAT_IN_TURN)),
    "-list": ("List type, Z to A", ("-list_type", *TREAT_IN_TURN)),
    "ppid": ("Pathway identifier, A to Z", ("ppid", "id")),
    "-ppid": ("Pathway identifier, Z to A", ("-ppid", "id")),
}

# The PTL table's sortable columns: (heading, sort key for ascending values, for descending values,
# the sort a first click gives). Weeks waited ascend as the clock start descends.
COLUMNS = [
    ("Pathway", "ppid", "-ppid", "ppid"),
    ("Provider", "provider", "-provider", "provider"),
    ("TFC", "tfc", "-tfc", "tfc"),
    ("List", "list", "-list", "list"),
    ("Priority", "priority", "-priority", "priority"),
    ("Weeks waited", "-wait", "wait", "wait"),
    ("Breaches 52 weeks", "breach", "-breach", "breach"),
    ("TCI", "tci", "-tci", "tci"),
]


def parse_page(raw) -> int:
    """A page number from a query string: anything that is not a whole number of at least 1 is page 1
    (the paginator sends a number past the end to the last page)."""
    try:
        n = int(str(raw).strip())
    except (TypeError, ValueError):
        return 1
    return max(n, 1)


TCI_CHOICES = [("", "Any"), ("none", "No TCI date"), ("booked", "TCI date booked"), ("past", "TCI date passed")]
DUPLICATE_CHOICES = [("", "Any"), ("only", "Only possible duplicates or transfers")]
VALIDATION_CHOICES = [("", "Any"), ("recent", "Validated in the last 12 weeks"), ("due", "Not validated in 12 weeks")]


class CodeChoiceField(forms.ChoiceField):
    """A choice of codes matched without regard to case (`rev` is RBB's `REV`, `p2` is `P2`), cleaned
    to the code as the choices spell it."""

    def to_python(self, value):
        value = super().to_python(value).strip()
        for k, _ in self.choices:
            if str(k).lower() == value.lower():
                return str(k)
        return value


# Each message names its field, so the error summary says which filter to correct.
CHOICE_ERRORS = {
    "provider": "Select a provider from the list",
    "list_type": "Select a list type from the list",
    "priority": "Select a clinical priority from the list",
    "band": "Select a weeks-waited band from the list",
    "tci": "Select a TCI option from the list",
    "validation": "Select a validation option from the list",
    "duplicates": "Select an option for 'Across providers' from the list",
    "sort": "Select a sort order from the list",
}


def priority_choices() -> list[tuple[str, str]]:
    from carecoord.core.models import ClinicalPriority

    return [("", "Any"), *[(p.code, f"{p.code} – {p.name}") for p in ClinicalPriority.objects.all()],
            ("none", "Not set")]


class PtlFilterForm(forms.Form):
    """The PTL's filters and sort. The page number is not a filter: `parse_page` reads it, so a bad
    page never invalidates (or empties) the list, and exports and saved views leave it out."""

    provider = forms.CharField(required=False, label="Provider (ODS code)", max_length=12,
                               error_messages={"max_length": "Enter a provider ODS code of 12 characters or fewer"})
    site = forms.CharField(required=False, label="Site", max_length=12,
                           error_messages={"max_length": "Enter a site code of 12 characters or fewer"})
    tfc = forms.CharField(required=False, label="Treatment function code", max_length=3,
                          error_messages={"max_length": "Enter a 3-character treatment function code, like 110"})
    consultant = forms.CharField(required=False, label="Consultant code", max_length=12,
                                 error_messages={"max_length": "Enter a consultant code of 12 characters or fewer"})
    list_type = CodeChoiceField(required=False, choices=[("", "Any"), *ListType.choices], label="List type")
    priority = CodeChoiceField(required=False, label="Clinical priority")
    band = CodeChoiceField(required=False, choices=[("", "Any")] + [(k, v[0]) for k, v in BANDS.items()],
                           label="Weeks waited")
    breach_before = forms.DateField(
        required=False, label="Breaches 52 weeks before", input_formats=["%Y-%m-%d", "%d/%m/%Y"],
        error_messages={"invalid": "Enter the 'Breaches 52 weeks before' date as YYYY-MM-DD or DD/MM/YYYY"})
    tci = CodeChoiceField(required=False, choices=TCI_CHOICES, label="TCI")
    validation = CodeChoiceField(required=False, choices=VALIDATION_CHOICES, label="Validation")
    duplicates = CodeChoiceField(required=False, choices=DUPLICATE_CHOICES, label="Across providers")
    sort = CodeChoiceField(required=False, choices=[(k, v[0]) for k, v in SORTS.items()], label="Sort by")

    def __init__(self, *args, providers=None, **kwargs):
        """`providers`: the organisations whose lists the user sees; with more than one (a system
        view) the provider filter becomes a choice among them."""
        super().__init__(*args, **kwargs)
        self.single_list = providers is not None and len(providers) <= 1
        self.fields["priority"].choices = priority_choices()
        if providers and len(providers) > 1:
            self.fields["provider"] = CodeChoiceField(
                required=False, label="Provider",
                choices=[("", "All providers")] + [(o.ods_code, f"{o.name} ({o.ods_code})") for o in providers])
        for name, message in CHOICE_ERRORS.items():
            self.fields[name].error_messages["invalid_choice"] = message

    def clean_provider(self):
        return self.cleaned_data["provider"].strip().upper()

    def clean_duplicates(self):
        # One provider's list has nothing to compare with: the filter would show an empty list that reads
        # as "no duplicates" (only a system-wide list shows the patients also on another provider's list).
        if self.cleaned_data["duplicates"] == "only" and self.single_list:
            raise forms.ValidationError("Possible duplicates across providers are shown on a system-wide list "
                                        "only: this list is one provider's")
        return self.cleaned_data["duplicates"]

    def clean_site(self):
        return self.cleaned_data["site"].strip().upper()

    def clean_consultant(self):
        return self.cleaned_data["consultant"].strip().upper()

    def clean_tfc(self):
        v = self.cleaned_data["tfc"].strip().upper()
        if v and not v.isalnum():
            raise forms.ValidationError("Enter a 3-character treatment function code, like 110")
        return v


def elsewhere(scope_ids: list[int]):
    """The same patient on another provider's list for the same treatment function (reference §4.2
    T21: a possible duplicate referral or a mutual-aid transfer) — only among the providers the viewer
    may see, so the flag never reveals another organisation's list."""
    from carecoord.waitinglist.models import Pathway

    return (Pathway.objects.filter(patient_id=OuterRef("patient_id"), tfc=OuterRef("tfc"), status="on_list",
                                   provider_id__in=scope_ids)
            .exclude(provider_id=OuterRef("provider_id")))


def possible_duplicates(pathways, scope_ids: list[int]) -> set[int]:
    """Which of these pathways' patients are on another visible provider's list for the same TFC."""
    from carecoord.waitinglist.models import Pathway

    ids = [p.pk for p in pathways]
    if not ids or len(scope_ids) < 2:
        return set()
    return set(Pathway.objects.filter(pk__in=ids).filter(Exists(elsewhere(scope_ids))).values_list("pk", flat=True))


@dataclass
class PtlQuery:
    provider: str = ""
    site: str = ""
    tfc: str = ""
    consultant: str = ""
    list_type: str = ""
    priority: str = ""
    band: str = ""
    breach_before: date | None = None
    tci: str = ""
    validation: str = ""
    duplicates: str = ""
    sort: str = "priority"
    page: int = 1
    census: date = field(default_factory=timezone.localdate)

    @classmethod
    def from_form(cls, form: PtlFilterForm, census: date | None = None, page=1) -> PtlQuery:
        data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
        q = cls(**data, page=parse_page(page))
        if census:
            q.census = census
        return q

    def apply(self, qs: QuerySet, scope_ids: list[int] | None = None) -> QuerySet:
        c = self.census
        if self.provider:
            qs = qs.filter(provider__ods_code=self.provider.upper())
        if self.site:
            qs = qs.filter(site__ods_code=self.site.upper())
        if self.tfc:
            qs = qs.filter(tfc=self.tfc)
        if self.consultant:
            qs = qs.filter(consultant_code=self.consultant.upper())
        if self.list_type:
            qs = qs.filter(list_type=self.list_type)
        if self.priority:
            qs = qs.filter(clinical_priority="" if self.priority == "none" else self.priority)
        if self.band:
            _, lo, hi = BANDS[self.band]
            # days = c - start; days > lo  <=> start < c - lo ; days <= hi <=> start >= c - hi
            qs = qs.filter(clock_state=ClockState.OPEN)
            if lo is not None:
                qs = qs.filter(rtt_start__lt=c - timedelta(days=lo))
            if hi is not None:
                qs = qs.filter(rtt_start__gte=c - timedelta(days=hi))
        if self.breach_before:
            # Over 52 weeks from start + 365 days.
            qs = qs.filter(clock_state=ClockState.OPEN, rtt_start__lt=self.breach_before - timedelta(days=365))
        if self.tci == "none":
            qs = qs.filter(tci_date__isnull=True)
        elif self.tci == "booked":
            qs = qs.filter(tci_date__gte=c)
        elif self.tci == "past":
            qs = qs.filter(tci_date__lt=c)
        if self.validation == "recent":
            qs = qs.filter(last_validated_on__gte=c - timedelta(weeks=12))
        elif self.validation == "due":
            qs = qs.filter(Q(last_validated_on__isnull=True) | Q(last_validated_on__lt=c - timedelta(weeks=12)))
        if self.duplicates == "only":
            qs = qs.filter(Exists(elsewhere(scope_ids or []))) if scope_ids and len(scope_ids) > 1 else qs.none()
        _, order = SORTS.get(self.sort, SORTS["priority"])
        return qs.order_by(*[F(o[1:]).desc(nulls_last=True) if o.startswith("-") else F(o).asc(nulls_last=True)
                             for o in order])

    def querystring(self, **overrides) -> str:
        from urllib.parse import urlencode

        params = {k: getattr(self, k) for k in ("provider", "site", "tfc", "consultant", "list_type", "priority",
                                                "band", "breach_before", "tci", "validation", "duplicates", "sort", "page")}
        params.update(overrides)
        return urlencode({k: v for k, v in params.items()
                          if v not in (None, "") and not (k == "page" and v == 1) and not (k == "sort" and v == "priority")})

    @property
    def sort_label(self) -> str:
        return SORTS.get(self.sort, SORTS["priority"])[0]

    def column_sort(self, asc: str, desc: str, first: str) -> tuple[str | None, str]:
        """For a table heading: its aria-sort ("ascending", "descending" or None when the list is not
        sorted by it) and the sort its link gives (the other way round when it is the current one)."""
        if self.sort == asc:
            return "ascending", desc
        if self.sort == desc:
            return "descending", asc
        return None, first


EXACT_COUNT_LIMIT = 20_000


def planner_estimate(qs: QuerySet) -> int:
    """PostgreSQL's estimate of how many rows `qs` returns (no rows are read)."""
    import json

    from django.core.exceptions import EmptyResultSet
    from django.db import connections

    try:
        sql, params = qs.order_by().query.sql_with_params()
    except EmptyResultSet:
        return 0
    with connections[qs.db].cursor() as cur:
        cur.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cur.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatingPaginator(Paginator):
    """Exact counts for small results; the planner's estimate (shown as "about") for large ones,
    because an exact COUNT over a million-row list costs more than the whole page. `exact=True` for
    filters the planner cannot estimate but that are small by nature: the possible-duplicates EXISTS
    was estimated at 24,681 rows for 144 on the demo, giving hundreds of empty pages. (Verifying every
    estimate with a count bounded at the limit cost 10–25 ms per filtered page on a 1M-row list.)"""

    def __init__(self, object_list, per_page, *, exact: bool = False, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.exact = exact

    @cached_property
    def count(self) -> int:
        if self.exact:
            return self.object_list.count()
        estimate = planner_estimate(self.object_list)
        if estimate < EXACT_COUNT_LIMIT:
            self.count_is_estimate = False
            return self.object_list.count()
        self.count_is_estimate = True
        return estimate

    count_is_estimate = False
