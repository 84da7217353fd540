"""``Store.next_lease_check``: when the earliest lease ends, so the reconciler wakes right then."""

from __future__ import annotations

from flowgen.stores.base import Store
from tests.stores.support import TTL, T, created, started


def test_next_lease_check_is_none_without_leases(store: Store) -> None:
    created(store, "idle")
    assert store.next_lease_check() is None


def test_next_lease_check_is_the_earliest_lease_end(store: Store) -> None:
    started(store, "late", now=T + 5)
    started(store, "early", now=T)
    assert store.next_lease_check() == T + TTL


def test_next_lease_check_follows_renewals_and_releases(store: Store) -> None:
    first = started(store, "first", now=T)
    second = started(store, "second", now=T + 1)
    assert store.renew([("first", first.epoch)], TTL, T + 10) == []
    assert store.next_lease_check() == T + 1 + TTL
    store.release("second", second.epoch)
    assert store.next_lease_check() == T + 10 + TTL
