-- The run store: one schema for SQLite and PostgreSQL (plain types, no vendor extensions).
-- Enums (run status, shard state) are stored by name.

CREATE TABLE runs (
  run_id             TEXT    NOT NULL PRIMARY KEY,
  name               TEXT    NOT NULL,
  config_hocon       TEXT    NOT NULL,
  status             TEXT    NOT NULL,
  submitted_unix_ms  BIGINT  NOT NULL,
  started_unix_ms    BIGINT,
  finished_unix_ms   BIGINT,
  final_metrics_json TEXT,
  failure_reason     TEXT
);

CREATE INDEX runs_by_status ON runs (status);

CREATE TABLE shards (
  run_id          TEXT    NOT NULL REFERENCES runs (run_id),
  shard           INTEGER NOT NULL,
  first_sample    BIGINT  NOT NULL,
  sample_count    BIGINT  NOT NULL,
  state           TEXT    NOT NULL,
  attempt         INTEGER NOT NULL,
  failures        INTEGER NOT NULL,
  worker_id       TEXT,
  last_checkpoint TEXT,
  checkpoint_step BIGINT  NOT NULL,
  PRIMARY KEY (run_id, shard)
);

-- Persisted counters; 'incarnation' is the coordinators' fencing token.
CREATE TABLE counters (
  counter_name  TEXT   NOT NULL PRIMARY KEY,
  counter_value BIGINT NOT NULL
);

INSERT INTO counters (counter_name, counter_value) VALUES ('incarnation', 0);
