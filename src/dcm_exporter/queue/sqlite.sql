-- SQL of SqliteTaskStore, in named blocks ("-- name: NAME" starts a block).
-- {columns} is replaced by the column list of export_task in the order ExportTask is built from.
-- Times are ISO 8601 text in UTC with microseconds ("2024-01-01T18:00:00.000000+00:00"), so they sort as text.

-- name: migration_1
CREATE TABLE export_task (
    task_id               INTEGER PRIMARY KEY AUTOINCREMENT,
    created_time          TEXT    NOT NULL,
    updated_time          TEXT    NOT NULL,
    device_name           TEXT    NOT NULL,
    queue_name            TEXT    NOT NULL,
    exporter_id           TEXT    NOT NULL,
    local_ae_title        TEXT,
    study_uid             TEXT    NOT NULL,
    series_uid            TEXT    NOT NULL DEFAULT '*',
    sop_instance_uid      TEXT    NOT NULL DEFAULT '*',
    scheduled_time        TEXT    NOT NULL,
    status                TEXT    NOT NULL DEFAULT 'SCHEDULED' CHECK (status IN (
        'SCHEDULED', 'IN PROCESS', 'COMPLETED', 'WARNING', 'FAILED', 'CANCELED', 'SCHEDULED FOR RETRY')),
    processing_start_time TEXT,
    processing_end_time   TEXT,
    number_of_failures    INTEGER NOT NULL DEFAULT 0,
    batch_id              TEXT,
    error_message         TEXT,
    outcome_message       TEXT,
    number_of_instances   INTEGER,
    modalities            TEXT    NOT NULL DEFAULT '',
    requester             TEXT,
    lease_owner           TEXT,
    lease_expires         TEXT
);
CREATE INDEX export_task_due ON export_task (device_name, queue_name, status, scheduled_time);
CREATE INDEX export_task_study ON export_task (device_name, exporter_id, study_uid, status);
CREATE INDEX export_task_batch ON export_task (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX export_task_updated ON export_task (status, updated_time);

-- name: migration_2
-- Waiting tasks only, in the order they are claimed (task_id, the rowid, is the implicit last column).
CREATE INDEX export_task_pending ON export_task (device_name, queue_name, scheduled_time)
    WHERE status IN ('SCHEDULED', 'SCHEDULED FOR RETRY');

-- name: migration_3
-- Tasks that follow a COMPLETED export: storage commitment (STGCMT) and IAN, with their peer and results.
ALTER TABLE export_task ADD COLUMN task_type TEXT NOT NULL DEFAULT 'EXPORT'
    CHECK (task_type IN ('EXPORT', 'STGCMT', 'IAN'));
ALTER TABLE export_task ADD COLUMN destination_aet TEXT;
ALTER TABLE export_task ADD COLUMN result_json TEXT;

-- name: migration_4
-- Fewer index pages per commit. Every index below moves only when its own condition changes: scheduling a
-- task writes the table, the pending index and the study index; claiming it writes the table, the pending
-- and the lease index; finishing it the table, the lease and the finished index. (The indexes replaced
-- held the status, so each state change moved an entry in each of them.)
DROP INDEX export_task_due;
DROP INDEX export_task_study;
DROP INDEX export_task_updated;
-- Running tasks by lease end (lease hand-over, reset at start, next due time).
CREATE INDEX export_task_leased ON export_task (device_name, queue_name, lease_expires)
    WHERE status = 'IN PROCESS';
-- A study's tasks whatever their status (the coalescing look-up filters the few rows by status).
CREATE INDEX export_task_study ON export_task (device_name, exporter_id, study_uid);
-- Finished tasks by last change (purge).
CREATE INDEX export_task_finished ON export_task (device_name, queue_name, status, updated_time)
    WHERE status IN ('COMPLETED', 'WARNING', 'FAILED', 'CANCELED');

-- name: migration_5
-- Task ids without AUTOINCREMENT: its sqlite_sequence row was a fourth page in every schedule's commit. An id is
-- still never used twice: the inserts take one more than the larger of the highest id in the table and the
-- highest id ever deleted while it was the highest (export_task_ids, written by a trigger only then).
CREATE TABLE export_task_ids (last_deleted INTEGER NOT NULL);
INSERT INTO export_task_ids
    SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'export_task'), 0);
