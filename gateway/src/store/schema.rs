//! The schema, created or brought up to date at start.

use super::*;

/// Columns added to tables of the first schema: (table, column, type).
pub(super) const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
	// Vouchers commit to a session (issue 28).
	("vouchers", "session", "TEXT"),
	("feed", "session", "TEXT"),
	// Usage is priced on chain at the block it was served at (issue 28).
	("pending", "served_at", "{big}"),
	("requests", "served_at", "{big}"),
	("feed", "served_at", "{big}"),
];

/// The schema; `{id}` is the auto-numbered key's type, `{key}` the same for keys whose
/// numbers may be used again once deleted, `{big}` a 64-bit integer.
pub(super) const SCHEMA: &[&str] = &[
	"CREATE TABLE IF NOT EXISTS requests (
		id {id}, \"user\" TEXT NOT NULL, payer TEXT NOT NULL, model {big} NOT NULL,
		input_tokens {big} NOT NULL, output_tokens {big} NOT NULL,
		cost TEXT NOT NULL, feed_seq {big}, created_at {big} NOT NULL)",
	// Nothing reads requests by feed number (earlier versions kept an index of it up).
	"DROP INDEX IF EXISTS requests_by_feed_seq",
	"CREATE INDEX IF NOT EXISTS requests_by_user ON requests(\"user\")",
	// Charged requests not yet in the feed, as charged: written once per answer, so without
	// an index to keep up (one page per write); sealing moves them into `requests`.
	"CREATE TABLE IF NOT EXISTS pending (
		id {key}, \"user\" TEXT NOT NULL, payer TEXT NOT NULL, model {big} NOT NULL,
		input_tokens {big} NOT NULL, output_tokens {big} NOT NULL,
		cost TEXT NOT NULL, created_at {big} NOT NULL)",
	// Requests charged by an earlier version are in `requests` without a feed number.
	"INSERT INTO pending (\"user\", payer, model, input_tokens, output_tokens, cost, created_at)
		SELECT \"user\", payer, model, input_tokens, output_tokens, cost, created_at
		FROM requests WHERE feed_seq IS NULL ORDER BY id",
	"DELETE FROM requests WHERE feed_seq IS NULL",
	"CREATE TABLE IF NOT EXISTS vouchers (
		\"user\" TEXT NOT NULL, payer TEXT NOT NULL, cap TEXT NOT NULL, expiry {big} NOT NULL,
		signature TEXT NOT NULL, PRIMARY KEY (\"user\", payer))",
	"CREATE TABLE IF NOT EXISTS feed (
		seq {big} PRIMARY KEY, \"user\" TEXT NOT NULL, payer TEXT NOT NULL, model {big} NOT NULL,
		input_tokens {big} NOT NULL, output_tokens {big} NOT NULL, cost TEXT NOT NULL,
		cap TEXT NOT NULL, expiry {big} NOT NULL, signature TEXT NOT NULL)",
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value {big} NOT NULL)",
	// Per user: charged and not attested. Its row is what admissions and charges hold.
	"CREATE TABLE IF NOT EXISTS books (\"user\" TEXT PRIMARY KEY, unsettled TEXT NOT NULL)",
	// Requests in flight, by the instance serving them, until `expires_at` (ms) at the latest.
	"CREATE TABLE IF NOT EXISTS reservations (
		id {id}, \"user\" TEXT NOT NULL, amount TEXT NOT NULL, instance TEXT NOT NULL,
		expires_at {big} NOT NULL)",
	"CREATE INDEX IF NOT EXISTS reservations_by_user ON reservations(\"user\")",
	// Settlement events of the provider, by (block, index in the block): idempotent.
	"CREATE TABLE IF NOT EXISTS chain_events (
		block {big} NOT NULL, idx {big} NOT NULL, \"user\" TEXT NOT NULL, kind TEXT NOT NULL,
		paid TEXT NOT NULL, fee TEXT NOT NULL, unpaid TEXT NOT NULL, entries {big} NOT NULL,
		reason TEXT, PRIMARY KEY (block, idx))",
	"CREATE INDEX IF NOT EXISTS chain_events_by_user ON chain_events(\"user\")",
	// Answers given feedback (crate::feedback), by receipt, and the feedback, by its hash.
	"CREATE TABLE IF NOT EXISTS answers (
		receipt TEXT PRIMARY KEY, request_id TEXT NOT NULL, model {big} NOT NULL,
		\"user\" TEXT NOT NULL, prompt TEXT NOT NULL, output TEXT NOT NULL,
		served_at_ms {big} NOT NULL)",
	"CREATE TABLE IF NOT EXISTS feedback (
		hash TEXT PRIMARY KEY, receipt TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
		created_at {big} NOT NULL)",
	"CREATE INDEX IF NOT EXISTS feedback_by_receipt ON feedback(receipt)",
	// A fleet's rate-limit windows (crate::limits), one per user; unused by one gateway, whose
	// windows are in memory.
	"CREATE TABLE IF NOT EXISTS rate_windows (
		\"user\" TEXT PRIMARY KEY, started_ms {big} NOT NULL, requests {big} NOT NULL,
		tokens {big} NOT NULL, admitted BOOLEAN NOT NULL)",
];

