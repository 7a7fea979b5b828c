"""The dashboard (figures over a period, granted tenants only) and the audit log with its chain check."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from mindrail.console import dashboard
from mindrail.console.accounts import Staff
from mindrail.console.web import State, signed_in
from mindrail.store.models import utcnow

router = APIRouter(prefix="/console")


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page(
    state: State, staff: Annotated[Staff, Depends(signed_in("dashboard.view"))], days: int = 30
) -> HTMLResponse:
    days = max(1, min(days, 366))
    end = utcnow() + dt.timedelta(seconds=1)
    start = end - dt.timedelta(days=days)
    data = dashboard.compute(state.store, start, end, state.queue, staff.grants)
    counts = dict(data.per_day)
    first = start.date()
    days_axis = [first + dt.timedelta(days=i) for i in range((end.date() - first).days + 1)]
    volume = dashboard.bar_chart([(d.isoformat(), counts.get(d, 0)) for d in days_axis], "Conversations per day")
    shares = dashboard.share_chart(data.level_share, "Share of conversations by highest level")
    return state.render("dashboard.html", staff, d=data, days=days, volume_svg=volume, share_svg=shares)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(state: State, staff: Annotated[Staff, Depends(signed_in("audit.view"))]) -> HTMLResponse:
    report = state.store.verify_audit()
    events = state.store.audit_events(limit=200, grants=staff.grants)
    return state.render("audit.html", staff, events=events, report=report)
