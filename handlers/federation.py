"""Federation staff following up a founding-threshold alert."""

from __future__ import annotations

from aiogram import F
from aiogram.types import CallbackQuery

from bot.callbacks import AlertCb
from bot.i18n import translate as _
from bot.services.alerts import AlertService
from bot.services.errors import AlreadyFollowed, NotAllowed, NotFound
from handlers import texts
from handlers.buttons import forged
from handlers.registry import Handlers
from handlers.review import actor_of

router = Handlers("federation")


@router.callback_query(AlertCb.filter(F.action == "follow"))
async def follow(query: CallbackQuery, callback_data: AlertCb, alerts: AlertService) -> None:
    if query.message is None:
        await query.answer()
        return
    try:
        if forged(query):
            # Pressed on another message (a modified client, or the alert after it was
            # edited): following up would rewrite that message into the alert. The reason
            # the follow-up would be refused comes first (already followed, not allowed).
            await alerts.check_follow(callback_data.alert, actor_of(query.from_user))
            await query.answer(_("这个按钮已失效，请使用建会提示下方的按钮。"), show_alert=True)
            return
        await alerts.follow_up(
            callback_data.alert,
            actor_of(query.from_user),
            query.message.chat.id,
            query.message.message_id,
        )
    except NotAllowed:
        await query.answer(_("只有区总工会工作人员可以认领跟进。"), show_alert=True)
    except AlreadyFollowed as error:
        await query.answer(
            _("已由 {who} 于 {time} 认领跟进。").format(who=error.by, time=texts.when(error.at)),
            show_alert=True,
        )
    except NotFound:
        await query.answer(_("找不到这条提示。"), show_alert=True)
    else:
        await query.answer(_("已记录，由您跟进该企业建会。"))
