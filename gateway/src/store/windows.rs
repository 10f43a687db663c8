//! Rate-limit windows shared by a fleet (PostgreSQL): one row per user with the start of its
//! current one-minute window and what the window has let through, so that instances behind a
//! load balancer together hold a user to its tier's rate ([`crate::limits`] has the rule and
//! the one-instance version, in memory).
//!
//! Each operation is one statement on the user's row, timed by the database's clock (so the
//! instances' clocks do not matter): an admission counts the request if the window allows it
//! and says whether it did.

use super::*;
use crate::limits::{Limit, Quota};

/// The database's clock, in milliseconds since the Unix epoch.
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT";

fn big(value: u64) -> i64 {
	i64::try_from(value).unwrap_or(i64::MAX)
}

fn reset_secs(started_ms: i64, now_ms: i64, length: Duration) -> u64 {
	let end = started_ms.saturating_add(big(length.as_millis() as u64));
	let left_ms = end.saturating_sub(now_ms).max(0) as u64;
	left_ms.div_ceil(1000).max(1)
}

impl Store {
	/// Counts a request of `user` in its shared window of `length` if `limit` allows it: `Ok`
	/// with the quota left, `Err` with the quota (nothing left) and nothing counted.
	pub async fn admit_in_window(
		&self,
		user: &AccountId32,
		limit: Limit,
		length: Duration,
	) -> Result<Result<Quota, Quota>, StoreError> {
		// A new window (no row, or the last one ended) starts with this request, if the tier
		// lets any through; a current one counts it if it has room for it.
		let statement = format!(
			"INSERT INTO rate_windows AS w (\"user\", started_ms, requests, tokens, admitted)
			 SELECT $1, now.ms, CASE WHEN $3 > 0 AND $4 > 0 THEN 1 ELSE 0 END, 0, $3 > 0 AND $4 > 0
			 FROM (SELECT {NOW_MS} AS ms) AS now
			 ON CONFLICT (\"user\") DO UPDATE SET
				requests = CASE WHEN EXCLUDED.started_ms - w.started_ms >= $2 THEN EXCLUDED.requests
					WHEN w.requests < $3 AND w.tokens < $4 THEN w.requests + 1
					ELSE w.requests END,
				tokens = CASE WHEN EXCLUDED.started_ms - w.started_ms >= $2 THEN 0 ELSE w.tokens END,
				admitted = CASE WHEN EXCLUDED.started_ms - w.started_ms >= $2 THEN EXCLUDED.admitted
					ELSE w.requests < $3 AND w.tokens < $4 END,
				started_ms = CASE WHEN EXCLUDED.started_ms - w.started_ms >= $2
					THEN EXCLUDED.started_ms ELSE w.started_ms END
			 RETURNING started_ms, requests, admitted, {NOW_MS} AS now_ms"
		);
		let row = sqlx::query(&statement)
			.bind(user.to_ss58check())
			.bind(big(length.as_millis() as u64))
			.bind(i64::from(limit.requests_per_minute))
			.bind(big(limit.tokens_per_minute))
			.fetch_one(&self.pool)
			.await?;
		let started: i64 = row.try_get(0)?;
		let requests: i64 = row.try_get(1)?;
		let admitted: bool = row.try_get(2)?;
		let now: i64 = row.try_get(3)?;
		let quota = Quota {
			limit: limit.requests_per_minute,
			remaining: if admitted {
				limit
					.requests_per_minute
					.saturating_sub(u32::try_from(requests).unwrap_or(u32::MAX))
			} else {
				0
			},
			reset_secs: reset_secs(started, now, length),
		};
		Ok(if admitted { Ok(quota) } else { Err(quota) })
	}

	/// Gives back a request counted by [`Self::admit_in_window`] that was not served.
	pub async fn give_back_in_window(&self, user: &AccountId32) -> Result<(), StoreError> {
		sqlx::query(
			"UPDATE rate_windows SET requests = GREATEST(requests - 1, 0) WHERE \"user\" = $1",
		)
		.bind(user.to_ss58check())
		.execute(&self.pool)
		.await?;
		Ok(())
	}

	/// Counts the tokens a served request of `user` was charged for (in a new window if the
	/// request's has ended since).
	pub async fn add_tokens_in_window(
		&self,
		user: &AccountId32,
		tokens: u64,
		length: Duration,
	) -> Result<(), StoreError> {
		let statement = format!(
			"UPDATE rate_windows AS w SET
				tokens = CASE WHEN now.ms - w.started_ms >= $3 THEN $2 ELSE w.tokens + $2 END,
				requests = CASE WHEN now.ms - w.started_ms >= $3 THEN 0 ELSE w.requests END,
				started_ms = CASE WHEN now.ms - w.started_ms >= $3 THEN now.ms ELSE w.started_ms END
			 FROM (SELECT {NOW_MS} AS ms) AS now
			 WHERE w.\"user\" = $1"
		);
		sqlx::query(&statement)
			.bind(user.to_ss58check())
			.bind(big(tokens))
			.bind(big(length.as_millis() as u64))
			.execute(&self.pool)
			.await?;
		Ok(())
	}

	/// Forgets the windows (of `length`) that have ended; returns how many.
	pub async fn prune_windows(&self, length: Duration) -> Result<u64, StoreError> {
		let statement = format!("DELETE FROM rate_windows WHERE started_ms < {NOW_MS} - $1");
		let done = sqlx::query(&statement)
			.bind(big(length.as_millis() as u64))
			.execute(&self.pool)
			.await?;
		Ok(done.rows_affected())
	}
}
