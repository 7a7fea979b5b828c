"""The console's routes, one module-level router per area; ``console.app.add_console_routes`` includes them."""

from fastapi import APIRouter

from mindrail.console.routes import conversation, practice, reports, review, session, users

ROUTERS: tuple[APIRouter, ...] = (
    session.router,
    review.router,
    conversation.router,
    reports.router,
    users.router,
    practice.router,
)
