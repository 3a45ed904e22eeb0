"""Brands: every account has a default one; tickets belong to one (Brands API, spec line 1434)."""

from __future__ import annotations

import copy

from escalations.sandbox.core import AccountCore, Record
from escalations.sandbox.errors import invalid, not_found

# Brand ids come from a range of their own, so that adding a brand never shifts the other records' ids.
FIRST_BRAND_ID = 9_100_001


class Brands(AccountCore):
    """The account's brands; the first one added is the default."""

    def brands(self) -> list[Record]:
        """GET /api/v2/brands: every brand, "sorted by name" (List Brands)."""
        with self._lock:
            return copy.deepcopy(sorted(self._brands.values(), key=lambda brand: (brand["name"].lower(), brand["id"])))

    def brand(self, brand_id: int) -> Record:
        """One brand."""
        with self._lock:
            brand = self._brands.get(brand_id)
            if brand is None:
                raise not_found()
            return copy.deepcopy(brand)

    # -- internals: the caller holds self._lock ------------------------------------

    def _add_brand(self, name: str, subdomain: str) -> Record:
        now = self._iso_now()
        brand_id = FIRST_BRAND_ID + len(self._brands)
        brand: Record = {
            "id": brand_id,
            "url": f"https://{self.subdomain}.zendesk.com/api/v2/brands/{brand_id}.json",
            "name": name,
            "brand_url": f"https://{subdomain}.zendesk.com",
            "subdomain": subdomain,
            "has_help_center": True,
            "help_center_state": "enabled",
            "active": True,
            "default": not self._brands,
            "is_deleted": False,
            "ticket_form_ids": [],
            "created_at": now,
            "updated_at": now,
        }
        self._brands[brand_id] = brand
        return brand

    def _default_brand_id(self) -> int:
        return int(next(brand["id"] for brand in self._brands.values() if brand["default"]))

    def _brand_id_for(self, brand_id: object) -> int:
        """A ticket's brand: a brand of the account, or 422."""
        if not isinstance(brand_id, int) or brand_id not in self._brands:
            raise invalid(f"brand_id: no brand {brand_id}")
        return brand_id
