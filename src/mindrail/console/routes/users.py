"""Staff accounts, for admins: the list with each account's tenants, and adding one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mindrail.console.accounts import Staff
from mindrail.console.web import State, acting, signed_in

router = APIRouter(prefix="/console")


@router.get("/users", response_class=HTMLResponse)
async def users_page(state: State, staff: Annotated[Staff, Depends(signed_in("users.manage"))]) -> HTMLResponse:
    return state.render("users.html", staff, users=state.accounts.list_users())


@router.post("/users")
async def add_user(
    state: State,
    staff: Annotated[Staff, Depends(acting("users.manage"))],
    username: str = Form(...),
    role: str = Form(...),
    password: str = Form(...),
    tenants: str = Form(""),
) -> Response:
    granted = [t.strip() for t in tenants.split(",") if t.strip()]
    try:
        state.accounts.add_user(username, role, password, actor=staff.actor, tenants=granted)
    except ValueError as exc:
        return state.render("users.html", staff, users=state.accounts.list_users(), error=str(exc), status=400)
    return RedirectResponse("/console/users", status_code=303)
