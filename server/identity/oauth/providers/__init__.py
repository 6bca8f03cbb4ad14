"""The sign-in providers this deployment has credentials for, built from settings."""

from __future__ import annotations

from server.identity.oauth.providers.base import (
    CodeRejected,
    Provider,
    ProviderHttp,
    ProviderIdentity,
    ProviderUnavailable,
)
from server.identity.oauth.providers.github import GitHub
from server.identity.oauth.providers.qq import QQ
from server.identity.oauth.providers.wechat import WeChat, WeChatMini
from server.identity.oauth.providers.weibo import Weibo
from server.settings import Settings

__all__ = [
    "CodeRejected",
    "Provider",
    "ProviderHttp",
    "ProviderIdentity",
    "ProviderUnavailable",
    "enabled_providers",
]


def enabled_providers(settings: Settings) -> dict[str, Provider]:
    """Every provider whose id and secret are configured, by name, in display order."""
    s = settings
    found: list[Provider] = []
    if s.oauth_github_client_id and s.oauth_github_client_secret:
        found.append(
            GitHub(
                client_id=s.oauth_github_client_id,
                client_secret=s.oauth_github_client_secret,
                web_url=s.oauth_github_web_url,
                api_url=s.oauth_github_api_url,
                scope=s.oauth_github_scope,
            )
        )
    if s.oauth_wechat_app_id and s.oauth_wechat_app_secret:
        found.append(
            WeChat(
                app_id=s.oauth_wechat_app_id,
                app_secret=s.oauth_wechat_app_secret,
                open_url=s.oauth_wechat_open_url,
                api_url=s.oauth_wechat_api_url,
            )
        )
    if s.oauth_wechat_mini_app_id and s.oauth_wechat_mini_app_secret:
        found.append(
            WeChatMini(
                app_id=s.oauth_wechat_mini_app_id,
                app_secret=s.oauth_wechat_mini_app_secret,
                api_url=s.oauth_wechat_api_url,
            )
        )
    if s.oauth_qq_app_id and s.oauth_qq_app_key:
        found.append(
            QQ(
                app_id=s.oauth_qq_app_id,
                app_key=s.oauth_qq_app_key,
                web_url=s.oauth_qq_web_url,
                api_url=s.oauth_qq_api_url,
                unionid=s.oauth_qq_unionid,
            )
        )
    if s.oauth_weibo_app_key and s.oauth_weibo_app_secret:
        found.append(
            Weibo(
                app_key=s.oauth_weibo_app_key,
                app_secret=s.oauth_weibo_app_secret,
                web_url=s.oauth_weibo_web_url,
                api_url=s.oauth_weibo_api_url,
            )
        )
    return {provider.name: provider for provider in found}
