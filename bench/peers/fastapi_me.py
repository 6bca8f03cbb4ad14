"""The B2 peer: ``GET /api/v1/me`` on FastAPI + SQLAlchemy ORM (async session, asyncmy).

    DATABASE_URL=mysql+asyncmy://u:p@127.0.0.1:3306/db JWT_PUBLIC_KEY_FILE=pub.pem \\
        python -m bench.peers.fastapi_me --port 8082

Written the way FastAPI's docs show ("OAuth2 with Password (and hashing), Bearer with JWT tokens"
and "SQL (Relational) Databases"): an ``OAuth2PasswordBearer`` scheme, a ``get_db`` dependency
yielding an ``AsyncSession``, a ``get_current_user`` dependency that decodes the JWT with PyJWT and
loads the user with ``db.get(User, id)``, a declarative model mapped to the same ``users`` table
(defined here, not imported), and a Pydantic ``response_model`` read ``from_attributes``. Served
by uvicorn with uvloop and httptools. Like the docs' example it has no session (revocation) check;
it refuses tokens of users whose status is not ``active`` (the docs' ``disabled`` check).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import jwt
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy import JSON, BigInteger, DateTime, String
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bench.peers import load_public_key

ISSUER, AUDIENCE = "sharestack", "sharestack-api"
DATABASE_URL = os.environ.get("DATABASE_URL", "mysql+asyncmy://localhost/sharestack_test_bench")
# Loaded once, as a key object (ours and the floor do the same), not re-parsed per request.
PUBLIC_KEY = load_public_key(Path(os.environ["JWT_PUBLIC_KEY_FILE"]).read_bytes())
POOL_SIZE = int(os.environ.get("DATABASE_POOL_SIZE", "10"))

# The same pool bounds as ours: pool_size connections kept, as many again on overflow.
engine = create_async_engine(DATABASE_URL, pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254))
    # Stored masked; the number itself is encrypted in another column.
    phone: Mapped[str | None] = mapped_column("phone_masked", String(32))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    nickname: Mapped[str] = mapped_column(String(32))
    avatar_url: Mapped[str | None] = mapped_column(String(500))
    roles: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str | None
    phone: str | None
    nickname: str
    avatar_url: str | None
    roles: list[str]
    created_at: datetime

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


app = FastAPI()
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login")


async def get_db() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


async def get_current_user(
    token: Annotated[str, Depends(oauth2_scheme)],
    db: Annotated[AsyncSession, Depends(get_db)],
) -> User:
    credentials_exception = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )
    try:
        payload = jwt.decode(
            token, PUBLIC_KEY, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER
        )
        user_id = int(payload["sub"])
    except (jwt.InvalidTokenError, KeyError, ValueError) as exc:
        raise credentials_exception from exc
    user = await db.get(User, user_id)
    if user is None or user.status != "active":
        raise credentials_exception
    return user


@app.get("/api/v1/me", response_model=UserOut)
async def read_users_me(current_user: Annotated[User, Depends(get_current_user)]) -> User:
    return current_user


@app.get("/healthz", response_model=None)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
    )


if __name__ == "__main__":
    main()
