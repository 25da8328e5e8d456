"""The names of the union organisations, the same in every text, image and message.

Two organisations of a street take part in individual membership:
- the street union (街道总工会, "德胜街道总工会") runs the reception points and prints the
  posters, and its staff review the applications;
- the street's joint union (工会联合会, "德胜街道工会联合会", a `UnionOrg` of kind "joint")
  is where an approved member's membership is registered, until their enterprise founds a
  union of its own and the membership moves there.
The district federation (区总工会) is named in the configuration (`federation.name`).
"""

from __future__ import annotations


def street_union_name(street_name: str) -> str:
    """The street union that receives and reviews applications: 德胜街道 → 德胜街道总工会."""
    return street_name if street_name.endswith("工会") else f"{street_name}总工会"


def joint_union_name(street_name: str) -> str:
    """The street's joint union, where members are registered: 德胜街道 → 德胜街道工会联合会."""
    base = street_name
    for suffix in ("总工会", "工会"):
        if base.endswith(suffix):
            base = base.removesuffix(suffix)
            break
    return f"{base}工会联合会"
