"""The tutor catalogue API: models (routes to providers, prices) and personas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    UrlConstraints,
    model_validator,
)

from server.http.fields import StrictBool
from server.http.ids import Id
from server.http.pagination import PageQuery

Kind = Literal["chat", "embedding"]
PersonaStatus = Literal["draft", "active", "archived"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Provider = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, to_lower=True)
]
UpstreamModel = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)
]
# Credits per 1,000 tokens: a million is already a typo.
Credits = Annotated[int, Field(ge=0, le=1_000_000)]
MaxOutput = Annotated[int, Field(ge=1, le=32_768)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
AvatarUrl = Annotated[HttpUrl, UrlConstraints(max_length=500, allowed_schemes=["http", "https"])]
SystemPrompt = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


def _distinct_tags(tags: list[str]) -> list[str]:
    """Tags as given, each once, in their first order."""
    return list(dict.fromkeys(tags))


Tags = Annotated[list[Tag], Field(max_length=10), AfterValidator(_distinct_tags)]


class ModelRoute(BaseModel):
    """One way to reach the model: a configured provider and its name for the model."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider = Field(description="One of the configured AI providers (AI_PROVIDERS).")
    upstream_model: UpstreamModel


Routes = Annotated[list[ModelRoute], Field(min_length=1, max_length=8)]


def _something_to_change(model: BaseModel, nullable: tuple[str, ...] = ()) -> None:
    if not model.model_fields_set:
        raise ValueError("Give at least one field to change.")
    for name in model.model_fields_set - set(nullable):
        if getattr(model, name) is None:
            raise ValueError(f"{name} cannot be null.")


class ModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    kind: Kind = "chat"
    routes: Routes = Field(description="Tried in order until one answers.")
    prompt_credits_per_1k: Credits = Field(description="P: credits per 1,000 prompt tokens.")
    completion_credits_per_1k: Credits = Field(
        description="C: credits per 1,000 completion tokens."
    )
    max_output_tokens: MaxOutput = 1024
    enabled: StrictBool = True


class ModelPatch(BaseModel):
    """Fields to change (at least one; none may be null)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    kind: Kind | None = None
    routes: Routes | None = None
    prompt_credits_per_1k: Credits | None = None
    completion_credits_per_1k: Credits | None = None
    max_output_tokens: MaxOutput | None = None
    enabled: StrictBool | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        _something_to_change(self)
        return self


class ModelOut(BaseModel):
    id: int
    name: str
    kind: Kind
    routes: list[ModelRoute]
    prompt_credits_per_1k: int
    completion_credits_per_1k: int
    max_output_tokens: int
    enabled: bool
    created_at: datetime
    updated_at: datetime


class ModelPath(BaseModel):
    id: Id


class ModelListQuery(PageQuery):
    kind: Kind | None = None
    enabled: StrictBool | None = None


class PersonaCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    avatar_url: AvatarUrl | None = None
    description: Description | None = None
    system_prompt: SystemPrompt = Field(description="Never shown to users.")
    model_id: Id = Field(description="A chat model.")
    tags: Tags = Field(default_factory=list)
    status: PersonaStatus = "draft"
    retrieval: StrictBool = Field(
        True, description="Answers draw on the content it is asked about."
    )
    memory: StrictBool = Field(True, description="Older turns are folded into a summary.")


class PersonaPatch(BaseModel):
    """Fields to change (at least one); only `avatar_url` and `description` may be null."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    avatar_url: AvatarUrl | None = None
    description: Description | None = None
    system_prompt: SystemPrompt | None = None
    model_id: Id | None = None
    tags: Tags | None = None
    status: PersonaStatus | None = None
    retrieval: StrictBool | None = None
    memory: StrictBool | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        _something_to_change(self, nullable=("avatar_url", "description"))
        return self


class PersonaOut(BaseModel):
    """A persona as administrators see it, system prompt included."""

    id: int
    name: str
    avatar_url: str | None
    description: str | None
    system_prompt: str
    model_id: int
    tags: list[str]
    status: PersonaStatus
    retrieval: bool
    memory: bool
    created_at: datetime
    updated_at: datetime


class PersonaRemovedOut(BaseModel):
    id: int
    outcome: Literal["deleted", "archived"] = Field(
        description="`archived` when conversations use the persona (they keep it)."
    )


class PersonaPath(BaseModel):
    id: Id


class PersonaListQuery(PageQuery):
    status: PersonaStatus | None = None
    tag: Tag | None = None


class PriceOut(BaseModel):
    """What answering with the model costs: credits per 1,000 tokens."""

    name: str
    prompt_credits_per_1k: int
    completion_credits_per_1k: int


class PublicPersonaOut(BaseModel):
    """A persona as users see it in the catalogue: no system prompt, no provider routes."""

    id: int
    name: str
    avatar_url: str | None
    description: str | None
    tags: list[str]
    retrieval: bool
    memory: bool
    model: PriceOut


class PublicPersonaQuery(PageQuery):
    tag: Tag | None = None
