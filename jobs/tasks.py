"""The task list: every task module's tasks and cron schedules, listed once for the two
composition roots that run them, the arq workers (jobs/worker.py) and the embedded in-process
runner (server/resources.py). A new task module is added here, or its tasks never run.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from arq.worker import Function

from jobs import (
    accounts,
    content,
    counters,
    earnings,
    identity,
    invoices,
    media,
    notifications,
    orders,
    payments,
    platform,
    push,
    recovery,
    shipping,
    social,
    subscriptions,
    tutor,
    tutor_memory,
    tutor_retrieval,
    users,
    wallet,
)
from jobs.registry import TaskList

TASKS = TaskList.of(
    tasks=(
        *accounts.TASKS,
        *content.TASKS,
        *counters.TASKS,
        *earnings.TASKS,
        *identity.TASKS,
        *invoices.TASKS,
        *media.TASKS,
        *notifications.TASKS,
        *orders.TASKS,
        *payments.TASKS,
        *platform.TASKS,
        *push.TASKS,
        *recovery.TASKS,
        *shipping.TASKS,
        *social.TASKS,
        *subscriptions.TASKS,
        *tutor.TASKS,
        *tutor_memory.TASKS,
        *tutor_retrieval.TASKS,
        *users.TASKS,
        *wallet.TASKS,
    ),
    schedules=(
        *accounts.SCHEDULES,
        *content.SCHEDULES,
        *counters.SCHEDULES,
        *earnings.SCHEDULES,
        *identity.SCHEDULES,
        *orders.SCHEDULES,
        *payments.SCHEDULES,
        *platform.SCHEDULES,
        *recovery.SCHEDULES,
        *shipping.SCHEDULES,
        *subscriptions.SCHEDULES,
        *tutor.SCHEDULES,
        *tutor_retrieval.SCHEDULES,
        *wallet.SCHEDULES,
    ),
)

# Every task's arq Function by name, for running one directly (tests, scripts).
FUNCTIONS: Mapping[str, Function] = MappingProxyType(TASKS.functions)