/// A fleet's priority queue (`crate::schedule`, PostgreSQL only): the places with the upstream
/// and the requests waiting for one, of every instance, in one queue ordered by weighted fair
/// queueing. Each operation is one call of a function below, which holds the clock row for the
/// whole of it: instances enter, leave and release one after the other, and a release grants
/// the freed place to the waiting request with the smallest tag, on whichever instance it
/// waits (told by `NOTIFY tokenmeter_queue`, payload `<entry> <instance>`).
///
/// The tables are unlogged: the queue lives only as long as its requests, so a commit does not
/// wait for the write-ahead log, and a database that restarts after a crash starts with an
/// empty queue (the clock row is made again when missing; the instances' requests that were in
/// it are refused at their timeout, and their places are not given back twice).
pub(super) const FLEET_QUEUE: &[&str] = &[
	// A place held (`granted`) or a request waiting for one, until `expires_ms` at the latest
	// (an instance that stops without releasing its places blocks nobody for longer).
	"CREATE UNLOGGED TABLE IF NOT EXISTS queue_places (
		instance TEXT NOT NULL, entry BIGINT NOT NULL,
		arrival BIGINT GENERATED ALWAYS AS IDENTITY, tag DOUBLE PRECISION NOT NULL,
		granted BOOLEAN NOT NULL, expires_ms BIGINT NOT NULL, PRIMARY KEY (instance, entry))",
	"CREATE INDEX IF NOT EXISTS queue_places_waiting ON queue_places (tag, arrival)
		WHERE NOT granted",
	// Per priority weight: the last tag given.
	"CREATE UNLOGGED TABLE IF NOT EXISTS queue_classes (
		weight BIGINT PRIMARY KEY, last_tag DOUBLE PRECISION NOT NULL)",
	// The virtual time, the places held and the requests waiting, fleet-wide; and when
	// expired places were last dropped.
	"CREATE UNLOGGED TABLE IF NOT EXISTS queue_clock (
		one INTEGER PRIMARY KEY CHECK (one = 1), virtual_time DOUBLE PRECISION NOT NULL,
		in_flight BIGINT NOT NULL, queued BIGINT NOT NULL, swept_ms BIGINT NOT NULL)",
	// The clock row, held until the transaction ends (made if missing).
	"CREATE OR REPLACE FUNCTION tokenmeter_queue_clock() RETURNS queue_clock
	LANGUAGE plpgsql AS $$
	DECLARE
		c queue_clock%ROWTYPE;
	BEGIN
		SELECT * INTO c FROM queue_clock WHERE one = 1 FOR UPDATE;
		IF NOT FOUND THEN
			INSERT INTO queue_clock VALUES (1, 0, 0, 0, 0) ON CONFLICT (one) DO NOTHING;
			SELECT * INTO c FROM queue_clock WHERE one = 1 FOR UPDATE;
		END IF;
		RETURN c;
	END $$",
	// Grants free places to the waiting requests with the smallest tags (the caller holds the
	// clock row).
	"CREATE OR REPLACE FUNCTION tokenmeter_queue_grant(p_max BIGINT) RETURNS VOID
	LANGUAGE plpgsql AS $$
	DECLARE
		c queue_clock%ROWTYPE;
		nxt RECORD;
	BEGIN
		SELECT * INTO c FROM queue_clock WHERE one = 1;
		WHILE c.in_flight < p_max AND c.queued > 0 LOOP
			SELECT q.instance, q.entry, q.tag INTO nxt FROM queue_places q
				WHERE NOT q.granted ORDER BY q.tag, q.arrival LIMIT 1;
			EXIT WHEN NOT FOUND;
			UPDATE queue_places SET granted = TRUE
				WHERE instance = nxt.instance AND entry = nxt.entry;
			c.in_flight := c.in_flight + 1;
			c.queued := c.queued - 1;
			c.virtual_time := GREATEST(c.virtual_time, nxt.tag);
			PERFORM pg_notify('tokenmeter_queue', nxt.entry || ' ' || nxt.instance);
		END LOOP;
		UPDATE queue_clock SET in_flight = c.in_flight, queued = c.queued,
			virtual_time = c.virtual_time WHERE one = 1;
	END $$",
	// Drops the places of `p_instance` (if given) and those expired at `p_now`, then grants
	// what they freed.
	"CREATE OR REPLACE FUNCTION tokenmeter_queue_drop(p_instance TEXT, p_now BIGINT, p_max BIGINT)
	RETURNS VOID LANGUAGE plpgsql AS $$
	DECLARE
		held BIGINT;
		waiting BIGINT;
	BEGIN
		PERFORM tokenmeter_queue_clock();
		WITH gone AS (
			DELETE FROM queue_places q
			WHERE q.expires_ms < p_now OR (p_instance IS NOT NULL AND q.instance = p_instance)
			RETURNING q.granted)
		SELECT count(*) FILTER (WHERE g.granted), count(*) FILTER (WHERE NOT g.granted)
			INTO held, waiting FROM gone g;
		UPDATE queue_clock SET in_flight = GREATEST(in_flight - held, 0),
			queued = GREATEST(queued - waiting, 0), swept_ms = p_now WHERE one = 1;
		PERFORM tokenmeter_queue_grant(p_max);
	END $$",
	// A request of `p_weight` enters: 1 if it has a place at once, 0 if it waits, 2 if
	// `p_max_queue` are waiting already (nothing written).
	"CREATE OR REPLACE FUNCTION tokenmeter_queue_enter(p_instance TEXT, p_entry BIGINT,
		p_weight BIGINT, p_max BIGINT, p_max_queue BIGINT, p_hold_ms BIGINT)
	RETURNS INTEGER LANGUAGE plpgsql AS $$
	DECLARE
		now_ms BIGINT := (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT;
		c queue_clock%ROWTYPE;
		w BIGINT := GREATEST(p_weight, 1);
		t DOUBLE PRECISION;
	BEGIN
		c := tokenmeter_queue_clock();
		IF c.swept_ms < now_ms - 1000 THEN
			PERFORM tokenmeter_queue_drop(NULL, now_ms, p_max);
			SELECT * INTO c FROM queue_clock WHERE one = 1;
		END IF;
		IF c.queued = 0 AND c.in_flight < p_max THEN
			INSERT INTO queue_places (instance, entry, tag, granted, expires_ms)
				VALUES (p_instance, p_entry, 0, TRUE, now_ms + p_hold_ms);
			UPDATE queue_clock SET in_flight = in_flight + 1 WHERE one = 1;
			RETURN 1;
		END IF;
		IF c.queued >= p_max_queue THEN
			RETURN 2;
		END IF;
		INSERT INTO queue_classes AS k (weight, last_tag) VALUES (w, c.virtual_time + 1.0 / w)
			ON CONFLICT (weight) DO UPDATE
			SET last_tag = GREATEST(k.last_tag, c.virtual_time) + 1.0 / w
			RETURNING k.last_tag INTO t;
		INSERT INTO queue_places (instance, entry, tag, granted, expires_ms)
			VALUES (p_instance, p_entry, t, FALSE, now_ms + p_hold_ms);
		UPDATE queue_clock SET queued = queued + 1 WHERE one = 1;
		RETURN 0;
	END $$",
	// A waiting request leaves: 0 if it left, 1 if it had been granted a place meanwhile (which
	// it now holds), 2 if it is not there (dropped as expired).
	"CREATE OR REPLACE FUNCTION tokenmeter_queue_leave(p_instance TEXT, p_entry BIGINT)
	RETURNS INTEGER LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM tokenmeter_queue_clock();
		DELETE FROM queue_places q
			WHERE q.instance = p_instance AND q.entry = p_entry AND NOT q.granted;
		IF FOUND THEN
			UPDATE queue_clock SET queued = GREATEST(queued - 1, 0) WHERE one = 1;
			RETURN 0;
		END IF;
		PERFORM 1 FROM queue_places q WHERE q.instance = p_instance AND q.entry = p_entry;
		IF FOUND THEN
			RETURN 1;
		END IF;
		RETURN 2;
	END $$",
	// A place is given back, and granted to the next waiting request.
	"CREATE OR REPLACE FUNCTION tokenmeter_queue_release(p_instance TEXT, p_entry BIGINT,
		p_max BIGINT) RETURNS VOID LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM tokenmeter_queue_clock();
		DELETE FROM queue_places q
			WHERE q.instance = p_instance AND q.entry = p_entry AND q.granted;
		IF FOUND THEN
			UPDATE queue_clock SET in_flight = GREATEST(in_flight - 1, 0) WHERE one = 1;
		END IF;
		PERFORM tokenmeter_queue_grant(p_max);
	END $$",
];

