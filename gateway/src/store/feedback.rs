//! Feedback about served answers (crate::feedback): the answer and the posted content, kept
//! for the provider and served to validators by the content's hash.

use super::*;
use crate::feedback::{Answer, Posted, MAX_FEEDBACK_PER_ANSWER};

/// What became of a posted feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
	/// Stored.
	Stored,
	/// The same content was stored before (nothing changed).
	Known,
	/// The answer has [`MAX_FEEDBACK_PER_ANSWER`] already (nothing changed).
	TooMany,
}

/// A stored feedback: its kind, the exact text posted, the answer it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFeedback {
	/// One of `crate::feedback::KINDS`.
	pub kind: String,
	/// The exact text posted (its blake2_256 is the hash it is kept by).
	pub payload: String,
	/// The answer.
	pub answer: Answer,
}

impl Store {
	/// Stores `posted` about `answer` (and the answer, once), in one transaction.
	pub async fn add_feedback(
		&self,
		answer: &Answer,
		posted: &Posted,
	) -> Result<Added, StoreError> {
		let mut tx = match self.backend {
			Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
			Backend::Postgres => self.pool.begin().await?,
		};
		if self.backend == Backend::Postgres {
			// Posts about one answer one after the other (the count below holds).
			sqlx::query("SELECT pg_advisory_xact_lock(7370747)").execute(&mut *tx).await?;
		}
		let known: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM feedback WHERE hash = $1")
			.bind(&posted.hash)
			.fetch_one(&mut *tx)
			.await?;
		if known > 0 {
			return Ok(Added::Known);
		}
		let given: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM feedback WHERE receipt = $1")
			.bind(&answer.receipt)
			.fetch_one(&mut *tx)
			.await?;
		if given >= i64::from(MAX_FEEDBACK_PER_ANSWER) {
			return Ok(Added::TooMany);
		}
		if given == 0 {
			sqlx::query(
				"INSERT INTO answers (receipt, request_id, model, \"user\", prompt, output, served_at_ms)
				 VALUES ($1, $2, $3, $4, $5, $6, $7)
				 ON CONFLICT (receipt) DO NOTHING",
			)
			.bind(&answer.receipt)
			.bind(&answer.request_id)
			.bind(i64::from(answer.model))
			.bind(&answer.user)
			.bind(&answer.prompt)
			.bind(&answer.output)
			.bind(answer.served_at_ms)
			.execute(&mut *tx)
			.await?;
		}
		sqlx::query(
			"INSERT INTO feedback (hash, receipt, kind, payload, created_at) VALUES ($1, $2, $3, $4, $5)",
		)
		.bind(&posted.hash)
		.bind(&answer.receipt)
		.bind(&posted.kind)
		.bind(&posted.text)
		.bind(now_ms())
		.execute(&mut *tx)
		.await?;
		tx.commit().await?;
		Ok(Added::Stored)
	}

	/// The feedback kept by `hash` (`0x…`, lower case), with its answer.
	pub async fn feedback(&self, hash: &str) -> Result<Option<StoredFeedback>, StoreError> {
		let row = sqlx::query(
			"SELECT f.kind, f.payload, a.receipt, a.request_id, a.model, a.\"user\", a.prompt,
			        a.output, a.served_at_ms
			 FROM feedback f JOIN answers a ON a.receipt = f.receipt WHERE f.hash = $1",
		)
		.bind(hash)
		.fetch_optional(&self.pool)
		.await?;
		let Some(row) = row else { return Ok(None) };
		Ok(Some(StoredFeedback {
			kind: row.try_get(0)?,
			payload: row.try_get(1)?,
			answer: Answer {
				receipt: row.try_get(2)?,
				request_id: row.try_get(3)?,
				model: u32::try_from(row.try_get::<i64, _>(4)?)
					.map_err(|_| StoreError::Protocol("bad model id".into()))?,
				user: row.try_get(5)?,
				prompt: row.try_get(6)?,
				output: row.try_get(7)?,
				served_at_ms: row.try_get(8)?,
			},
		}))
	}
}
