"""Rate limits: general ones batched and failing open, security throttles exact and closed."""

from __future__ import annotations

import pytest
from limits import parse
from redis.asyncio import Redis

from server.http.errors import RateLimited, ServiceUnavailable
from server.http.ratelimit import RateLimiter, WindowCounter
from tests.helpers.env import REDIS_BASE, REDIS_DB, RUN_PREFIX, make_settings
from tests.helpers.http import with_header_auth
from tests.server.http import probe

DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.mark.usefixtures("fresh_rate_window")
async def test_over_the_per_ip_limit_is_429_with_retry_after(make_client, settings) -> None:
    client = await make_client(settings.model_copy(update={"rate_limit_ip": "3/minute"}))
    statuses = [(await client.get("/api/v1/meta")).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = await client.get("/api/v1/meta")
    assert limited.status == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert (await limited.json())["error"]["code"] == "rate_limited"


@pytest.mark.usefixtures("fresh_rate_window")
async def test_the_per_account_limit_counts_each_user_apart(make_client, settings) -> None:
    client = await make_client(
        settings.model_copy(update={"rate_limit_account": "2/minute"}),
        extra_tables=[probe.routes],
        configure=with_header_auth,
    )
    mine = [
        (await client.get("/api/v1/probe/whoami", headers={"X-Test-User": "5"})).status
        for _ in range(3)
    ]
    assert mine == [200, 200, 429]
    other = await client.get("/api/v1/probe/whoami", headers={"X-Test-User": "6"})
    assert other.status == 200


@pytest.mark.usefixtures("fresh_rate_window")
async def test_instances_share_counts_through_redis(redis: Redis) -> None:
    item = parse("10/minute")
    one = WindowCounter(redis, RUN_PREFIX)
    two = WindowCounter(redis, RUN_PREFIX)
    assert all(one.hit(item, "ip:a") == 0 for _ in range(4))
    assert all(two.hit(item, "ip:a") == 0 for _ in range(4))
    await one.sync()
    await two.sync()
    # The next sync of an instance that counted a hit brings back the cluster-wide count.
    assert one.hit(item, "ip:a") == 0
    await one.sync()
    assert one.hit(item, "ip:a") == 0  # the 10th hit of the cluster
    assert one.hit(item, "ip:a") > 0
    await one.sync()
    assert two.hit(item, "ip:a") == 0  # two has not yet learned of one's last hits...
    await two.sync()
    assert two.hit(item, "ip:a") > 0  # ...and after its next sync it has


@pytest.mark.usefixtures("fresh_rate_window")
async def test_general_limits_fail_open_to_per_instance_counting() -> None:
    dead = Redis.from_url(DEAD_REDIS, socket_connect_timeout=0.5)
    counter = WindowCounter(dead, RUN_PREFIX)
    item = parse("3/minute")
    results = [counter.hit(item, "ip:b") for _ in range(4)]
    await counter.sync()  # does not raise; keeps counting locally
    assert results[:3] == [0, 0, 0] and results[3] > 0
    assert counter.hit(item, "ip:c") == 0
    await dead.aclose()


@pytest.mark.usefixtures("fresh_rate_window")
async def test_background_sync_runs_and_stops(redis: Redis) -> None:
    counter = WindowCounter(redis, RUN_PREFIX, sync_seconds=0.01)
    counter.start()
    counter.hit(parse("5/minute"), "ip:d")
    await counter.stop()
    keys = [key async for key in redis.scan_iter(f"{RUN_PREFIX}:rl:*")]
    assert len(keys) == 1 and int(await redis.get(keys[0])) == 1


def limiter(redis_url: str | None) -> RateLimiter:
    client = Redis.from_url(redis_url) if redis_url else None
    return RateLimiter(
        redis=client,
        redis_url=redis_url,
        prefix=RUN_PREFIX,
        per_ip="100/minute",
        per_account="100/minute",
        sync_seconds=0.1,
    )


@pytest.mark.parametrize("redis_url", [f"{REDIS_BASE}/{REDIS_DB}", None], ids=["redis", "memory"])
async def test_security_throttles_are_exact(redis_url: str | None, redis: Redis) -> None:
    limits = limiter(redis_url)
    for _ in range(3):
        await limits.throttle("3/minute", "login", "alice")
    with pytest.raises(RateLimited) as raised:
        await limits.throttle("3/minute", "login", "alice")
    assert 1 <= raised.value.retry_after <= 60
    await limits.throttle("3/minute", "login", "bob")  # another account is unaffected
    await limits.reset_throttle("3/minute", "login", "alice")
    await limits.throttle("3/minute", "login", "alice")


async def test_security_throttles_fail_closed_without_redis() -> None:
    limits = limiter(DEAD_REDIS)
    with pytest.raises(ServiceUnavailable):
        await limits.throttle("3/minute", "login", "alice")


def test_settings_parse_rate_strings() -> None:
    settings = make_settings(rate_limit_ip="7/second")
    assert parse(settings.rate_limit_ip).amount == 7
