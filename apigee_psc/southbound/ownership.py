"""Who owns a live resource: apigee-psc's marks, written and compared in this one place.

Every mark names its owner: the endpoint attachment the spec serves
(``organizations/ORG/endpointAttachments/NAME``), unique per connection. A Compute resource
and the Apigee DNS zone carry it in their ``description``; an A record carries it in a TXT
record of the same name (external-dns's registry idea). Reading a mark gives one of three
answers for a spec (:class:`Ownership`): it is this spec's, it is another spec's (whose
owner id the problem names), or it carries no mark at all (made by hand or by another tool).

Only a resource marked with this spec's own id is this spec's to change or delete. ``adopt``
lifts the rule for unmarked resources only: a resource another spec marked is never changed
or deleted by this one (hand it over by rewriting its mark, see docs/ownership.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "MARK_PREFIX",
    "TXT_PREFIX",
    "Ownership",
    "description_mark",
    "description_owner",
    "txt_mark",
    "txt_owners",
]

#: How a ``description`` written by apigee-psc starts (followed by `` for OWNER``).
MARK_PREFIX = "managed by apigee-psc"
#: The TXT string beside an A record apigee-psc wrote starts with this.
TXT_PREFIX = "heritage=apigee-psc"

_DESCRIPTION = re.compile(re.escape(MARK_PREFIX) + r"(?: for ([^\s()]+))?")
_TXT = re.compile(r'^"?' + re.escape(TXT_PREFIX) + r"(?:,apigee-psc/owner=([^\s\"]+))?\"?$")


def description_mark(owner: str) -> str:
    """The mark a Compute resource or the Apigee DNS zone of ``owner`` carries."""
    return f"{MARK_PREFIX} for {owner}"


def txt_mark(owner: str) -> str:
    """The TXT string (quoted, as Cloud DNS returns it) that marks ``owner``'s A record."""
    return f'"{TXT_PREFIX},apigee-psc/owner={owner}"'


def description_owner(description: str | None) -> str | None:
    """The owner a ``description`` names: ``None`` without a mark, ``""`` for a mark that
    names no owner (apigee-psc never writes one; it is nobody's to claim)."""
    found = _DESCRIPTION.search(description or "")
    if found is None:
        return None
    return found.group(1) or ""


def txt_owners(rrdatas: Iterable[str]) -> tuple[str, ...]:
    """The owners the TXT strings of a name mark (``""`` for a mark without an owner)."""
    owners = []
    for text in rrdatas:
        found = _TXT.match(text.strip())
        if found is not None:
            owners.append(found.group(1) or "")
    return tuple(owners)


@dataclass(frozen=True)
class Ownership:
    """What a live resource's marks say, compared with one spec's owner id.

    ``marks`` are the owner ids found on the resource (empty: unmarked); ``ours`` is the
    spec's. The resource is this spec's (:attr:`owned`) exactly when its own id is among them.
    """

    ours: str
    marks: tuple[str, ...] = ()

    @classmethod
    def of_description(cls, ours: str, description: str | None) -> Ownership:
        """From a Compute resource's or a DNS zone's ``description``."""
        found = description_owner(description)
        return cls(ours, () if found is None else (found,))

    @classmethod
    def of_txt(cls, ours: str, rrdatas: Iterable[str]) -> Ownership:
        """From the TXT strings at an A record's name."""
        return cls(ours, txt_owners(rrdatas))

    @property
    def owned(self) -> bool:
        """True if the resource carries this spec's mark."""
        return self.ours in self.marks

    @property
    def other(self) -> str | None:
        """The other owner named when the resource is marked, but not by this spec
        (``"an unnamed owner"`` for a mark without an id)."""
        if self.owned or not self.marks:
            return None
        return self.marks[0] or "an unnamed owner"

    def why_not_ours(self) -> str:
        """Why apigee-psc may not change or delete it, for a problem or a keep note."""
        if self.other is not None:
            return f"it belongs to another apigee-psc spec (its mark names {self.other})"
        return "apigee-psc did not create it"
