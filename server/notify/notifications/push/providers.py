"""The configured providers: a provider is on when its credentials are set."""

from __future__ import annotations

from server.notify.notifications.push.apns import ApnsProvider
from server.notify.notifications.push.base import PushProvider
from server.notify.notifications.push.fcm import FcmProvider
from server.notify.notifications.push.jpush import JPushProvider
from server.settings import Settings


def _secret(value: object) -> str:
    get = getattr(value, "get_secret_value", None)
    return str(get()) if get is not None else ""


def providers_from_settings(settings: Settings) -> dict[str, PushProvider]:
    """Open a client for every configured provider (close them with `close_all`)."""
    found: dict[str, PushProvider] = {}
    timeout = settings.push_timeout_seconds
    apns_key = _secret(settings.apns_private_key)
    if settings.apns_key_id and settings.apns_team_id and apns_key and settings.apns_topic:
        found["apns"] = ApnsProvider(
            key_id=settings.apns_key_id,
            team_id=settings.apns_team_id,
            private_key=apns_key,
            topic=settings.apns_topic,
            base_url=settings.apns_base_url,
            timeout=timeout,
        )
    fcm_key = _secret(settings.fcm_private_key)
    if settings.fcm_project_id and settings.fcm_client_email and fcm_key:
        found["fcm"] = FcmProvider(
            project_id=settings.fcm_project_id,
            client_email=settings.fcm_client_email,
            private_key=fcm_key,
            token_url=settings.fcm_token_url,
            base_url=settings.fcm_base_url,
            timeout=timeout,
        )
    jpush_secret = _secret(settings.jpush_master_secret)
    if settings.jpush_app_key and jpush_secret:
        found["jpush"] = JPushProvider(
            app_key=settings.jpush_app_key,
            master_secret=jpush_secret,
            base_url=settings.jpush_base_url,
            apns_production=settings.jpush_apns_production,
            timeout=timeout,
        )
    return found


async def close_all(providers: dict[str, PushProvider]) -> None:
    for provider in providers.values():
        await provider.close()
