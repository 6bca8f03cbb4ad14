"""Settings, read once from the environment (12-factor)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the process. Unset DATABASE_URL and REDIS_URL select the embedded mode."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")

    database_url: str | None = None
    database_pool_size: int = 10
    database_echo: bool = False
    # Embedded mode (SQLite): how long a writer waits for the one write lock; then 503.
    database_lock_timeout_seconds: float = Field(default=30.0, gt=0)
    # MariaDB deadlines, so that an unreachable or partitioned database answers 503 fast: a TCP
    # connect, one wait for the server's answer to a statement (or to the handshake; past it
    # the connection is dropped), and a wait for a free pooled connection.
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    database_statement_timeout_seconds: float = Field(default=10.0, gt=0)
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    redis_url: str | None = None
    key_prefix: str = "sharestack"

    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = 1024 * 1024
    rate_limit_ip: str = "600/minute"
    rate_limit_account: str = "300/minute"
    rate_limit_sync_seconds: float = 0.1
    trust_forwarded_for: bool = False
    idempotency_ttl_seconds: int = 24 * 3600
    # How long a request holds its Idempotency-Key before a retry may take it over: well above
    # any request's own deadline (a holder that outlives it can no longer commit its effect).
    idempotency_lease_seconds: float = Field(60.0, gt=0)

    outbox_sweep_after_seconds: float = 5.0
    outbox_batch_size: int = 200
    job_timeout_seconds: int = 300
    # Work left in an in-between state (a refund pending, an announcement sending...) this long
    # has its job queued again, in case Redis lost it.
    job_recovery_after_seconds: float = 600.0
    # Workers' deadline for one database answer: a report or reconciliation may scan for longer
    # than a request ever should, and no client is waiting on it.
    job_database_statement_timeout_seconds: float = Field(default=120.0, gt=0)
    worker_max_jobs: int = 100
    worker_poll_delay: float = 0.05
    worker_metrics_port: int | None = None
    # Bearer token /metrics requires (Prometheus `authorization: credentials`). Required in
    # production; outside production /metrics is open unless one is set.
    metrics_token: SecretStr | None = None

    # Socket.IO: client events per socket (token bucket), session re-checks, per-user streams.
    socket_event_rate: float = Field(20.0, gt=0)
    socket_event_burst: int = Field(40, gt=0)
    socket_revalidate_seconds: float = Field(5.0, gt=0)
    event_stream_maxlen: int = Field(1000, gt=0)
    event_stream_ttl_seconds: int = Field(7 * 24 * 3600, gt=0)

    jwt_private_key: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_private_key_file: Path | None = None
    jwt_public_key_file: Path | None = None
    jwt_issuer: str = "sharestack"
    jwt_audience: str = "sharestack-api"
    access_token_seconds: int = Field(15 * 60, gt=0)
    refresh_token_seconds: int = Field(7 * 24 * 3600, gt=0)
    # A second refresh of the same token within this window is a client race (409), not theft.
    refresh_grace_seconds: float = Field(10.0, ge=0)
    # How long a process trusts its cached session state; revocations show within this.
    session_cache_seconds: float = Field(2.0, gt=0, le=4.0)
    # argon2id cost; the defaults are RFC 9106's low-memory profile (argon2-cffi's defaults).
    # Production refuses less; tests lower them, since every sign-up and sign-in pays the cost.
    password_hash_time_cost: int = Field(3, ge=1, le=10)
    password_hash_memory_kib: int = Field(65536, ge=64, le=4 * 1024 * 1024)
    password_hash_parallelism: int = Field(4, ge=1, le=16)
    login_throttle_account: str = "5/15 minutes"
    login_throttle_ip: str = "50/15 minutes"

    business_tz: str = "Asia/Shanghai"
    # Where clients reach this deployment: OAuth redirect URIs, media and download links.
    # Unset, where this server listens (http://HOST:PORT, 127.0.0.1 for a wildcard HOST).
    public_base_url: str = Field("", validate_default=True)

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url_defaults_to_the_listener(cls, value: str, info: ValidationInfo) -> str:
        if value:
            return value
        host = str(info.data.get("host") or "")
        host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        if ":" in host:  # an IPv6 address is bracketed in a URL
            host = f"[{host}]"
        return f"http://{host}:{info.data.get('port', 8080)}"

    # Personal data at rest (phone, real name, ID number): AES-256-GCM key and HMAC lookup key,
    # base64 of 32 bytes each. Generated into DATA_DIR outside production.
    pii_encryption_key: SecretStr | None = None
    pii_hash_key: SecretStr | None = None

    # Files (uploads, avatars, exports): the local backend's directory (DATA_DIR/files when
    # unset) and the secret that signs expiring links to them.
    storage_dir: Path | None = None
    url_signing_secret: SecretStr | None = None

    # Content: submitted items wait for a moderator; off, submitting publishes at once.
    content_review_required: bool = True

    # --- Moderation ---
    # Keyword screening of submitted content: "block" refuses flagged text (422), "queue" sends
    # it to review with an automatic flag (even when review is off). The word list is a built-in
    # set of examples (unless turned off) plus MODERATION_WORDS_FILE: UTF-8, one term a line,
    # optionally "<tab>category".
    moderation_mode: Literal["block", "queue"] = "block"
    moderation_words_file: Path | None = None
    moderation_builtin_words: bool = True

    @field_validator("moderation_words_file", mode="before")
    @classmethod
    def _words_file_is_usable(cls, value: object) -> object:
        from server.screening.words import parse_file

        if value is None or value == "":
            return None
        path = Path(str(value))
        if not path.is_file():
            raise ValueError("MODERATION_WORDS_FILE must name an existing file")
        parse_file(path.read_text(encoding="utf-8-sig"), source=str(path))
        return path

    # --- Media ---
    # Largest upload per kind in bytes (413 media.too_large past it; nothing is kept).
    media_image_max_bytes: int = Field(20 * 1024 * 1024, gt=0)
    media_audio_max_bytes: int = Field(200 * 1024 * 1024, gt=0)
    media_video_max_bytes: int = Field(1024 * 1024 * 1024, gt=0)
    # The most pixels an image may decode to (a small file claiming more is a decompression bomb).
    media_max_pixels: int = Field(50_000_000, gt=0)
    # How long a signed link to a media file lives.
    media_url_seconds: int = Field(600, gt=0)
    # ffprobe/ffmpeg: the programs, and how long one probe or one transcode may run.
    ffprobe_path: str = "ffprobe"
    ffmpeg_path: str = "ffmpeg"
    media_probe_timeout_seconds: float = Field(30.0, gt=0)
    media_transcode_timeout_seconds: float = Field(600.0, gt=0)
    # Where files live: `local` (STORAGE_DIR) or `s3` (any S3-compatible store).
    storage_backend: Literal["local", "s3"] = "local"
    s3_endpoint_url: str | None = None
    s3_bucket: str = "sharestack"
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"

    # --- Counters and discovery ---
    # A view counts once per viewer (account, or hashed IP) per item within this window.
    counters_view_dedupe_seconds: int = Field(1800, gt=0)
    # Items whose increments one flush moves from Redis to the database.
    counters_flush_batch: int = Field(500, gt=0, le=10_000)
    # A batch claimed by a flush that died is applied by a later flush after this long.
    counters_stale_batch_seconds: float = Field(60.0, gt=0)
    # Hot scores are kept for items published within this many days (older ones score 0).
    discover_hot_window_days: int = Field(30, gt=0)
    # The following feed reads the newest of this many followed authors.
    discover_following_cap: int = Field(500, gt=0, le=5000)

    # --- Verification codes, email and SMS ---
    # One-time codes: lifetime, wrong guesses a code survives, and how often one address (over
    # every purpose) and one IP may be sent a code ("N/<period>", several joined by ";").
    verification_code_seconds: int = Field(600, gt=0)
    verification_max_attempts: int = Field(5, gt=0)
    verification_sends_per_target: str = "1/minute;10/day"
    verification_sends_per_ip: str = "20/hour"
    # Outgoing email: "smtp", or "log" (writes that a mail went out; the text itself, code
    # included, only when ENVIRONMENT=development).
    mail_backend: Literal["smtp", "log"] = "log"
    mail_from: str = "ShareStack <no-reply@localhost>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_timeout_seconds: float = Field(10.0, gt=0)
    # Text messages: "http" (a signed JSON POST to SMS_API_URL) or "log" (as for mail).
    sms_backend: Literal["http", "log"] = "log"
    sms_api_url: str | None = None
    sms_api_secret: SecretStr | None = None
    sms_timeout_seconds: float = Field(10.0, gt=0)

    @field_validator("verification_sends_per_target", "verification_sends_per_ip")
    @classmethod
    def _rates(cls, value: str) -> str:
        from limits import parse_many

        parse_many(value)  # a ValueError names a malformed rate at start-up, not at first send
        return value

    # --- OAuth providers ---
    # Where a provider may send the user back: comma-separated URL prefixes of our own clients
    # (e.g. https://app.example/oauth/). An authorisation with any other redirect_uri is refused.
    oauth_redirect_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    oauth_state_seconds: int = Field(600, gt=0)
    oauth_http_timeout_seconds: float = Field(10.0, gt=0)
    # A provider is enabled when its id and secret are set. The base URLs are the real hosts;
    # tests point them at a local fake.
    oauth_github_client_id: str | None = None
    oauth_github_client_secret: SecretStr | None = None
    oauth_github_web_url: str = "https://github.com"
    oauth_github_api_url: str = "https://api.github.com"
    oauth_github_scope: str = "read:user user:email"
    oauth_wechat_app_id: str | None = None
    oauth_wechat_app_secret: SecretStr | None = None
    oauth_wechat_mini_app_id: str | None = None
    oauth_wechat_mini_app_secret: SecretStr | None = None
    oauth_wechat_open_url: str = "https://open.weixin.qq.com"
    oauth_wechat_api_url: str = "https://api.weixin.qq.com"
    oauth_qq_app_id: str | None = None
    oauth_qq_app_key: SecretStr | None = None
    oauth_qq_web_url: str = "https://graph.qq.com"
    oauth_qq_api_url: str = "https://graph.qq.com"
    # Ask QQ for the unionid too (needs the permission granted to the app by QQ Connect).
    oauth_qq_unionid: bool = False
    oauth_weibo_app_key: str | None = None
    oauth_weibo_app_secret: SecretStr | None = None
    oauth_weibo_web_url: str = "https://api.weibo.com"
    oauth_weibo_api_url: str = "https://api.weibo.com"

    @field_validator("oauth_redirect_allowlist", mode="before")
    @classmethod
    def _split_redirect_allowlist(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    # --- Two-factor authentication, devices and push ---
    # The issuer name authenticator apps show next to the account.
    totp_issuer: str = "ShareStack"
    # Wrong second-factor codes allowed per account (all challenges and sessions) before 429.
    two_factor_throttle: str = "10/15 minutes"
    # When on, admin routes answer 403 auth.two_factor_required to admins without TOTP.
    require_two_factor_for_admins: bool = False

    # --- Profiles, avatars, storage and follows ---
    # Largest avatar upload in bytes (413 past it), and the most pixels (width x height) an
    # avatar may decode to: a small file that would expand to more is a decompression bomb (422).
    avatar_max_bytes: int = Field(5 * 1024 * 1024, gt=0)
    avatar_max_pixels: int = Field(40_000_000, gt=0)
    # How long browsers and CDNs may keep public files (avatars; their keys never change).
    public_files_max_age_seconds: int = Field(365 * 24 * 3600, ge=0)

    # --- Creators (real-name verification) and account lifecycle ---
    # A deactivated account reopens when its owner signs in within this many days; after that
    # it is deleted (personal data erased).
    account_reactivation_days: int = Field(30, gt=0)
    # Who checks that a real name and a resident ID number belong together: `fake` (development:
    # any checksum-valid number matches) or `http` (the provider at IDENTITY_VERIFY_URL, requests
    # signed with HMAC-SHA256 under IDENTITY_VERIFY_SECRET).
    identity_verify_provider: Literal["fake", "http"] = "fake"
    identity_verify_url: str | None = None
    identity_verify_app_id: str = "sharestack"
    identity_verify_secret: SecretStr | None = None
    identity_verify_timeout_seconds: float = Field(5.0, gt=0)
    # Identity checks one account may ask for (each one may cost money at the provider).
    identity_verify_attempts: str = "5/day"
    # Wrong passwords allowed when confirming a deactivation or deletion.
    account_password_attempts: str = "5/15 minutes"
    # How long a finished data export stays downloadable, and how long each download link lives.
    data_export_ttl_days: int = Field(7, gt=0)
    data_export_link_seconds: int = Field(900, gt=0)

    # --- Commerce: catalog, cart, coupons, reviews, invoices ---
    # E-invoice (发票) provider: its API base URL, our app id and signing secret there (invoices
    # are requested only when all three are set), and the timeout of one call.
    invoice_provider_url: str | None = None
    invoice_provider_app_id: str | None = None
    invoice_provider_secret: SecretStr | None = None
    invoice_provider_timeout_seconds: float = Field(10.0, gt=0)
    # Attempts of the invoice job before a request is marked failed, and the first retry's delay
    # in seconds (doubling with each retry).
    invoice_issue_attempts: int = Field(5, ge=1)
    invoice_retry_base_seconds: float = Field(5.0, ge=0)
    # The seller named on receipts, and how long a receipt or invoice download link lives.
    receipt_seller_name: str = "ShareStack"
    invoice_link_seconds: int = Field(600, gt=0)

    # --- Orders ---
    # An order still unpaid this many seconds after checkout is cancelled (stock, coupon freed).
    order_payment_timeout_seconds: int = Field(1800, gt=0)
    # A paid order is delivered by a job queued with its payment; one still undelivered this many
    # seconds after it was paid (the job was lost) is delivered by the minutely sweep.
    order_fulfil_sweep_after_seconds: int = Field(60, gt=0)
    # A shipped parcel the buyer has not confirmed counts as delivered this many days after it
    # shipped.
    order_auto_confirm_days: int = Field(10, gt=0)

    # --- Payments ---
    # Timeout of one call to a payment gateway (create, query, refund, bill download).
    payment_http_timeout_seconds: float = Field(10.0, gt=0)
    # A payment with no callback after this long is asked for at its gateway (query fallback).
    payment_query_after_seconds: int = Field(300, gt=0)
    # A signed callback older (or newer) than this is refused as a replay.
    payment_callback_tolerance_seconds: int = Field(300, gt=0)
    # Buyers may ask for a refund of a paid order within this many days (admins at any time).
    refund_window_days: int = Field(7, ge=0)
    # Where gateways send callbacks: {base}/api/v1/payments/<provider>/notify (PUBLIC_BASE_URL
    # when unset).
    payment_notify_base_url: str | None = None
    # Alipay (RSA2): app id, our private key (PEM), Alipay's public key (PEM), the seller id
    # (PID) callbacks must name, and the OpenAPI gateway. Enabled when the app id and keys are set.
    alipay_app_id: str | None = None
    alipay_app_private_key: SecretStr | None = None
    alipay_public_key: str | None = None
    alipay_seller_id: str | None = None
    alipay_gateway_url: str = "https://openapi.alipay.com/gateway.do"
    # WeChat Pay API v3 in public-key mode: merchant id, app id, our certificate serial and
    # private key (PEM), the platform public key (PEM) and its id, the APIv3 key (32 characters)
    # and the API host. Enabled when the merchant id and keys are set.
    wechat_pay_mchid: str | None = None
    wechat_pay_app_id: str | None = None
    wechat_pay_merchant_serial: str | None = None
    wechat_pay_private_key: SecretStr | None = None
    wechat_pay_public_key: str | None = None
    wechat_pay_public_key_id: str | None = None
    wechat_pay_apiv3_key: SecretStr | None = None
    wechat_pay_api_url: str = "https://api.mch.weixin.qq.com"
    # Stripe: the secret API key, the webhook endpoint's signing secret and the API host.
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_url: str = "https://api.stripe.com"
    # The sandbox gateway (a dev page that pays any order): on outside production only; its
    # callbacks are signed with this secret (derived from the PII key when unset).
    payment_sandbox_enabled: bool = True
    payment_sandbox_secret: SecretStr | None = None

    # --- Ledger, wallet and in-app purchases ---
    # What one credit is worth, in 分 (shown beside balances; credit packs set their own price).
    credit_value_fen: int = Field(10, gt=0)
    # How long a spend waits behind the other spends of its wallet in this process before it is
    # answered 503 with Retry-After (nothing charged).
    wallet_queue_timeout_seconds: float = Field(5.0, gt=0)
    # App Store: our app's bundle id (enables App Store purchases), its Apple id (required for
    # Production), the environment we accept (Production or Sandbox), the Apple root
    # certificates (PEM, one or more) transactions must chain to, and whether certificate
    # revocation is checked online (OCSP).
    app_store_bundle_id: str | None = None
    app_store_app_apple_id: int | None = None
    app_store_environment: str = Field(
        "Production", pattern="^(Production|Sandbox|Xcode|LocalTesting)$"
    )
    app_store_root_certificates: str | None = None
    app_store_online_checks: bool = True
    # Google Play: our package name (enables Play purchases), the service account's e-mail and
    # RSA private key (PEM) for the OAuth JWT grant, the token URL and the Play API host.
    google_play_package_name: str | None = None
    google_play_client_email: str | None = None
    google_play_private_key: SecretStr | None = None
    google_play_token_url: str = "https://oauth2.googleapis.com/token"
    google_play_api_url: str = "https://androidpublisher.googleapis.com"
    # Secret the Pub/Sub push subscription for Play notifications sends as `?token=`.
    google_play_notify_token: SecretStr | None = None

    # --- AI tutor ---
    # Providers by name (`deepseek,qwen`); each reads AI_<NAME>_BASE_URL (an OpenAI-compatible
    # /v1 base) and AI_<NAME>_API_KEY from the environment. Keys never leave the server.
    ai_providers: str = ""
    # Seconds a provider may take to send its first byte (else the next route), and the longest
    # silence once it streams (else the run fails).
    tutor_first_byte_timeout_seconds: float = Field(20.0, gt=0)
    tutor_idle_timeout_seconds: float = Field(30.0, gt=0)
    # The fewest output tokens a run may be held for; a balance that cannot cover the prompt and
    # this many is refused (409 wallet.insufficient_funds).
    tutor_min_output_tokens: int = Field(64, gt=0)
    # Deltas of one run are sent at most this often (milliseconds), a run's first at once; the
    # output is screened at each (the screening window is this interval).
    tutor_delta_interval_ms: int = Field(100, ge=0)
    # A running answer's text is saved this often (seconds): what the reaper bills a dead run by.
    tutor_checkpoint_seconds: float = Field(1.0, gt=0)
    # A run not heard of for this many seconds (its worker died) is finished by the reaper.
    tutor_reap_after_seconds: int = Field(90, gt=0)
    # Defaults where no role or user quota is set: tokens per business day, runs at once.
    tutor_default_tokens_per_day: int = Field(200_000, ge=0)
    tutor_default_concurrent_runs: int = Field(2, ge=0)
    # Tokens of recent turns sent verbatim; older turns are folded into a summary.
    tutor_memory_budget_tokens: int = Field(2_000, ge=0)
    # Passages retrieved into a prompt, at most.
    tutor_retrieval_passages: int = Field(6, ge=0)
    # Runs one tutor worker streams at once.
    tutor_worker_max_jobs: int = Field(200, gt=0)

    # --- Subscriptions and creator earnings ---
    # Hours before its period ends at which a subscription renews (wallet charge or order).
    subscription_renew_before_hours: int = Field(24, ge=0)
    # After a failed renewal the plan stays readable this many days while renewal is retried.
    subscription_grace_days: int = Field(3, ge=0)
    # Hours between renewal retries during the grace period.
    subscription_retry_hours: int = Field(24, gt=0)
    # Renewal retries at most before the subscription waits out its grace period and expires.
    subscription_max_retries: int = Field(3, ge=0)
    # The platform's share of each sale, in basis points (2000 = 20%); the creator gets the rest.
    earnings_platform_fee_bps: int = Field(2000, ge=0, le=10_000)
    # Days a sale's share stays pending (refundable) before it becomes available to withdraw.
    earnings_settlement_days: int = Field(7, ge=0)
    # Smallest withdrawal in fen.
    withdrawal_min_amount: int = Field(10_000, gt=0)
    # WeChat Pay merchant transfer scene of payouts (1005 = commission and remuneration).
    payout_wechat_scene_id: str = "1005"
    # The payees' job reported with scene 1005 transfers.
    payout_wechat_post: str = "内容创作者"
    # The title payees see on an Alipay transfer and the remark on a WeChat transfer.
    payout_title: str = "创作收益提现"

    # --- Comments, reactions and community ---

    # --- Messages, blocks and presence ---
    # Longest message body in characters.
    message_max_chars: int = Field(4000, ge=1, le=20000)
    # Most media attachments on one message (ids of the sender's own uploads).
    message_max_attachments: int = Field(9, ge=0, le=50)
    # Seconds after sending within which the sender may recall a message.
    message_recall_seconds: int = Field(120, ge=0)
    # Most participants of a group conversation, the creator included.
    conversation_max_members: int = Field(20, ge=2, le=500)
    # Seconds between an instance's presence heartbeats.
    presence_heartbeat_seconds: float = Field(10.0, gt=0)
    # Seconds without a heartbeat after which an instance's sockets no longer count as online.
    presence_ttl_seconds: float = Field(30.0, gt=0)

    # --- Notifications, push and announcements ---
    # A notification with a group key folds into the user's unread one of the same key made
    # within this many seconds ("12 people liked your article"); a repeat by the same actor
    # within it (follow, unfollow, follow again) notifies nobody.
    notification_group_window_seconds: int = Field(3600, gt=0)
    # How many of the latest actors a folded notification lists.
    notification_group_actors: int = Field(5, gt=0, le=50)
    # Tries of one push or notification email, and the first retry delay (doubled each try).
    push_max_tries: int = Field(5, gt=0, le=20)
    push_retry_base_seconds: float = Field(10.0, ge=0)
    push_timeout_seconds: float = Field(10.0, gt=0)
    # APNs token auth: key id, team id, the .p8 ES256 private key (PEM), the app's bundle id.
    apns_key_id: str | None = None
    apns_team_id: str | None = None
    apns_private_key: SecretStr | None = None
    apns_topic: str | None = None
    # https://api.sandbox.push.apple.com for development builds; tests use a local fake.
    apns_base_url: str = "https://api.push.apple.com"
    # FCM HTTP v1: the project id and the service account's email and private key (PEM).
    fcm_project_id: str | None = None
    fcm_client_email: str | None = None
    fcm_private_key: SecretStr | None = None
    # Where the service-account JWT is exchanged for an access token, and the FCM API host.
    fcm_token_url: str = "https://oauth2.googleapis.com/token"
    fcm_base_url: str = "https://fcm.googleapis.com"
    # JPush: the app key and master secret (Basic auth), the API host, and whether iOS
    # messages go to the production APNs environment.
    jpush_app_key: str | None = None
    jpush_master_secret: SecretStr | None = None
    jpush_base_url: str = "https://api.jpush.cn"
    jpush_apns_production: bool = True
    # Users handed an announcement per fan-out job (each batch is its own job).
    announcement_batch_size: int = Field(500, gt=0, le=10000)

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_token_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def logs_requests(self) -> bool:
        """Whether the access log is on: one line per request at INFO or DEBUG."""
        return self.log_level.upper() in ("DEBUG", "INFO")

    @property
    def embedded(self) -> bool:
        """One process, SQLite, in-process events and jobs: for trying and developing."""
        return self.redis_url is None

    @cached_property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'sharestack.db').resolve()}"

    def channel(self, name: str) -> str:
        """A Redis key or pub/sub channel name under this deployment's prefix."""
        return f"{self.key_prefix}:{name}"

    def check_production(self) -> list[str]:
        """What a production process refuses to start without."""
        problems: list[str] = []
        if self.environment != "production":
            return problems
        if not self.database_url or self.sqlalchemy_url.startswith("sqlite"):
            problems.append("DATABASE_URL must point at MySQL/MariaDB")
        if not self.redis_url:
            problems.append("REDIS_URL is required")
        if self.password_hash_time_cost < 3 or self.password_hash_memory_kib < 65536:
            problems.append(
                "PASSWORD_HASH_TIME_COST and PASSWORD_HASH_MEMORY_KIB must not go below "
                "RFC 9106's low-memory profile (3 and 65536)"
            )
        has_private = self.jwt_private_key is not None or self.jwt_private_key_file is not None
        has_public = bool(self.jwt_public_key) or self.jwt_public_key_file is not None
        if not (has_private and has_public):
            problems.append("JWT_PRIVATE_KEY and JWT_PUBLIC_KEY (or their *_FILE) are required")
        if self.url_signing_secret is None:
            problems.append("URL_SIGNING_SECRET is required")
        if self.pii_encryption_key is None or self.pii_hash_key is None:
            problems.append("PII_ENCRYPTION_KEY and PII_HASH_KEY are required")
        if self.identity_verify_provider != "http" or not self.identity_verify_url:
            problems.append("IDENTITY_VERIFY_PROVIDER=http and IDENTITY_VERIFY_URL are required")
        if self.mail_backend == "log" or self.sms_backend == "log":
            problems.append("MAIL_BACKEND and SMS_BACKEND must not be 'log' (nothing is delivered)")
        if "*" in self.cors_origins:
            problems.append("CORS_ORIGINS may not contain '*'")
        elif not [origin for origin in self.cors_origins if origin.rstrip("/")]:
            # Empty would leave Socket.IO checking no Origin at all (python-engineio's `[]`).
            problems.append("CORS_ORIGINS must list the browser origins allowed to call the API")
        if self.metrics_token is None:
            problems.append("METRICS_TOKEN is required (scrapers send it as a bearer token)")
        return problems


def normalise_database_url(url: str) -> str:
    """Accept mysql:// and mariadb:// URLs and pin the async drivers and utf8mb4."""
    for prefix in ("mysql://", "mariadb://", "mysql+asyncmy://", "mariadb+asyncmy://"):
        if url.startswith(prefix):
            url = "mysql+asyncmy://" + url[len(prefix) :]
            if "charset=" not in url:
                url += ("&" if "?" in url else "?") + "charset=utf8mb4"
            return url
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url
