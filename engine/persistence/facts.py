"""The facts engine.domain.policy decides on, read from a store's rows.

The status in them is derived now (engine.domain.status.derive_status over the current flags and
entity rows), not the stored column, so a decision never lags a write that has not refreshed it.
"""

from __future__ import annotations

from engine.domain.policy import StoreFacts
from engine.domain.status import (
    ENTITY_CATEGORY,
    Entity,
    EntityState,
    derive_status,
    records_mismatch_of,
)
from engine.persistence.models import EntitySync, Store
from engine.persistence.reads import categories_of, entity_state, status_facts


def store_facts(store: Store) -> StoreFacts:
    syncs = list(EntitySync.select().where(EntitySync.store == store.id))
    status, detail = derive_status(status_facts(store, syncs))
    by_entity = {s.entity: s for s in syncs}
    categories = categories_of(store)
    return StoreFacts(
        name=store.name or store.domain,
        status=status,
        status_detail=detail,
        deleting=store.deleting,
        entity_states=tuple(
            (entity, entity_state(store, by_entity.get(entity.value))
             if categories[ENTITY_CATEGORY[entity]] else EntityState.OFF)
            for entity in Entity
        ),
        full_failed=tuple(
            Entity(s.entity) for s in syncs
            if s.full_failed_at is not None and categories[ENTITY_CATEGORY[Entity(s.entity)]]
        ),
        records_mismatch=bool(records_mismatch_of(store.readiness, categories)),
    )
