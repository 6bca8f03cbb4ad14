"""Providers come from the environment, and their keys never show in a repr or an error."""

from __future__ import annotations

import pytest

from server.tutor.gateway.providers import Provider, providers_from_env

KEY = "sk-live-do-not-leak-9b1f"


def test_listed_providers_are_read_with_their_urls_and_keys() -> None:
    env = {
        "AI_PROVIDERS": " DeepSeek, ,qwen,",
        "AI_DEEPSEEK_BASE_URL": "https://api.deepseek.com/v1/",
        "AI_DEEPSEEK_API_KEY": KEY,
        "AI_QWEN_BASE_URL": "https://dashscope.aliyuncs.com/compatible-mode/v1",
        "AI_QWEN_API_KEY": "sk-qwen",
        "AI_UNLISTED_BASE_URL": "https://unlisted.example/v1",
    }
    providers = providers_from_env(env)
    assert list(providers) == ["deepseek", "qwen"]
    assert providers["deepseek"] == Provider("deepseek", "https://api.deepseek.com/v1", KEY)
    assert providers["qwen"].base_url == "https://dashscope.aliyuncs.com/compatible-mode/v1"


def test_no_providers_listed_is_no_providers() -> None:
    assert providers_from_env({}) == {}
    assert providers_from_env({"AI_PROVIDERS": " , "}) == {}


def test_a_listed_provider_without_a_base_url_names_the_missing_variable() -> None:
    env = {"AI_PROVIDERS": "deepseek", "AI_DEEPSEEK_API_KEY": KEY}
    with pytest.raises(ValueError, match="AI_DEEPSEEK_BASE_URL") as raised:
        providers_from_env(env)
    assert KEY not in str(raised.value)


def test_a_provider_never_shows_its_key() -> None:
    provider = Provider("deepseek", "https://api.deepseek.com/v1", KEY)
    for shown in (repr(provider), str(provider), f"{provider}", repr({"p": provider})):
        assert KEY not in shown
        assert "deepseek" in shown
