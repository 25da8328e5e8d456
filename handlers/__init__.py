"""aiogram routers, one module per feature. Order matters: commands before the form's
catch-all, the fallback last."""

from aiogram import Router


def build_router() -> Router:
    from handlers import (
        activities,
        admin,
        assisted,
        benefits,
        cases,
        dashboard,
        enterprise_admin,
        exports,
        fallback,
        federation,
        form,
        four_ones,
        job_change,
        member,
        privacy,
        review,
        service_card,
        start,
        stats,
        street_services,
        subsidy,
    )

    root = Router(name="unionbot")
    modules = (
        admin,
        benefits,  # its start=b_… before start's catch-all deep links
        activities,  # start=a_… likewise
        start,
        job_change,
        service_card,
        member,
        privacy,
        assisted,
        form,
        review,
        enterprise_admin,
        cases,
        four_ones,
        stats,  # /stats in a staff group
        street_services,  # /servicecards in a street's review group
        subsidy,  # /budget, /book, /ledger in the federation group
        exports,  # /export in a staff group
        dashboard,  # /dashboard in any chat: the link goes to the private chat
        federation,
        fallback,
    )
    for module in modules:
        root.include_router(module.router.build())
    return root
