-- Up Migration
-- The event outbox is published (issue 11, section 6): src/events/relay.ts reads unpublished rows in id
-- order through event_unpublished_idx (migrations/0001), marks them published once RabbitMQ confirmed
-- them, and deletes published rows older than PROVISIO_EVENT_RETENTION_HOURS. This index serves that
-- pruning (oldest published first) without scanning the table. It is partial: an event is inserted with
-- published_date NULL, so the INSERT that every status change makes does not touch it.
CREATE INDEX event_published_date_idx ON event (published_date) WHERE published_date IS NOT NULL;

-- Down Migration
-- Forward-only (docs/design.md "Habits"): no down migration.
