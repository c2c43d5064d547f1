"""Bodies and views of the merchant's decisions and of disputes (shared/aftersales/decisions.py, disputes.py).

Kept apart from the logic so the routers (api_merchant, api_orders, api_ops) import only these at cold start and
load the logic, which reaches the payment providers, when a decision is made.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, TypeAdapter

from shared.aftersales.models import Case, CaseView
from shared.core import lease
from shared.core.timestamps import Timestamp

# Evidence bounds, so the case item stays small (every later write of the case is billed by its size): at most
# MAX_EVIDENCE entries a case, each a text of at most 500 characters and at most MAX_IMAGES references of at most
# 300 characters: worst case about 10 x (1.5 KB + 1.8 KB) = 33 KB, typically well under 1 KB an entry.
MAX_EVIDENCE = 10
MAX_IMAGES = 6
_MEDIA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{7,127}$")
_URL = TypeAdapter(HttpUrl)


def _image_ref(value: str) -> str:
    """A reference to an image, never the image: a media id from an upload service (`[A-Za-z0-9_-]`, 8-128
    characters) or an https URL without credentials."""
    if _MEDIA_ID.fullmatch(value):
        return value
    url = _URL.validate_python(value)
    if url.scheme != "https" or url.username or url.password or not url.host:
        raise ValueError("an image is a media id or an https URL without credentials")
    return value


ImageRef = Annotated[str, StringConstraints(min_length=8, max_length=300), AfterValidator(_image_ref)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class EvidenceIn(BaseModel):
    """POST /after-sales/{case_id}/evidence body."""

    model_config = ConfigDict(extra="forbid")

    text: Reason
    images: Annotated[list[ImageRef], Field(max_length=MAX_IMAGES)] = []


class DisputeIn(BaseModel):
    """POST /after-sales/{case_id}/dispute body."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


class DecisionIn(BaseModel):
    """POST /ops/disputes/{case_id}/decide body."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["full_refund", "partial_refund", "reject"]
    amount_fen: Annotated[int, Field(gt=0, strict=True)] | None = Field(
        None, description="partial_refund only: what to refund, integer fen, less than the case's refund_total_fen")
    reason: Reason


class ClaimView(BaseModel):
    case_id: str
    claimed_by: str
    claim_expires_at: Timestamp


class DisputeView(CaseView):
    """A case in the ops queue: the case, when it was disputed, and who holds it."""

    claimed_by: str | None = None
    claim_expires_at: Timestamp | None = None

    @classmethod
    def of_dispute(cls, case: Case, now_iso: str) -> DisputeView:
        held = lease.live(case.dispute_claim, now_iso)
        view = CaseView.of(case).model_dump()
        return cls.model_validate({**view, "claimed_by": held["by"] if held else None,
                                   "claim_expires_at": held["until"] if held else None})


class DisputePage(BaseModel):
    """Open disputes, oldest first; `cursor` continues (signed, for this caller only)."""

    items: list[DisputeView]
    cursor: str | None = None


class RejectIn(BaseModel):
    """POST /merchant/after-sales/{case_id}/reject body."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


class ShopCasePage(BaseModel):
    """The shop's cases, newest first (a status filter may leave a page short); `cursor` continues."""

    items: list[CaseView]
    cursor: str | None = None
