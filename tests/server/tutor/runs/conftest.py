"""The tutor's runs against the real application, MariaDB and Redis, and the fake AI provider
(the fixtures are tests/server/tutor/conftest.py's)."""
