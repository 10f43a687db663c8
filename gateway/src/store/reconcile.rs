//! Reconciliation: the chain's settlement events per user, and what each user was served,
//! charged and had attested.

use super::*;

/// What the chain did with a user's usage, from the settlement events the gateway has read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainTotals {
	/// Paid to the provider's side: credits charged plus free allowance used (fees included).
	pub settled: u128,
	/// Of which the protocol fee.
	pub fees: u128,
	/// Not paid because the usage went beyond the voucher's cap.
	pub above_cap: u128,
	/// Not paid because the payer had too little credit.
	pub shortfall: u128,
	/// Entries the chain rejected, by reason.
	pub rejected: BTreeMap<String, u64>,
}

impl Store {
	/// The last finalised block whose events were read, if any.
	pub async fn reconciled_through(&self) -> Result<Option<u32>, StoreError> {
		Ok(sqlx::query("SELECT value FROM meta WHERE key = $1")
			.bind(RECONCILED_THROUGH)
			.fetch_optional(&self.pool)
			.await?
			.map(|row| row.get::<i64, _>("value") as u32))
	}

	/// Records block `block`'s settlement events and that the block was read, together.
	pub async fn record_settlements(
		&self,
		block: u32,
		settlements: &[crate::events::Settlement],
	) -> Result<(), StoreError> {
		let (store, settlements) = (self.clone(), settlements.to_vec());
		self.run(move |tx| {
			Box::pin(async move { store.record_settlements_in(tx, block, &settlements).await })
		})
		.await
	}

	pub(super) async fn record_settlements_in(
		&self,
		tx: &mut AnyConnection,
		block: u32,
		settlements: &[crate::events::Settlement],
	) -> Result<(), StoreError> {
		use crate::events::Settlement;
		for (idx, settlement) in settlements.iter().enumerate() {
			let (kind, paid, fee, unpaid, entries, reason) = match settlement {
				Settlement::Settled { charged, from_allowance, fee, .. } => {
					("settled", charged.saturating_add(*from_allowance), *fee, 0, 0, None)
				}
				Settlement::AboveCap { unpaid, .. } => ("aboveCap", 0, 0, *unpaid, 0, None),
				Settlement::Shortfall { unpaid, .. } => ("shortfall", 0, 0, *unpaid, 0, None),
				Settlement::Rejected { entries, reason, .. } => {
					("rejected", 0, 0, 0, *entries, Some(reason.as_str()))
				}
			};
			sqlx::query(
				"INSERT INTO chain_events
				 (block, idx, \"user\", kind, paid, fee, unpaid, entries, reason)
				 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (block, idx) DO NOTHING",
			)
			.bind(i64::from(block))
			.bind(idx as i64)
			.bind(settlement.user().to_ss58check())
			.bind(kind)
			.bind(paid.to_string())
			.bind(fee.to_string())
			.bind(unpaid.to_string())
			.bind(i64::from(entries))
			.bind(reason)
			.execute(&mut *tx)
			.await?;
		}
		sqlx::query(
			"INSERT INTO meta (key, value) VALUES ($1, $2)
			 ON CONFLICT (key) DO UPDATE SET value = $2",
		)
		.bind(RECONCILED_THROUGH)
		.bind(i64::from(block))
		.execute(&mut *tx)
		.await?;
		Ok(())
	}

	/// What the chain did with `user`'s usage.
	pub async fn chain_totals(&self, user: &AccountId32) -> Result<ChainTotals, StoreError> {
		let mut totals = ChainTotals::default();
		for row in sqlx::query(
			"SELECT kind, paid, fee, unpaid, entries, reason FROM chain_events WHERE \"user\" = $1",
		)
		.bind(user.to_ss58check())
		.fetch_all(&self.pool)
		.await?
		{
			let unpaid = amount(row.get("unpaid"))?;
			match row.get::<&str, _>("kind") {
				"aboveCap" => totals.above_cap = totals.above_cap.saturating_add(unpaid),
				"shortfall" => totals.shortfall = totals.shortfall.saturating_add(unpaid),
				"rejected" => {
					let reason = row.get::<Option<String>, _>("reason").unwrap_or_default();
					*totals.rejected.entry(reason).or_default() +=
						row.get::<i64, _>("entries") as u64;
				}
				_ => {
					totals.settled = totals.settled.saturating_add(amount(row.get("paid"))?);
					totals.fees = totals.fees.saturating_add(amount(row.get("fee"))?);
				}
			}
		}
		Ok(totals)
	}

	/// Totals of `user`, with charges in feed records up to `attested_seq` counted as attested.
	pub async fn user_totals(
		&self,
		user: &AccountId32,
		attested_seq: u64,
	) -> Result<UserTotals, StoreError> {
		self.flush().await?;
		let mut totals = UserTotals::default();
		// One statement: one snapshot, whatever a seal moves meanwhile.
		for row in sqlx::query(
			"SELECT input_tokens, output_tokens, cost, feed_seq FROM requests WHERE \"user\" = $1
			 UNION ALL
			 SELECT input_tokens, output_tokens, cost, NULL FROM pending WHERE \"user\" = $1",
		)
		.bind(user.to_ss58check())
		.fetch_all(&self.pool)
		.await?
		{
			let cost = amount(row.get("cost"))?;
			totals.requests += 1;
			totals.input_tokens += row.get::<i64, _>("input_tokens") as u64;
			totals.output_tokens += row.get::<i64, _>("output_tokens") as u64;
			totals.charged = totals.charged.saturating_add(cost);
			if row.get::<Option<i64>, _>("feed_seq").is_some_and(|s| s as u64 <= attested_seq) {
				totals.attested = totals.attested.saturating_add(cost);
			}
		}
		Ok(totals)
	}
}
