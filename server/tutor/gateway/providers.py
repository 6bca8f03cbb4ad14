"""The AI providers we may call (OpenAI-compatible base URLs and their keys), and routes to them.

Configured from the environment, one block per provider:

    AI_PROVIDERS=deepseek,qwen
    AI_DEEPSEEK_BASE_URL=https://api.deepseek.com/v1
    AI_DEEPSEEK_API_KEY=sk-...

A key is a secret: it never appears in a repr, a log line or an error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Provider:
    name: str
    base_url: str
    # Kept out of the generated repr so that logging a provider cannot leak it.
    api_key: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Provider(name={self.name!r}, base_url={self.base_url!r})"


@dataclass(frozen=True)
class Route:
    """One way to answer: a configured provider and the model name it knows."""

    provider: str
    upstream_model: str


def providers_from_env(environ: Mapping[str, str]) -> dict[str, Provider]:
    """The providers named in AI_PROVIDERS; a listed one without its base URL is a setup error."""
    names = [n.strip().lower() for n in environ.get("AI_PROVIDERS", "").split(",")]
    providers: dict[str, Provider] = {}
    for name in filter(None, names):
        prefix = f"AI_{name.upper().replace('-', '_')}"
        base_url = environ.get(f"{prefix}_BASE_URL", "").strip().rstrip("/")
        if not base_url:
            raise ValueError(f"{prefix}_BASE_URL is not set for AI provider {name!r}")
        api_key = environ.get(f"{prefix}_API_KEY", "").strip()
        providers[name] = Provider(name=name, base_url=base_url, api_key=api_key)
    return providers
