-- Installation-wide settings, one JSON value per key. The first migration: later ones add the engine's
-- instances, journal and step tables. Migrations are append-only: never edit one that has shipped.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
