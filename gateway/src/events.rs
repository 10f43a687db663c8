//! Reconciliation: what the chain did with the usage the gateway charged. The gateway reads
//! the events of every finalised block (`System::Events`, decoded with the runtime's own
//! metadata, so no runtime crate is needed and a runtime upgrade is followed) and keeps the
//! credits pallet's settlement events for its provider: `UsageSettled`, `UsageAboveCap`,
//! `UsageRejected` and `SettlementShortfall`.

use codec::Decode;
use frame_metadata::{v14::StorageEntryType, RuntimeMetadata, RuntimeMetadataPrefixed};
use scale_info::PortableRegistry;
use scale_value::{Composite, Primitive, Value, ValueDef};
use sp_runtime::AccountId32;

/// What the chain did with some of the provider's usage, from one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
	/// `UsageSettled`: `charged` from the payer's credits, `from_allowance` from the free
	/// allowance, of which `fee` went to the reward pool and the treasury.
	Settled {
		/// The user.
		user: AccountId32,
		/// Taken from credits.
		charged: u128,
		/// Taken from the free allowance.
		from_allowance: u128,
		/// The protocol fee in `charged`.
		fee: u128,
	},
	/// `UsageAboveCap`: the usage cost more than the voucher allowed; `unpaid` was not paid.
	AboveCap {
		/// The user.
		user: AccountId32,
		/// Cost beyond the voucher's headroom.
		unpaid: u128,
	},
	/// `SettlementShortfall`: the payer had too little credit; `unpaid` was not paid.
	Shortfall {
		/// The user.
		user: AccountId32,
		/// Owed but not paid.
		unpaid: u128,
	},
	/// `UsageRejected`: `entries` entries settled nothing, for `reason`.
	Rejected {
		/// The user.
		user: AccountId32,
		/// How many entries.
		entries: u32,
		/// The `RejectReason` variant's name.
		reason: String,
	},
}

impl Settlement {
	/// The user the event is about.
	pub fn user(&self) -> &AccountId32 {
		match self {
			Settlement::Settled { user, .. }
			| Settlement::AboveCap { user, .. }
			| Settlement::Shortfall { user, .. }
			| Settlement::Rejected { user, .. } => user,
		}
	}
}

/// Decodes `System::Events` with a runtime version's metadata.
pub struct EventDecoder {
	/// The runtime's `spec_version` the metadata belongs to.
	pub spec_version: u32,
	types: PortableRegistry,
	events_type: u32,
}

impl EventDecoder {
	/// Reads the SCALE-encoded metadata (`state_getMetadata`) of `spec_version`.
	pub fn new(metadata: &[u8], spec_version: u32) -> Result<Self, String> {
		let prefixed = RuntimeMetadataPrefixed::decode(&mut &metadata[..])
			.map_err(|e| format!("cannot decode the metadata: {e}"))?;
		let (types, pallets) = match prefixed.1 {
			RuntimeMetadata::V14(m) => {
				(m.types, m.pallets.into_iter().map(|p| (p.name, p.storage)).collect::<Vec<_>>())
			}
			RuntimeMetadata::V15(m) => {
				(m.types, m.pallets.into_iter().map(|p| (p.name, p.storage)).collect::<Vec<_>>())
			}
			_ => return Err("unsupported metadata version (expected 14 or 15)".into()),
		};
		let events_type = pallets
			.into_iter()
			.find(|(name, _)| name == "System")
			.and_then(|(_, storage)| storage)
			.and_then(|storage| storage.entries.into_iter().find(|e| e.name == "Events"))
			.and_then(|entry| match entry.ty {
				StorageEntryType::Plain(ty) => Some(ty.id),
				_ => None,
			})
			.ok_or("the metadata has no System::Events")?;
		Ok(EventDecoder { spec_version, types, events_type })
	}

	/// The settlement events for `provider` in a block's encoded `System::Events`.
	pub fn settlements(
		&self,
		events: &[u8],
		provider: &AccountId32,
	) -> Result<Vec<Settlement>, String> {
		let records =
			scale_value::scale::decode_as_type(&mut &events[..], self.events_type, &self.types)
				.map_err(|e| format!("cannot decode the events: {e}"))?;
		let ValueDef::Composite(records) = records.value else {
			return Err("System::Events is not a sequence".into());
		};
		Ok(records
			.values()
			.filter_map(|record| field(record, "event"))
			.filter_map(|event| pallet_event(event, "InferenceCredits"))
			.filter_map(|(name, fields)| settlement(name, fields, provider))
			.collect())
	}
}

fn field<'a, T>(value: &'a Value<T>, name: &str) -> Option<&'a Value<T>> {
	match &value.value {
		ValueDef::Composite(Composite::Named(fields)) => {
			fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
		}
		_ => None,
	}
}

/// The event's variant name and fields when `event` (a `RuntimeEvent`) is of `pallet`.
fn pallet_event<'a, T>(event: &'a Value<T>, pallet: &str) -> Option<(&'a str, &'a Value<T>)> {
	let ValueDef::Variant(outer) = &event.value else { return None };
	if outer.name != pallet {
		return None;
	}
	let inner = outer.values.values().next()?;
	let ValueDef::Variant(variant) = &inner.value else { return None };
	Some((variant.name.as_str(), inner))
}

