"""Core synthetic steps: the organisations of a health system, demo personas, and patients.

Everything is fictional: organisation names and ODS-style codes are made up, NHS numbers are in
the 999 test range, phone numbers are in Ofcom's drama range and emails use example.com.
"""

from __future__ import annotations

import string
from datetime import timedelta

import numpy as np
import polars as pl
from django.utils import timezone

from carecoord.core.models import (
    DataSharingGrant,
    Organisation,
    OrganisationKind,
    Role,
    RoleAssignment,
    Site,
    User,
)
from carecoord.synth.registry import SynthContext, step

GIVEN = ["Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Rosie", "Sophia", "Grace",
         "Freya", "Aisha", "Priya", "Zara", "Fatima", "Chloe", "Ella", "Emily", "Poppy", "Margaret", "Joan",
         "Patricia", "Susan", "Noah", "Oliver", "George", "Arthur", "Muhammad", "Leo", "Harry", "Oscar",
         "Archie", "Henry", "Jack", "Charlie", "Thomas", "Jacob", "Alfie", "Arjun", "Kwame", "Tomasz",
         "David", "John", "Peter", "Michael", "Brian", "Kenneth"]
FAMILY = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson",
          "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Thomas", "Clarke",
          "Jackson", "Wood", "Harris", "Edwards", "Turner", "Martin", "Cooper", "Hill", "Ward", "Hughes",
          "Khan", "Ahmed", "Ali", "Begum", "Hussain", "Kowalski", "Nowak", "Okafor", "Mensah", "Singh",
          "Murphy", "Kelly", "Campbell", "Stewart", "Morris", "Moore", "King", "Lee"]

DEMO_ICB = ("QNS", "Northshire Integrated Care Board", (53.80, -1.55))
DEMO_PROVIDERS = [
    ("RNT", "Northshire Teaching Hospitals NHS Foundation Trust", OrganisationKind.NHS_TRUST),
    ("REV", "Eastvale Hospitals NHS Trust", OrganisationKind.NHS_TRUST),
    ("RWB", "Westbrook and District NHS Trust", OrganisationKind.NHS_TRUST),
    ("NMB", "Meadowbank Independent Hospital", OrganisationKind.INDEPENDENT_SECTOR),
]

PERSONAS = [
    # (username suffix, display name, org index (0 = first trust, 'icb', 'hub', 1 = second trust, 'is'), roles, description)
    ("wlm", "Wendy Lister", 0, [Role.WAITING_LIST_MANAGER], "Waiting-list manager: the PTL, imports, reports"),
    ("sched", "Sam Hollis", 0, [Role.SCHEDULER], "Theatre scheduler: fills lists, books patients"),
    ("clin", "Dr Chidi Okoro", 0, [Role.CLINICIAN], "Consultant surgeon: priorities and clinical validation"),
    ("val", "Val Idris", 0, [Role.VALIDATOR], "Validation officer: worklists and patient contact"),
    ("admin", "Ada Mensah", 0, [Role.ORG_ADMIN], "Organisation admin: users and API tokens"),
    ("analyst", "Ana Lytic", 0, [Role.ANALYST], "Analyst: reports and modelling"),
    ("discharge", "Dee Charles", 0, [Role.DISCHARGE_COORDINATOR], "Discharge coordinator"),
    ("wlm2", "Will Moreno", 1, [Role.WAITING_LIST_MANAGER, Role.VALIDATOR], "Waiting-list manager at a second trust"),
    ("multi", "Morgan Bell", 0, [Role.WAITING_LIST_MANAGER], "Works for two trusts (switches organisation)"),
    ("scc", "Sol Carter", "icb", [Role.SCC_OPERATOR], "System coordination centre operator"),
    ("icbanalyst", "Ira Banerjee", "icb", [Role.ANALYST], "ICB analyst: system-wide figures"),
    ("hub", "Hana Kaur", "hub", [Role.HUB_COORDINATOR], "Elective hub coordinator: capacity sharing"),
    ("is", "Ian Sharpe", "is", [Role.SCHEDULER, Role.WAITING_LIST_MANAGER], "Independent-sector scheduler"),
]


def _code(rng: np.random.Generator, prefix: str, used: set[str], length: int = 2) -> str:
    letters = string.ascii_uppercase + string.digits
    while True:
        code = prefix + "".join(rng.choice(list(letters), size=length))
        if code not in used:
            used.add(code)
            return code


def _district(prefix: str, n: int) -> str:
    return f"{prefix}{n}"


