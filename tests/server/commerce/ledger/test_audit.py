"""The hourly ledger self-check finds drifted balances and overdrawn accounts."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import update
from structlog.testing import capture_logs

from jobs.tasks import FUNCTIONS
from models.commerce.ledger import LedgerAccount
from server.commerce.wallet import service as wallet
from server.keys import RUNTIME
from tests.helpers.people import call, person
from tests.helpers.wallet import give


async def test_audit_passes_a_sound_ledger_and_names_what_drifted(api: TestClient) -> None:
    buyer = await person(api)
    await give(api, buyer.id, 5)
    await call(api, "POST", "/wallet/consume", buyer, 200, json={"amount": 2, "reference": "a"})
    ctx = {"runtime": api.app[RUNTIME]}
    audit = FUNCTIONS["ledger.audit"].coroutine
    sound = await audit(ctx)
    assert sound == {"accounts": 3, "drifted": [], "overdrawn": [], "unbalanced": []}
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        account = await wallet.user_account(uow.session, user_id=buyer.id)
        await uow.session.execute(
            update(LedgerAccount).where(LedgerAccount.id == account).values(balance=-1)
        )
    with capture_logs() as logs:
        broken = await audit(ctx)
    assert broken["drifted"] == [account] and broken["overdrawn"] == [account]
    assert any(entry["event"] == "ledger.imbalance" for entry in logs)