fn named<'a, T>(event: &'a Value<T>, name: &str) -> Option<&'a Value<T>> {
	let ValueDef::Variant(variant) = &event.value else { return None };
	match &variant.values {
		Composite::Named(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
		Composite::Unnamed(_) => None,
	}
}

/// The bytes of a value made of `u8`s at any depth (an `AccountId32`).
fn bytes<T>(value: &Value<T>, out: &mut Vec<u8>) -> Option<()> {
	match &value.value {
		ValueDef::Primitive(Primitive::U128(n)) => out.push(u8::try_from(*n).ok()?),
		ValueDef::Composite(c) => {
			for v in c.values() {
				bytes(v, out)?;
			}
		}
		_ => return None,
	}
	Some(())
}

fn account<T>(event: &Value<T>, name: &str) -> Option<AccountId32> {
	let mut out = Vec::with_capacity(32);
	bytes(named(event, name)?, &mut out)?;
	<[u8; 32]>::try_from(out).ok().map(AccountId32::new)
}

fn balance<T>(event: &Value<T>, name: &str) -> Option<u128> {
	named(event, name)?.as_u128()
}

fn settlement<T>(name: &str, event: &Value<T>, provider: &AccountId32) -> Option<Settlement> {
	if account(event, "provider").as_ref() != Some(provider) {
		return None;
	}
	let user = account(event, "user")?;
	Some(match name {
		"UsageSettled" => Settlement::Settled {
			user,
			charged: balance(event, "charged")?,
			from_allowance: balance(event, "from_allowance")?,
			fee: balance(event, "fee")?,
		},
		"UsageAboveCap" => Settlement::AboveCap {
			user,
			unpaid: balance(event, "cost")?.saturating_sub(balance(event, "headroom")?),
		},
		"SettlementShortfall" => Settlement::Shortfall {
			user,
			unpaid: balance(event, "owed")?.saturating_sub(balance(event, "paid")?),
		},
		"UsageRejected" => Settlement::Rejected {
			user,
			entries: u32::try_from(named(event, "entries")?.as_u128()?).ok()?,
			reason: match &named(event, "reason")?.value {
				ValueDef::Variant(reason) => reason.name.clone(),
				_ => return None,
			},
		},
		_ => return None,
	})
}

/// Blocks read per step at most, so a gateway far behind catches up in bounded steps.
const BLOCKS_PER_STEP: u32 = 64;
/// How far behind the finalised head the gateway reads events; older states may be pruned
/// by the node (256 blocks by default), so a gateway further behind skips ahead (and says so).
const MAX_LAG: u32 = 200;

/// Follows the finalised blocks' settlement events into the store and the metrics.
pub struct Reconciler {
	node: crate::chain::Node,
	store: crate::store::Store,
	provider: AccountId32,
	metrics: crate::metrics::Metrics,
	decoder: Option<EventDecoder>,
}

impl Reconciler {
	/// A reconciler of `provider`'s settlements.
	pub fn new(
		node: crate::chain::Node,
		store: crate::store::Store,
		provider: AccountId32,
		metrics: crate::metrics::Metrics,
	) -> Self {
		Reconciler { node, store, provider, metrics, decoder: None }
	}

	/// Reads the events of the next finalised blocks not read yet (at most
	/// `BLOCKS_PER_STEP`, 64); returns the last block read. The first run starts at the
	/// finalised head: what the chain settled before the gateway's first start is not its.
	pub async fn step(&mut self) -> Result<Option<u32>, String> {
		let finalized = self.node.finalized().await.map_err(|e| e.to_string())?;
		let head = self.node.number(finalized).await.map_err(|e| e.to_string())?;
		let mut through = match self.store.reconciled_through().await.map_err(|e| e.to_string())? {
			Some(through) => through,
			None => {
				self.store.record_settlements(head, &[]).await.map_err(|e| e.to_string())?;
				return Ok(Some(head));
			}
		};
		if head.saturating_sub(through) > MAX_LAG {
			let skip_to = head.saturating_sub(MAX_LAG);
			tracing::warn!(
				from = through,
				to = skip_to,
				"reconciliation fell behind the node's pruning window; skipping blocks"
			);
			self.metrics
				.reconcile_skipped_blocks
				.inc_by(u64::from(skip_to.saturating_sub(through)));
			through = skip_to;
		}
		let last = head.min(through.saturating_add(BLOCKS_PER_STEP));
		for number in through.saturating_add(1)..=last {
			let hash = self.node.block_hash(number).await.map_err(|e| e.to_string())?;
			let spec_version = self.node.spec_version(hash).await.map_err(|e| e.to_string())?;
			if self.decoder.as_ref().map(|d| d.spec_version) != Some(spec_version) {
				let metadata = self.node.metadata(hash).await.map_err(|e| e.to_string())?;
				self.decoder = Some(EventDecoder::new(&metadata, spec_version)?);
			}
			let events = self.node.events(hash).await.map_err(|e| e.to_string())?;
			let settlements = match &self.decoder {
				Some(decoder) => decoder.settlements(&events, &self.provider)?,
				None => Vec::new(),
			};
			self.store.record_settlements(number, &settlements).await.map_err(|e| e.to_string())?;
			for settlement in &settlements {
				self.metrics.settlement(settlement);
			}
			self.metrics.reconciled_block.set(f64::from(number));
		}
		Ok(Some(last))
	}

