"""What an account owns across the identity tables: read for exports, removed for erasure."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.identity.auth import Device, LoginChallenge, RecoveryCode, TotpSecret
from models.identity.oauth import OAuthAccount, OAuthState
from models.identity.sessions import AuthSession, RefreshToken
from models.identity.users import User
from models.identity.verification import VerificationCode
from models.notify.notifications import Notification
from models.social.follows import Follow


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in result]


async def sessions_of(session: AsyncSession, *, user_id: int) -> list[dict[str, Any]]:
    query = select(
        AuthSession.id,
        AuthSession.device_name,
        AuthSession.platform,
        AuthSession.ip,
        AuthSession.user_agent,
        AuthSession.created_at,
        AuthSession.last_seen_at,
        AuthSession.revoked_at,
        AuthSession.revoke_reason,
    ).where(AuthSession.user_id == user_id)
    return _rows(await session.execute(query.order_by(AuthSession.id)))


async def notifications_of(session: AsyncSession, *, user_id: int) -> list[dict[str, Any]]:
    query = select(
        Notification.id,
        Notification.type,
        Notification.title,
        Notification.body,
        Notification.data,
        Notification.actor_id,
        Notification.read_at,
        Notification.created_at,
    ).where(Notification.user_id == user_id)
    return _rows(await session.execute(query.order_by(Notification.id)))


async def follows_of(session: AsyncSession, *, user_id: int) -> dict[str, list[dict[str, Any]]]:
    def side(mine: Any, other: Any) -> Any:
        return (
            select(User.id.label("user_id"), User.nickname, Follow.created_at.label("since"))
            .join(User, User.id == other)
            .where(mine == user_id)
            .order_by(Follow.id)
        )

    following = await session.execute(side(Follow.follower_id, Follow.followee_id))
    followers = await session.execute(side(Follow.followee_id, Follow.follower_id))
    return {"following": _rows(following), "followers": _rows(followers)}


async def oauth_accounts_of(session: AsyncSession, *, user_id: int) -> list[dict[str, Any]]:
    """Linked providers, without the provider's profile document (it may carry tokens)."""
    query = select(
        OAuthAccount.provider,
        OAuthAccount.provider_user_id,
        OAuthAccount.display_name,
        OAuthAccount.created_at,
        OAuthAccount.last_login_at,
    ).where(OAuthAccount.user_id == user_id)
    return _rows(await session.execute(query.order_by(OAuthAccount.id)))


async def devices_of(session: AsyncSession, *, user_id: int) -> list[dict[str, Any]]:
    """Push devices, without their push tokens."""
    query = select(
        Device.id,
        Device.platform,
        Device.provider,
        Device.name,
        Device.app_version,
        Device.created_at,
        Device.last_seen_at,
    ).where(Device.user_id == user_id)
    return _rows(await session.execute(query.order_by(Device.id)))


async def remove_owned_rows(session: AsyncSession, *, user_id: int) -> None:
    """Delete the user's sign-in means, second factors, devices, codes, sessions, notices."""
    for model in (
        OAuthAccount,
        OAuthState,
        TotpSecret,
        RecoveryCode,
        LoginChallenge,
        Device,
        VerificationCode,
        Notification,
    ):
        await session.execute(delete(model).where(model.user_id == user_id))
    sessions = select(AuthSession.id).where(AuthSession.user_id == user_id)
    await session.execute(delete(RefreshToken).where(RefreshToken.session_id.in_(sessions)))
    await session.execute(delete(AuthSession).where(AuthSession.user_id == user_id))
