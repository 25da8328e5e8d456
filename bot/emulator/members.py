"""ChatMember and ChatFullInfo objects in Telegram's exact shapes."""

from __future__ import annotations

from typing import Any

from .state import ChatRecord, UserRecord

_ADMIN_RIGHTS = (
    "can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
    "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
    "can_delete_stories", "can_pin_messages", "can_send_welcome_messages",
)  # fmt: skip
_NO_GIFTS = {
    "unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
    "premium_subscription": False, "gifts_from_channels": False,
}  # fmt: skip


def member_json(user: UserRecord, status: str) -> dict[str, Any]:
    data: dict[str, Any] = {"user": user.json(), "status": status}
    if status == "creator":
        data["is_anonymous"] = False
    elif status == "administrator":
        data.update(can_be_edited=False, is_anonymous=False, can_promote_members=False)
        data.update(dict.fromkeys(_ADMIN_RIGHTS, True))
    elif status == "kicked":
        data["until_date"] = 0
    return data


def chat_full_info(chat: ChatRecord) -> dict[str, Any]:
    data = {
        **chat.json(),
        "accent_color_id": chat.id % 7 if chat.id > 0 else 0,
        "max_reaction_count": 11,
        "accepted_gift_types": dict(_NO_GIFTS),
    }
    if not chat.is_private:
        data["permissions"] = {
            "can_send_messages": True, "can_send_audios": True, "can_send_documents": True,
            "can_send_photos": True, "can_send_videos": True, "can_send_video_notes": True,
            "can_send_voice_notes": True, "can_send_polls": True,
            "can_send_other_messages": True, "can_add_web_page_previews": True,
            "can_change_info": False, "can_invite_users": True, "can_pin_messages": False,
            "can_manage_topics": False,
        }  # fmt: skip
    return data
