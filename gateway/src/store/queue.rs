//! A fleet's priority queue in the shared database (PostgreSQL): the calls of the functions
//! `schema::FLEET_QUEUE` creates. [`crate::schedule`] has the rule and the one-instance
//! version, in memory.
//!
//! An entry is named by its instance and a number the instance gives it; a grant is announced
//! by `NOTIFY tokenmeter_queue` with the payload `<entry> <instance>`.

use super::*;
use sqlx::postgres::PgListener;

/// The channel grants are announced on.
pub(crate) const GRANTS: &str = "tokenmeter_queue";

/// How a request entered the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entered {
	/// It holds a place with the upstream.
	Granted,
	/// It waits for a place (a grant is announced on `tokenmeter_queue`).
	Waiting,
	/// The queue is full; nothing was written.
	Full,
}

/// How a waiting request left the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
	/// It left without a place.
	Left,
	/// It had been granted a place meanwhile, which it now holds.
	Granted,
	/// It was not there any more (dropped as expired).
	Gone,
}

fn big(value: usize) -> i64 {
	i64::try_from(value).unwrap_or(i64::MAX)
}

impl Store {
	/// Entry `entry` of this instance enters the fleet's queue with priority `weight`: a place
	/// at once if one of `max_in_flight` is free and nobody waits, else a place in the queue
	/// unless `max_queue` wait already.
	pub async fn queue_enter(
		&self,
		entry: i64,
		weight: u32,
		max_in_flight: usize,
		max_queue: usize,
	) -> Result<Entered, StoreError> {
		let outcome: i32 =
			sqlx::query_scalar("SELECT tokenmeter_queue_enter($1, $2, $3, $4, $5, $6)")
				.bind(&self.instance)
				.bind(entry)
				.bind(i64::from(weight))
				.bind(big(max_in_flight))
				.bind(big(max_queue))
				.bind(i64::try_from(self.hold.as_millis()).unwrap_or(i64::MAX))
				.fetch_one(&self.pool)
				.await?;
		Ok(match outcome {
			1 => Entered::Granted,
			0 => Entered::Waiting,
			_ => Entered::Full,
		})
	}

	/// Waiting entry `entry` of this instance leaves the queue (it waited too long, or its
	/// client went away).
	pub async fn queue_leave(&self, entry: i64) -> Result<Left, StoreError> {
		let outcome: i32 = sqlx::query_scalar("SELECT tokenmeter_queue_leave($1, $2)")
			.bind(&self.instance)
			.bind(entry)
			.fetch_one(&self.pool)
			.await?;
		Ok(match outcome {
			0 => Left::Left,
			1 => Left::Granted,
			_ => Left::Gone,
		})
	}

	/// Entry `entry` of this instance gives its place back; the place goes to the waiting
	/// request with the smallest tag, on whichever instance.
	pub async fn queue_release(&self, entry: i64, max_in_flight: usize) -> Result<(), StoreError> {
		sqlx::query("SELECT tokenmeter_queue_release($1, $2, $3)")
			.bind(&self.instance)
			.bind(entry)
			.bind(big(max_in_flight))
			.execute(&self.pool)
			.await?;
		Ok(())
	}

	/// Drops this instance's entries (left from before it started), and grants what they held.
	pub async fn queue_drop_own(&self, max_in_flight: usize) -> Result<(), StoreError> {
		sqlx::query("SELECT tokenmeter_queue_drop($1, 0, $2)")
			.bind(&self.instance)
			.bind(big(max_in_flight))
			.execute(&self.pool)
			.await?;
		Ok(())
	}

	/// Drops the fleet's expired entries (of instances that stopped without giving them back),
	/// and grants the places they held.
	pub async fn queue_sweep(&self, max_in_flight: usize) -> Result<(), StoreError> {
		sqlx::query(
			"SELECT tokenmeter_queue_drop(NULL,
				(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT, $1)",
		)
		.bind(big(max_in_flight))
		.execute(&self.pool)
		.await?;
		Ok(())
	}

	/// This instance's entries that hold a place (to learn of grants whose announcement was
	/// lost).
	pub async fn queue_granted(&self) -> Result<Vec<i64>, StoreError> {
		sqlx::query_scalar("SELECT entry FROM queue_places WHERE instance = $1 AND granted")
			.bind(&self.instance)
			.fetch_all(&self.pool)
			.await
	}

	/// The fleet's places held and requests waiting, as counted and as found in the table
	/// (which the counts must equal).
	pub async fn queue_counts(&self) -> Result<((i64, i64), (i64, i64)), StoreError> {
		// One statement: one snapshot of both.
		let row = sqlx::query(
			"SELECT c.in_flight, c.queued,
				(SELECT COUNT(*) FROM queue_places WHERE granted),
				(SELECT COUNT(*) FROM queue_places WHERE NOT granted)
			 FROM queue_clock c WHERE c.one = 1",
		)
		.fetch_one(&self.pool)
		.await?;
		Ok(((row.try_get(0)?, row.try_get(1)?), (row.try_get(2)?, row.try_get(3)?)))
	}

	/// A connection listening for grants (on `tokenmeter_queue`).
	pub async fn queue_listener(&self) -> Result<PgListener, StoreError> {
		let mut listener = PgListener::connect(&self.url).await?;
		listener.listen(GRANTS).await?;
		Ok(listener)
	}

	/// This instance's name among those sharing the database.
	pub fn instance(&self) -> &str {
		&self.instance
	}
}