CREATE TABLE export_task_v5 (
    task_id               INTEGER PRIMARY KEY,
    created_time          TEXT    NOT NULL,
    updated_time          TEXT    NOT NULL,
    device_name           TEXT    NOT NULL,
    queue_name            TEXT    NOT NULL,
    exporter_id           TEXT    NOT NULL,
    local_ae_title        TEXT,
    study_uid             TEXT    NOT NULL,
    series_uid            TEXT    NOT NULL DEFAULT '*',
    sop_instance_uid      TEXT    NOT NULL DEFAULT '*',
    scheduled_time        TEXT    NOT NULL,
    status                TEXT    NOT NULL DEFAULT 'SCHEDULED' CHECK (status IN (
        'SCHEDULED', 'IN PROCESS', 'COMPLETED', 'WARNING', 'FAILED', 'CANCELED', 'SCHEDULED FOR RETRY')),
    processing_start_time TEXT,
    processing_end_time   TEXT,
    number_of_failures    INTEGER NOT NULL DEFAULT 0,
    batch_id              TEXT,
    error_message         TEXT,
    outcome_message       TEXT,
    number_of_instances   INTEGER,
    modalities            TEXT    NOT NULL DEFAULT '',
    requester             TEXT,
    lease_owner           TEXT,
    lease_expires         TEXT,
    task_type             TEXT    NOT NULL DEFAULT 'EXPORT' CHECK (task_type IN ('EXPORT', 'STGCMT', 'IAN')),
    destination_aet       TEXT,
    result_json           TEXT
);
INSERT INTO export_task_v5 ({columns}) SELECT {columns} FROM export_task;
DROP TABLE export_task;
ALTER TABLE export_task_v5 RENAME TO export_task;
CREATE INDEX export_task_batch ON export_task (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX export_task_pending ON export_task (device_name, queue_name, scheduled_time)
    WHERE status IN ('SCHEDULED', 'SCHEDULED FOR RETRY');
CREATE INDEX export_task_leased ON export_task (device_name, queue_name, lease_expires)
    WHERE status = 'IN PROCESS';
CREATE INDEX export_task_study ON export_task (device_name, exporter_id, study_uid);
CREATE INDEX export_task_finished ON export_task (device_name, queue_name, status, updated_time)
    WHERE status IN ('COMPLETED', 'WARNING', 'FAILED', 'CANCELED');
CREATE TRIGGER export_task_highest_deleted AFTER DELETE ON export_task
    WHEN old.task_id > coalesce((SELECT max(task_id) FROM export_task), 0)
     AND old.task_id > (SELECT last_deleted FROM export_task_ids)
BEGIN
    UPDATE export_task_ids SET last_deleted = old.task_id;
END;

-- name: insert
-- task_id: see migration_5 (one more than any id the table has held)
INSERT INTO export_task (
    task_id, created_time, updated_time, device_name, queue_name, exporter_id, local_ae_title, study_uid, series_uid,
    sop_instance_uid, scheduled_time, status, batch_id, number_of_instances, modalities, requester,
    task_type, destination_aet)
VALUES (
    (SELECT max(coalesce((SELECT max(task_id) FROM export_task), 0), last_deleted) + 1 FROM export_task_ids),
    :now, :now, :device_name, :queue_name, :exporter_id, :local_ae_title, :study_uid, :series_uid,
    :sop_instance_uid, :scheduled_time, 'SCHEDULED', :batch_id, :number_of_instances, :modalities, :requester,
    :task_type, :destination_aet)
RETURNING {columns};

-- name: insert_unless_coalescable
-- The insert when the new task may coalesce: nothing is inserted (no row returned) when a task of the same
-- device, exporter, study and batch is still SCHEDULED (find_coalescable's condition).
INSERT INTO export_task (
    task_id, created_time, updated_time, device_name, queue_name, exporter_id, local_ae_title, study_uid,
    series_uid, sop_instance_uid, scheduled_time, status, batch_id, number_of_instances, modalities, requester,
    task_type, destination_aet)
SELECT
    (SELECT max(coalesce((SELECT max(task_id) FROM export_task), 0), last_deleted) + 1 FROM export_task_ids),
    :now, :now, :device_name, :queue_name, :exporter_id, :local_ae_title, :study_uid, :series_uid,
    :sop_instance_uid, :scheduled_time, 'SCHEDULED', :batch_id, :number_of_instances, :modalities, :requester,
    :task_type, :destination_aet
WHERE NOT EXISTS (
    SELECT 1 FROM export_task
    WHERE device_name = :device_name AND exporter_id = :exporter_id AND study_uid = :study_uid
      AND status = 'SCHEDULED' AND batch_id IS :batch_id AND task_type = 'EXPORT')
RETURNING {columns};

-- name: find_coalescable
SELECT task_id, series_uid, sop_instance_uid, scheduled_time
FROM export_task
WHERE device_name = :device_name AND exporter_id = :exporter_id AND study_uid = :study_uid
  AND status = 'SCHEDULED' AND batch_id IS :batch_id AND task_type = 'EXPORT'
ORDER BY task_id
LIMIT 1;

-- name: find_coalescable_task
-- find_coalescable with every column: read without a write lock, to see whether coalescing changes anything.
SELECT {columns}
FROM export_task
WHERE device_name = :device_name AND exporter_id = :exporter_id AND study_uid = :study_uid
  AND status = 'SCHEDULED' AND batch_id IS :batch_id AND task_type = 'EXPORT'
ORDER BY task_id
LIMIT 1;

-- name: update_coalesced
UPDATE export_task
SET series_uid = :series_uid, sop_instance_uid = :sop_instance_uid, scheduled_time = :scheduled_time,
    updated_time = :now
WHERE task_id = :task_id
RETURNING {columns};

-- name: get
SELECT {columns} FROM export_task WHERE task_id = :task_id;

-- name: claim
-- Two small index scans (waiting tasks by the partial index in scheduled order; expired leases), merged.
UPDATE export_task
SET status = 'IN PROCESS', processing_start_time = :now, processing_end_time = NULL, updated_time = :now,
    lease_owner = :owner, lease_expires = :lease_until
WHERE task_id IN (
    SELECT task_id FROM (
        SELECT task_id, scheduled_time FROM (
            SELECT task_id, scheduled_time FROM export_task
            WHERE device_name = :device_name AND queue_name = :queue_name
              AND status IN ('SCHEDULED', 'SCHEDULED FOR RETRY') AND scheduled_time <= :now
              AND exporter_id NOT IN (SELECT value FROM json_each(:exclude))
            ORDER BY scheduled_time, task_id
            LIMIT :limit)
        UNION ALL
        SELECT task_id, scheduled_time FROM (
            SELECT task_id, scheduled_time FROM export_task
            WHERE device_name = :device_name AND queue_name = :queue_name
              AND status = 'IN PROCESS' AND lease_expires <= :now
              AND exporter_id NOT IN (SELECT value FROM json_each(:exclude))
            ORDER BY scheduled_time, task_id
            LIMIT :limit))
    ORDER BY scheduled_time, task_id
    LIMIT :limit)
RETURNING {columns};

-- name: heartbeat
UPDATE export_task
SET lease_expires = :lease_until
WHERE task_id IN (SELECT value FROM json_each(:ids)) AND lease_owner = :owner AND status = 'IN PROCESS'
RETURNING task_id;

-- name: finish
UPDATE export_task
SET status = :status, processing_end_time = :processing_end_time, number_of_failures = :number_of_failures,
    processing_start_time = coalesce(:processing_start_time, processing_start_time),
    scheduled_time = coalesce(:scheduled_time, scheduled_time), error_message = :error_message,
    outcome_message = :outcome_message, number_of_instances = coalesce(:number_of_instances, number_of_instances),
    modalities = coalesce(:modalities, modalities), result_json = :result_json, updated_time = :now,
    lease_owner = NULL, lease_expires = NULL
WHERE task_id = :task_id AND lease_owner = :owner AND status = 'IN PROCESS'
RETURNING {columns};

-- name: finish_canceled
UPDATE export_task
SET processing_end_time = :processing_end_time, outcome_message = :outcome_message,
    number_of_instances = coalesce(:number_of_instances, number_of_instances),
    modalities = coalesce(:modalities, modalities),
    updated_time = :now, lease_owner = NULL, lease_expires = NULL
WHERE task_id = :task_id AND lease_owner = :owner AND status = 'CANCELED'
RETURNING {columns};

-- name: release
UPDATE export_task
SET status = 'SCHEDULED', processing_start_time = NULL, updated_time = :now, lease_owner = NULL, lease_expires = NULL
WHERE task_id = :task_id AND lease_owner = :owner AND status = 'IN PROCESS';

-- name: release_other
UPDATE export_task
SET lease_owner = NULL, lease_expires = NULL
WHERE task_id = :task_id AND lease_owner = :owner;

-- name: fail_unreadable
-- A claimed row that cannot be read back as a task (a corrupted value): final, with the reason, so that it
-- neither stays IN PROCESS nor is claimed again.
UPDATE export_task
SET status = 'FAILED', error_message = :reason, processing_end_time = :now, updated_time = :now,
    lease_owner = NULL, lease_expires = NULL
WHERE task_id = :task_id;

-- name: reset_in_process
UPDATE export_task
SET status = 'SCHEDULED', processing_start_time = NULL, updated_time = :now, lease_owner = NULL, lease_expires = NULL
WHERE device_name = :device_name AND status = 'IN PROCESS';

-- name: cancel_running
UPDATE export_task
SET status = 'CANCELED', updated_time = :now
WHERE task_id IN (SELECT value FROM json_each(:ids)) AND status = 'IN PROCESS'
RETURNING task_id;

-- name: cancel_waiting
UPDATE export_task
SET status = 'CANCELED', updated_time = :now, lease_owner = NULL, lease_expires = NULL
WHERE task_id IN (SELECT value FROM json_each(:ids)) AND status IN ('SCHEDULED', 'SCHEDULED FOR RETRY')
RETURNING task_id;

-- name: reschedule
UPDATE export_task
SET status = 'SCHEDULED', scheduled_time = :scheduled_time, number_of_failures = 0, error_message = NULL,
    outcome_message = NULL, processing_start_time = NULL, processing_end_time = NULL, updated_time = :now,
    lease_owner = NULL, lease_expires = NULL,
    exporter_id = coalesce(:exporter_id, exporter_id),
    queue_name = coalesce(:queue_name, queue_name),
    local_ae_title = CASE WHEN :exporter_id IS NULL THEN local_ae_title ELSE :local_ae_title END
WHERE task_id IN (SELECT value FROM json_each(:ids)) AND status <> 'IN PROCESS'
RETURNING task_id;

-- name: delete
DELETE FROM export_task WHERE task_id IN (SELECT value FROM json_each(:ids)) RETURNING task_id;

-- name: purge
-- Only final statuses are purged; saying so lets SQLite use the partial index of finished tasks.
DELETE FROM export_task
WHERE device_name = :device_name AND queue_name = :queue_name AND status = :status
  AND status IN ('COMPLETED', 'WARNING', 'FAILED', 'CANCELED') AND updated_time < :updated_before;

-- name: purge_any
-- purge with a status that is not final (not done by the manager; kept for the store's contract)
DELETE FROM export_task
WHERE device_name = :device_name AND queue_name = :queue_name AND status = :status
  AND updated_time < :updated_before;

-- name: next_due_time
SELECT min(t) FROM (
    SELECT min(scheduled_time) AS t FROM export_task
    WHERE device_name = :device_name AND queue_name IN (SELECT value FROM json_each(:queues))
      AND status IN ('SCHEDULED', 'SCHEDULED FOR RETRY')
    UNION ALL
    SELECT min(lease_expires) AS t FROM export_task
    WHERE device_name = :device_name AND queue_name IN (SELECT value FROM json_each(:queues))
      AND status = 'IN PROCESS'
);

-- name: batch_counts
SELECT batch_id, status, count(*) FROM export_task
WHERE batch_id IS NOT NULL AND {where}
GROUP BY batch_id, status;

-- name: batch_ranges
SELECT batch_id, json_group_array(DISTINCT device_name), json_group_array(DISTINCT exporter_id),
       min(created_time), max(created_time), min(updated_time), max(updated_time),
       min(scheduled_time), max(scheduled_time), min(processing_start_time), max(processing_start_time),
       min(processing_end_time), max(processing_end_time)
FROM export_task
WHERE batch_id IS NOT NULL AND {where}
GROUP BY batch_id
ORDER BY batch_id;
