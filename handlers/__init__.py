"""aiogram routers, one module per feature. Order matters: commands before the form's
catch-all, the fallback last."""

from aiogram import Router


def build_router() -> Router:
    from handlers import fallback, federation, form, member, review, start

    root = Router(name="unionbot")
    for module in (start, member, form, review, federation, fallback):
        root.include_router(module.router.build())
    return root
