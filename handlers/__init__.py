"""aiogram routers, one module per feature. Order matters: commands before the form's
catch-all, the fallback last."""

from aiogram import Router


def build_router() -> Router:
    from handlers import (
        admin,
        assisted,
        enterprise_admin,
        fallback,
        federation,
        form,
        member,
        privacy,
        review,
        start,
    )

    root = Router(name="unionbot")
    modules = (
        admin,
        start,
        member,
        privacy,
        assisted,
        form,
        review,
        enterprise_admin,
        federation,
        fallback,
    )
    for module in modules:
        root.include_router(module.router.build())
    return root
