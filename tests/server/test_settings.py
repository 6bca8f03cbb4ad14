"""Settings come from the environment, pick the mode, and guard production."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from server.settings import Settings, normalise_database_url


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the machine has set, these tests see only what they set themselves."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)


COMPLETE_PRODUCTION = {
    "environment": "production",
    "database_url": "mysql://app:secret@db:3306/sharestack",
    "redis_url": "redis://cache:6379/0",
    "jwt_private_key": "-----BEGIN PRIVATE KEY-----...",
    "jwt_public_key": "-----BEGIN PUBLIC KEY-----...",
    "cors_origins": ["https://app.example"],
    "pii_encryption_key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "pii_hash_key": "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=",
    "url_signing_secret": "a-long-random-string-for-signing-links",
    "mail_backend": "smtp",
    "sms_backend": "http",
    "identity_verify_provider": "http",
    "identity_verify_url": "https://identity.example/verify",
    "metrics_token": "a-long-random-string-for-scrapers",
}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://u:p@db:3306/app", "mysql+asyncmy://u:p@db:3306/app?charset=utf8mb4"),
        ("mariadb://u:p@db/app", "mysql+asyncmy://u:p@db/app?charset=utf8mb4"),
        ("mysql+asyncmy://u:p@db/app", "mysql+asyncmy://u:p@db/app?charset=utf8mb4"),
        ("mariadb+asyncmy://u:p@db/app", "mysql+asyncmy://u:p@db/app?charset=utf8mb4"),
        (
            "mysql://u:p@db/app?ssl=true",
            "mysql+asyncmy://u:p@db/app?ssl=true&charset=utf8mb4",
        ),
        ("mysql://u:p@db/app?charset=utf8mb4", "mysql+asyncmy://u:p@db/app?charset=utf8mb4"),
        ("sqlite:///data/app.db", "sqlite+aiosqlite:///data/app.db"),
        ("sqlite:////abs/app.db", "sqlite+aiosqlite:////abs/app.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_urls_are_normalised_to_the_async_drivers(url: str, expected: str) -> None:
    assert normalise_database_url(url) == expected
    assert Settings(database_url=url).sqlalchemy_url == expected


def test_charset_is_appended_once_even_when_normalised_twice() -> None:
    once = normalise_database_url("mysql://u:p@db/app")
    assert normalise_database_url(once) == once
    assert once.count("charset=") == 1


def test_database_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mariadb://u:p@db/app")
    assert Settings().sqlalchemy_url == "mysql+asyncmy://u:p@db/app?charset=utf8mb4"


def test_embedded_when_redis_url_is_unset() -> None:
    settings = Settings()
    assert settings.redis_url is None
    assert settings.embedded is True


def test_not_embedded_when_redis_url_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    assert Settings().embedded is False


def test_default_database_is_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "state")
    url = settings.sqlalchemy_url
    assert url.startswith("sqlite+aiosqlite:///")
    path = Path(url.removeprefix("sqlite+aiosqlite:///"))
    assert path.is_absolute()
    assert path.parent == (tmp_path / "state").resolve()
    assert path.suffix == ".db"


def test_data_dir_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.sqlalchemy_url.startswith(f"sqlite+aiosqlite:///{tmp_path.resolve()}/")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://a.example", ["https://a.example"]),
        ("https://a.example,https://b.example", ["https://a.example", "https://b.example"]),
        (" https://a.example , https://b.example ,", ["https://a.example", "https://b.example"]),
        ("", []),
    ],
)
def test_cors_origins_are_comma_separated_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", value)
    assert Settings().cors_origins == expected


def test_cors_origins_default_to_an_empty_list() -> None:
    assert Settings().cors_origins == []


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValueError):
        settings.port = 1  # type: ignore[misc]


def test_production_with_nothing_configured_lists_every_missing_requirement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("CORS_ORIGINS", "*")
    problems = Settings().check_production()
    assert len(problems) == 9
    text = "\n".join(problems)
    requirements = (
        *("DATABASE_URL", "REDIS_URL", "JWT_", "PII_", "URL_SIGNING_SECRET", "MAIL_BACKEND"),
        *("'*'", "METRICS_TOKEN"),
    )
    for requirement in requirements:
        assert requirement in text, requirement


@pytest.mark.parametrize(
    ("override", "mentions"),
    [
        ({"database_url": None}, "DATABASE_URL"),
        ({"database_url": "sqlite:///prod.db"}, "DATABASE_URL"),
        ({"redis_url": None}, "REDIS_URL"),
        ({"jwt_private_key": None}, "JWT_PRIVATE_KEY"),
        ({"jwt_public_key": None}, "JWT_PUBLIC_KEY"),
        ({"jwt_public_key": ""}, "JWT_PUBLIC_KEY"),
        ({"cors_origins": ["*"]}, "CORS_ORIGINS"),
        ({"cors_origins": []}, "CORS_ORIGINS"),
        ({"metrics_token": None}, "METRICS_TOKEN"),
        ({"metrics_token": ""}, "METRICS_TOKEN"),
        ({"pii_encryption_key": None}, "PII_ENCRYPTION_KEY"),
        ({"pii_hash_key": None}, "PII_HASH_KEY"),
        ({"url_signing_secret": None}, "URL_SIGNING_SECRET"),
        ({"mail_backend": "log"}, "MAIL_BACKEND"),
        ({"sms_backend": "log"}, "SMS_BACKEND"),
        ({"identity_verify_provider": "fake"}, "IDENTITY_VERIFY_PROVIDER"),
    ],
)
def test_production_names_the_one_missing_requirement(override: dict, mentions: str) -> None:
    problems = Settings(**{**COMPLETE_PRODUCTION, **override}).check_production()
    assert len(problems) == 1, problems
    assert mentions in problems[0]


def test_complete_production_settings_have_no_problems() -> None:
    settings = Settings(**COMPLETE_PRODUCTION)
    assert settings.check_production() == []
    assert isinstance(settings.jwt_private_key, SecretStr)
    assert "BEGIN PRIVATE KEY" not in repr(settings), "the private key stays out of reprs"


@pytest.mark.parametrize("origins", ["", " , ", "/"])
def test_production_refuses_to_start_without_a_cors_allowlist(
    monkeypatch: pytest.MonkeyPatch, origins: str
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", origins)
    settings = Settings(**{k: v for k, v in COMPLETE_PRODUCTION.items() if k != "cors_origins"})
    assert settings.check_production() == [
        "CORS_ORIGINS must list the browser origins allowed to call the API"
    ]


@pytest.mark.parametrize("environment", ["development", "test"])
def test_non_production_never_complains(environment: str) -> None:
    settings = Settings(environment=environment, cors_origins=["*"])
    assert settings.embedded
    assert settings.check_production() == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://127.0.0.1:8080"),
        ({"PORT": "9000"}, "http://127.0.0.1:9000"),
        ({"HOST": "0.0.0.0", "PORT": "9000"}, "http://127.0.0.1:9000"),
        ({"HOST": "::1", "PORT": "9000"}, "http://[::1]:9000"),
        ({"HOST": "10.1.2.3", "PORT": "80", "PUBLIC_BASE_URL": ""}, "http://10.1.2.3:80"),
        ({"PORT": "9000", "PUBLIC_BASE_URL": "https://app.example"}, "https://app.example"),
    ],
)
def test_public_base_url_defaults_to_where_the_server_listens(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings().public_base_url == expected


def test_serve_port_option_moves_the_public_base_url() -> None:
    """`serve --port` passes the port as an override, as the CLI does."""
    assert Settings(port=8765).public_base_url == "http://127.0.0.1:8765"