@step(10, "organisations", "Region, ICBs, trusts, independent-sector providers, elective hubs and sites")
def organisations(ctx: SynthContext) -> dict:
    rng = ctx.rng("organisations")
    used: set[str] = set()
    now = timezone.now()
    rows: list[Organisation] = []
    structure = []  # (icb, [providers], hub)
    regions = [Organisation(ods_code=f"Y{60 + i:02d}", name=f"Region {i + 1}", kind=OrganisationKind.REGION,
                            created_at=now, updated_at=now) for i in range(ctx.scale.regions)]
    used |= {r.ods_code for r in regions}
    Organisation.objects.bulk_create(regions)
    for i in range(ctx.scale.icbs):
        region = regions[i % len(regions)]
        if i == 0:
            icb_code, icb_name, (lat, lon) = DEMO_ICB
            used.add(icb_code)
        else:
            icb_code = _code(rng, "Q", used)
            icb_name = f"{'NESWC'[i % 5]}-{i:02d} Integrated Care Board"
            lat, lon = float(rng.uniform(50.6, 54.9)), float(rng.uniform(-3.8, 1.4))
        pc_prefix = icb_code[1:3] if i else "NS"
        icb = Organisation.objects.create(ods_code=icb_code, name=icb_name, kind=OrganisationKind.ICB,
                                          parent=region, postcode_district=_district(pc_prefix, 1),
                                          latitude=lat, longitude=lon)
        providers = []
        n_trusts, n_is = ctx.scale.trusts_per_icb, ctx.scale.independent_per_icb
        for j in range(n_trusts + n_is):
            if i == 0 and j < len(DEMO_PROVIDERS) and (j < n_trusts or DEMO_PROVIDERS[j][2] != OrganisationKind.NHS_TRUST):
                code, name, kind = DEMO_PROVIDERS[j] if j < n_trusts else DEMO_PROVIDERS[-1]
                used.add(code)
            elif j < n_trusts:
                code, name, kind = _code(rng, "R", used), f"Trust {i:02d}-{j + 1} NHS Foundation Trust", OrganisationKind.NHS_TRUST
            else:
                code, name, kind = _code(rng, "N", used), f"Independent Hospital {i:02d}-{j + 1}", OrganisationKind.INDEPENDENT_SECTOR
            plat, plon = lat + float(rng.normal(0, 0.12)), lon + float(rng.normal(0, 0.18))
            org = Organisation.objects.create(ods_code=code, name=name, kind=kind, parent=icb,
                                              postcode_district=_district(pc_prefix, j + 2), latitude=plat,
                                              longitude=plon)
            n_sites = 2 if kind == OrganisationKind.NHS_TRUST else 1
            for s in range(n_sites):
                Site.objects.create(organisation=org, ods_code=f"{code}{s + 1:02d}",
                                    name=f"{name.split(' NHS')[0]} – {'Main' if s == 0 else 'General'} Hospital"
                                    if kind == OrganisationKind.NHS_TRUST else name,
                                    postcode_district=_district(pc_prefix, j + 2),
                                    latitude=plat + 0.01 * s, longitude=plon + 0.01 * s)
            providers.append(org)
        hub = Organisation.objects.create(ods_code=f"H{icb_code}", name=f"{icb_name.replace(' Integrated Care Board', '')} Elective Hub",
                                          kind=OrganisationKind.ELECTIVE_HUB, parent=icb, latitude=lat, longitude=lon)
        structure.append((icb, providers, hub, pc_prefix))
        rows.extend([icb, *providers, hub])
    ctx.shared["structure"] = structure
    ctx.shared["providers"] = [p for _, ps, _, _ in structure for p in ps]
    # Each provider lets its system's elective hub see its patient-level waiting list (the system-wide
    # PTL and capacity sharing); the ICB sees its providers' aggregates without a grant.
    DataSharingGrant.objects.bulk_create([
        DataSharingGrant(grantor=p, grantee=hub, scope=DataSharingGrant.Scope.PATIENT,
                         purpose="System-wide waiting list and capacity sharing", starts_on=ctx.today - timedelta(days=365),
                         created_at=now, updated_at=now)
        for _, ps, hub, _ in structure for p in ps])
    return {"organisations": Organisation.objects.count(), "sites": Site.objects.count(),
            "data_sharing_grants": DataSharingGrant.objects.count()}


