"""arq workers: task modules, cron schedules, the outbox relay, and the in-process runner."""
