from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.tutor.retrieval import vectors
from tests.server.tutor.retrieval.indexed import bigram_embed


@pytest.fixture
def embedders() -> Iterator[None]:
    """The workers' embedders: the test's deterministic one for any model."""
    vectors.register_embedders(lambda model: bigram_embed)
    yield
    vectors.register_embedders(None)
