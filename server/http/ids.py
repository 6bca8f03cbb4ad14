"""The one id type of the API, for every path, query and body id.

Ids are BIGINT keys: 1 .. 2**63 - 1 on every engine. A larger number would overflow SQLite's
driver (a 500) and merely miss on MariaDB; bounding it here answers 422 on both.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_ID = 2**63 - 1

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