@step(20, "personas", "Demo users for every role (persona login in demo mode)")
def personas(ctx: SynthContext) -> dict:
    icb, providers, hub, _ = ctx.shared["structure"][0]
    trusts = [p for p in providers if p.kind == OrganisationKind.NHS_TRUST]
    independent = [p for p in providers if p.kind == OrganisationKind.INDEPENDENT_SECTOR]
    where = {0: trusts[0], 1: trusts[1] if len(trusts) > 1 else trusts[0], "icb": icb, "hub": hub,
             "is": independent[0] if independent else trusts[0]}
    count = 0
    for suffix, name, org_key, roles, description in PERSONAS:
        user = User.objects.create(username=f"{suffix}", display_name=name, is_persona=True,
                                   persona_description=description, first_name=name.split()[-2] if len(name.split()) > 2 else name.split()[0],
                                   last_name=name.split()[-1])
        user.set_unusable_password()
        user.save(update_fields=["password"])
        RoleAssignment.objects.create(user=user, organisation=where[org_key], roles=[str(r) for r in roles])
        if suffix == "multi":
            RoleAssignment.objects.create(user=user, organisation=where[1], roles=[str(r) for r in roles])
        count += 1
    return {"personas": count}


def _patient_chunk(rng: np.random.Generator, start_id: int, n: int, today, prefixes: list[str],
                   home_orgs: np.ndarray) -> pl.DataFrame:
    from carecoord.core import nhs_number

    ids = np.arange(start_id, start_id + n, dtype=np.int64)
    # Elective waiters skew older: a mixture of adult ages and a small paediatric share.
    ages = np.where(rng.random(n) < 0.07, rng.integers(0, 16, n), np.clip(rng.normal(58, 18, n), 16, 100)).astype(int)
    birth = np.datetime64(today) - (ages * 365.25 + rng.integers(0, 365, n)).astype("timedelta64[D]")
    sex = rng.choice(np.array(["1", "2", "9", "0"]), size=n, p=[0.48, 0.515, 0.0025, 0.0025])
    given = np.array(GIVEN)[rng.integers(0, len(GIVEN), n)]
    family = np.array(FAMILY)[rng.integers(0, len(FAMILY), n)]
    org_idx = home_orgs
    district = np.array([f"{prefixes[i]}{d}" for i, d in zip(org_idx, rng.integers(1, 30, n), strict=True)])
    sms = rng.random(n) < 0.82
    email_ok = rng.random(n) < 0.55
    children = ages < 16
    frame = pl.DataFrame({
        "id": ids,
        "nhs_number": nhs_number.generate_test_numbers(n, start=start_id),
        "given_name": given,
        "family_name": family,
        "birth_date": birth.astype("datetime64[D]"),
        "sex": sex,
        "postcode_district": district,
        "phone": np.char.add("07700900", np.char.zfill((ids % 1000).astype(str), 3)),
        "email": np.char.add(np.char.add("patient", ids.astype(str)), "@example.com"),
        "consent_sms": sms,
        "consent_email": email_ok,
        "prefers_letter": ~sms & ~email_ok,
        "vulnerable": rng.random(n) < 0.02,
        "parent_contact": np.where(children & (rng.random(n) < 0.9), "Parent: 07700900999", ""),
    }).with_columns(
        pl.lit(timezone.now()).alias("created_at"), pl.lit(timezone.now()).alias("updated_at"),
    )
    return frame


@step(30, "patients", "Patients with NHS numbers in the 999 test range, streamed with COPY")
def patients(ctx: SynthContext) -> dict:
    rng = ctx.rng("patients")
    providers = ctx.shared["providers"]
    prefixes = []
    prefix_of = {}
    for _, ps, _, pc in ctx.shared["structure"]:
        for p in ps:
            prefix_of[p.pk] = pc
    weights = rng.uniform(0.5, 1.5, len(providers))
    weights[[i for i, p in enumerate(providers) if p.kind == OrganisationKind.INDEPENDENT_SECTOR]] *= 0.25
    weights /= weights.sum()
    prefixes = [prefix_of[p.pk] for p in providers]
    total, chunk = ctx.scale.patients, ctx.scale.chunk
    home = np.empty(total, dtype=np.int32)
    done = 0
    while done < total:
        n = min(chunk, total - done)
        org_idx = rng.choice(len(providers), size=n, p=weights)
        home[done:done + n] = org_idx
        frame = _patient_chunk(rng, done + 1, n, ctx.today, prefixes, org_idx)
        ctx.copy_frame("core_patient", frame)
        org_ids = np.array([p.pk for p in providers], dtype=np.int64)[org_idx]
        ids = frame["id"].to_numpy()
        ident = pl.DataFrame({
            "patient_id": ids,
            "organisation_id": org_ids,
            "local_id": np.char.add("MRN", np.char.zfill(ids.astype(str), 8)),
        })
        ctx.copy_frame("core_patientidentifier", ident)
        done += n
        ctx.progress(n)
    ctx.reset_sequence("core_patient")
    ctx.reset_sequence("core_patientidentifier")
    ctx.shared["patient_home"] = home  # index into providers, per patient id - 1
    return {"patients": total}

