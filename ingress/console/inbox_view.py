"""What the inbox page is asked to show: its filters, sort, search and page, read from
the query string (a GET form, so it works without JavaScript and a view is a link).
A value the console does not offer is refused with a 400 that says which and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Query, status

from contracts.api import AssigneeFilter, SessionSort
from contracts.vocabulary import LeadStatus, SessionMode

E = TypeVar("E", bound=StrEnum)
Text = Annotated[str | None, Query()]
"""Plain text, checked here: a refusal is a page that says why, not a validation list."""
SEARCH_MAX = 100
CURSOR_MAX = 2000
DEFAULT_SORT = SessionSort.WAITING
"""The console opens on the longest waiting first (the API's default is `latest`)."""

YES_NO = {"true": True, "false": False}


@dataclass(frozen=True)
class InboxView:
    sort: SessionSort = DEFAULT_SORT
    assignee: AssigneeFilter = AssigneeFilter.ALL
    mode: SessionMode | None = None
    lead_status: LeadStatus | None = None
    ready_for_human: bool | None = None
    closed: bool | None = None
    q: str | None = None
    cursor: str | None = None

    @property
    def filters(self) -> dict[str, Any]:
        return {"mode": self.mode, "lead_status": self.lead_status,
                "ready_for_human": self.ready_for_human, "closed": self.closed}  # fmt: skip

    @property
    def narrowed(self) -> bool:
        """Whether anything but the sort keeps sessions out."""
        return self != InboxView(sort=self.sort, cursor=self.cursor)

    def query(self, cursor: str | None = None) -> str:
        """This view as a query string (without the defaults), at page `cursor`."""
        pairs = {
            "sort": None if self.sort is DEFAULT_SORT else self.sort.value,
            "assignee": None if self.assignee is AssigneeFilter.ALL else self.assignee.value,
            "mode": self.mode.value if self.mode else None,
            "lead_status": self.lead_status.value if self.lead_status else None,
            "ready_for_human": _yes_no(self.ready_for_human),
            "closed": _yes_no(self.closed),
            "q": self.q,
            "cursor": cursor,
        }
        return urlencode({k: v for k, v in pairs.items() if v is not None})


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else str(value).lower()


def _choice(name: str, raw: str | None, kind: type[E]) -> E | None:
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"{name} must be one of {allowed}, not {raw[:40]!r}"
        ) from None


def _flag(name: str, raw: str | None) -> bool | None:
    if not raw:
        return None
    if raw not in YES_NO:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"{name} must be true or false, not {raw[:40]!r}"
        )
    return YES_NO[raw]


def inbox_view(
    sort: Text = None,
    assignee: Text = None,
    mode: Text = None,
    lead_status: Text = None,
    ready_for_human: Text = None,
    closed: Text = None,
    q: Text = None,
    cursor: Text = None,
) -> InboxView:
    words = (q or "").strip()
    if len(words) > SEARCH_MAX:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"a search has at most {SEARCH_MAX} characters"
        )
    if cursor is not None and len(cursor) > CURSOR_MAX:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "that page link is not valid")
    return InboxView(
        sort=_choice("sort", sort, SessionSort) or DEFAULT_SORT,
        assignee=_choice("assignee", assignee, AssigneeFilter) or AssigneeFilter.ALL,
        mode=_choice("mode", mode, SessionMode),
        lead_status=_choice("lead_status", lead_status, LeadStatus),
        ready_for_human=_flag("ready_for_human", ready_for_human),
        closed=_flag("closed", closed),
        q=words or None,
        cursor=cursor or None,
    )


View = Annotated[InboxView, Depends(inbox_view)]