	/// Runs [`Reconciler::step`] every `interval`, logging failures (retried the next time).
	pub async fn run(mut self, interval: std::time::Duration) {
		let mut ticker = tokio::time::interval(interval);
		ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
		loop {
			ticker.tick().await;
			if let Err(error) = self.step().await {
				tracing::warn!(%error, "cannot read the chain's settlement events; retrying");
			}
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use codec::Encode;
	use scale_info::{meta_type, Registry, TypeInfo};

	#[derive(Encode, TypeInfo)]
	struct Account([u8; 32]);

	#[derive(Encode, TypeInfo)]
	enum Reason {
		#[allow(dead_code)]
		UnknownModel,
		BadSignature,
	}

	#[derive(Encode, TypeInfo)]
	enum CreditsEvent {
		UsageSettled {
			provider: Account,
			user: Account,
			payer: Account,
			charged: u128,
			from_allowance: u128,
			fee: u128,
			settled_total: u128,
			cap: u128,
		},
		UsageRejected {
			provider: Account,
			user: Account,
			entries: u32,
			reason: Reason,
		},
		UsageAboveCap {
			provider: Account,
			user: Account,
			cost: u128,
			headroom: u128,
		},
		SettlementShortfall {
			provider: Account,
			user: Account,
			payer: Account,
			owed: u128,
			paid: u128,
		},
	}

	#[derive(Encode, TypeInfo)]
	enum RuntimeEvent {
		#[codec(index = 0)]
		System(u8),
		#[codec(index = 9)]
		InferenceCredits(CreditsEvent),
	}

	#[derive(Encode, TypeInfo)]
	struct EventRecord {
		phase: u8,
		event: RuntimeEvent,
		topics: Vec<[u8; 32]>,
	}

	fn decoder() -> EventDecoder {
		let mut registry = Registry::new();
		let id = registry.register_type(&meta_type::<Vec<EventRecord>>()).id;
		EventDecoder { spec_version: 1, types: registry.into(), events_type: id }
	}

	fn record(event: RuntimeEvent) -> EventRecord {
		EventRecord { phase: 0, event, topics: vec![] }
	}

	#[test]
	fn settlement_events_of_the_provider_are_read_and_others_skipped() {
		let (ours, theirs, user) = ([1u8; 32], [2u8; 32], [3u8; 32]);
		let events = vec![
			record(RuntimeEvent::System(7)),
			record(RuntimeEvent::InferenceCredits(CreditsEvent::UsageSettled {
				provider: Account(ours),
				user: Account(user),
				payer: Account(user),
				charged: 1_000,
				from_allowance: 20,
				fee: 50,
				settled_total: 1_020,
				cap: 5_000,
			})),
			record(RuntimeEvent::InferenceCredits(CreditsEvent::UsageSettled {
				provider: Account(theirs),
				user: Account(user),
				payer: Account(user),
				charged: 9,
				from_allowance: 0,
				fee: 0,
				settled_total: 9,
				cap: 9,
			})),
			record(RuntimeEvent::InferenceCredits(CreditsEvent::UsageAboveCap {
				provider: Account(ours),
				user: Account(user),
				cost: 700,
				headroom: 300,
			})),
			record(RuntimeEvent::InferenceCredits(CreditsEvent::SettlementShortfall {
				provider: Account(ours),
				user: Account(user),
				payer: Account(user),
				owed: 300,
				paid: 100,
			})),
			record(RuntimeEvent::InferenceCredits(CreditsEvent::UsageRejected {
				provider: Account(ours),
				user: Account(user),
				entries: 2,
				reason: Reason::BadSignature,
			})),
		];
		let user = AccountId32::new(user);
		let found = decoder().settlements(&events.encode(), &AccountId32::new(ours)).unwrap();
		assert_eq!(
			found,
			vec![
				Settlement::Settled {
					user: user.clone(),
					charged: 1_000,
					from_allowance: 20,
					fee: 50
				},
				Settlement::AboveCap { user: user.clone(), unpaid: 400 },
				Settlement::Shortfall { user: user.clone(), unpaid: 200 },
				Settlement::Rejected { user, entries: 2, reason: "BadSignature".into() },
			]
		);
	}

	#[test]
	fn undecodable_events_are_an_error_not_an_empty_block() {
		assert!(decoder().settlements(&[4, 1, 2], &AccountId32::new([1; 32])).is_err());
	}

	#[test]
	fn metadata_without_system_events_is_refused() {
		assert!(EventDecoder::new(&[1, 2, 3], 1).is_err());
	}
}