/// Creates the schema in `pool`'s database, or brings an earlier version's up to date.
pub(super) async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
	// `{key}`: a key numbered in order, whose numbers may be used again once deleted.
	let (id, key, big) = match backend {
		Backend::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER PRIMARY KEY", "INTEGER"),
		Backend::Postgres => {
			let identity = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY";
			(identity, identity, "BIGINT")
		}
	};
	let mut tx = match backend {
		Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
		Backend::Postgres => pool.begin().await?,
	};
	if backend == Backend::Postgres {
		// Instances starting together create the schema one after the other.
		sqlx::query("SELECT pg_advisory_xact_lock(7370746)").execute(&mut *tx).await?;
	}
	for statement in SCHEMA {
		let statement = statement.replace("{id}", id).replace("{key}", key).replace("{big}", big);
		sqlx::query(&statement).execute(&mut *tx).await?;
	}
	if backend == Backend::Postgres {
		for statement in FLEET_QUEUE {
			sqlx::raw_sql(statement).execute(&mut *tx).await?;
		}
	}
	// Columns added since the first version: a database of an earlier version gets them
	// (its rows keep none: v1 vouchers without a session, requests without the block they
	// were served at).
	for (table, column, kind) in ADDED_COLUMNS {
		let exists = match backend {
			Backend::Sqlite => "SELECT COUNT(*) FROM pragma_table_info($1) WHERE name = $2",
			Backend::Postgres => {
				"SELECT COUNT(*) FROM information_schema.columns
				 WHERE table_name = $1 AND column_name = $2"
			}
		};
		let found: i64 =
			sqlx::query_scalar(exists).bind(table).bind(column).fetch_one(&mut *tx).await?;
		if found == 0 {
			let kind = kind.replace("{big}", big);
			sqlx::query(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))
				.execute(&mut *tx)
				.await?;
		}
	}
	tx.commit().await
}
