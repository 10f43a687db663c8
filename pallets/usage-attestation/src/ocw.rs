//! The off-chain worker of an operator node: reads the provider's usage feed and submits as
//! many attestations per run as one block takes, signed by the operator key in the node's
//! keystore.
//!
//! Per block, for each key of type [`crate::KEY_TYPE`] in the keystore that is a registered
//! operator (one key per provider):
//! 1. take the operator's lock in the node's persistent off-chain storage (two workers of
//!    blocks imported close together never run at once);
//! 2. skip if an attestation it submitted earlier has not been included yet and is younger
//!    than [`RESUBMIT_AFTER`] blocks (re-orgs and slow blocks never double-submit);
//! 3. `GET <feed>/usage?after=<last attested seq>&limit=<MaxEntries × MAX_BATCHES_PER_RUN>`
//!    with a deadline;
//! 4. take the records that continue the sequence, up to the first that cannot be read and as
//!    many as fit the operator's remaining capacity this epoch (read on chain; the rest wait
//!    for a later epoch), cut them into batches of at most `MaxEntries` and submit one
//!    `attest` per batch, signed by the operator key with consecutive nonces, in sequence
//!    order, as many as one block includes: a block author includes a transaction while its
//!    declared weight fits what the ones before it left after their refunds, so each batch is
//!    counted at the weight it is expected to take ([`Pallet::expected_attest_weight`]) and
//!    the last is cut to the records whose declared weight still fits
//!    ([`Pallet::block_takes`]). Each batch starts where the one before ends; if the pool refuses one, the ones after it are not submitted. The chain checks
//!    the sequence (`first_seq = LastSeq + 1`), so a batch included out of turn or twice
//!    fails and settles nothing.
//!
//! A feed that is down, slow or returns bad JSON is logged, counted and retried at the next
//! block; nothing panics. The counters live in the node's off-chain storage under the keys
//! below, where the node exports them as Prometheus metrics.

use crate::{pallet::*, EntryOf, SettleUsage as _, UsageTokens, WeightInfo as _};
use alloc::{collections::BTreeSet, format, string::String, vec::Vec};
use codec::Encode;
use frame_support::{
	dispatch::DispatchClass,
	pallet_prelude::{BoundedVec, Weight},
	traits::Get,
};
use frame_system::{
	offchain::{Account, SendSignedTransaction, Signer},
	pallet_prelude::BlockNumberFor,
};
use serde_json::Value;
use sp_runtime::{
	offchain::{
		http,
		storage::StorageValueRef,
		storage_lock::{BlockAndTime, StorageLock},
		Duration, StorageKind,
	},
	traits::Saturating,
	Perbill,
};

/// Key of the feed's base URL in the node's persistent off-chain storage (raw UTF-8). The
/// node's `--usage-feed <url>` flag writes it.
pub const FEED_URL_KEY: &[u8] = b"tokenmeter::usage-feed";
/// Counter (little-endian `u64`): attestations submitted to the transaction pool.
pub const SUBMITTED_KEY: &[u8] = b"tokenmeter::usage-attestation::submitted";
/// Counter (little-endian `u64`): records in the attestations submitted.
pub const RECORDS_KEY: &[u8] = b"tokenmeter::usage-attestation::records";

/// Why a run of the worker attested nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Failure {
	/// The feed did not answer `200 OK` in time.
	Unreachable,
	/// The feed's answer is not JSON records that continue the sequence.
	Invalid,
	/// The transaction pool refused the attestation (or the key could not sign).
	Submit,
}

impl Failure {
	/// Every failure, in the order the node lists them.
	pub const ALL: [Failure; 3] = [Failure::Unreachable, Failure::Invalid, Failure::Submit];

	/// The metric label.
	pub fn label(self) -> &'static str {
		match self {
			Failure::Unreachable => "unreachable",
			Failure::Invalid => "invalid",
			Failure::Submit => "submit",
		}
	}

	/// The key of its counter (little-endian `u64`) in persistent off-chain storage.
	pub fn counter_key(self) -> Vec<u8> {
		format!("tokenmeter::usage-attestation::failed::{}", self.label()).into_bytes()
	}
}

/// What one run of the worker submits.
enum Batch<Entry> {
	/// Records that continue the sequence (possibly none).
	Entries(Vec<Entry>),
	/// The next record cannot be read: it is declared void, for this reason.
	Void(crate::VoidReason),
}

/// How long the worker waits for the feed.
pub const FETCH_TIMEOUT_MS: u64 = 5_000;
/// The largest feed answer the worker reads (a record takes about 650 bytes).
pub const MAX_FEED_BYTES: usize = 8 << 20;
/// The most attestations one run of the worker submits, whatever the block's weight allows
/// (with `MaxEntries` of 256, 3,072 records: about 2 MB of feed).
pub const MAX_BATCHES_PER_RUN: u32 = 12;
/// The share of the block's normal class a run leaves for what the worker does not count:
/// each transaction's extensions (nonce, fee: a fraction of a millisecond each) and other
/// transactions. Without it, the run's last batch, cut to the room exactly, misses the block
/// and the next run waits a block for it.
pub const BLOCK_MARGIN: Perbill = Perbill::from_percent(1);
/// Blocks after which an attestation submitted but not included is submitted again.
pub const RESUBMIT_AFTER: u32 = 10;
/// How long an operator's lock holds at most: blocks, and milliseconds.
const LOCK_BLOCKS: u32 = 5;
const LOCK_MS: u64 = 2 * FETCH_TIMEOUT_MS;

pub use tokenmeter_primitives::feed::{decode_hex, FeedRecord};

/// Why a record larger than the provider's whole epoch capacity is declared void.
pub const VOID_TOO_LARGE: &[u8] = b"exceeds the epoch capacity";

/// Turns feed records into the settlement's entries (the runtime knows accounts, signatures
/// and the voucher's chain).
pub trait FeedEntry<AccountId, Entry> {
	/// The entry of `record` for `provider`'s usage, or why it cannot be read.
	fn entry(provider: &AccountId, record: FeedRecord) -> Result<Entry, &'static str>;
}

/// Adds one to a counter in persistent off-chain storage.
fn bump(key: &[u8], by: u64) {
	let value = StorageValueRef::persistent(key);
	let _ =
		value.mutate::<u64, (), _>(|old| Ok(old.ok().flatten().unwrap_or(0).saturating_add(by)));
}

/// Where an operator's pending attestation and lock live in off-chain storage.
fn operator_key<AccountId: Encode>(what: &str, operator: &AccountId) -> Vec<u8> {
	let mut key = format!("tokenmeter::usage-attestation::{what}::").into_bytes();
	operator.encode_to(&mut key);
	key
}

impl<T: Config> Pallet<T> {
	/// The worker's run at block `now` (see the module's docs).
	pub fn offchain_attest(now: BlockNumberFor<T>) {
		let Some(feed) = sp_io::offchain::local_storage_get(StorageKind::PERSISTENT, FEED_URL_KEY)
		else {
			return;
		};
		let Ok(feed) = String::from_utf8(feed) else {
			log::warn!(target: "usage-attestation", "the usage feed URL is not UTF-8");
			return;
		};
		let mut providers = BTreeSet::new();
		for account in Signer::<T, T::OperatorKey>::keystore_accounts() {
			let Some(operator) = Operators::<T>::get(&account.id) else { continue };
			// One attestation per provider and block: a second key of the same provider
			// would only attest the same records again.
			if providers.insert(operator.provider.clone()) {
				Self::attest_from_feed(now, &feed, &account, operator.provider);
			}
		}
	}

	fn attest_from_feed(
		now: BlockNumberFor<T>,
		feed: &str,
		account: &Account<T>,
		provider: T::AccountId,
	) {
		let lock_key = operator_key("lock", &account.id);
		let mut lock =
			StorageLock::<BlockAndTime<frame_system::Pallet<T>>>::with_block_and_time_deadline(
				&lock_key,
				LOCK_BLOCKS,
				Duration::from_millis(LOCK_MS),
			);
		let Ok(_guard) = lock.try_lock() else {
			log::debug!(target: "usage-attestation", "another run holds the lock");
			return;
		};

		let last = LastSeq::<T>::get(&provider);
		let pending_key = operator_key("pending", &account.id);
		let pending = StorageValueRef::persistent(&pending_key);
		if let Ok(Some((up_to, at))) = pending.get::<(u64, BlockNumberFor<T>)>() {
			if up_to > last && now < at.saturating_add(RESUBMIT_AFTER.into()) {
				log::debug!(
					target: "usage-attestation",
					"records {}..={up_to} submitted at block {at:?}, waiting for inclusion",
					last.saturating_add(1),
				);
				return;
			}
		}

		let limit = T::MaxEntries::get().saturating_mul(MAX_BATCHES_PER_RUN);
		let records = match Self::fetch(feed, last, limit) {
			Ok(records) => records,
			Err(failure) => {
				bump(&failure.counter_key(), 1);
				return;
			}
		};
		let signer = Signer::<T, T::OperatorKey>::all_accounts()
			.with_filter(alloc::vec![account.public.clone()]);
		// Batch after batch, each starting where the one before ends, within the capacity
		// left after the ones before. The signer gives each transaction of this run the next
		// nonce, so the pool orders them as they are submitted.
		let mut capacity = Self::remaining_capacity(&account.id, &provider);
		let mut up_to = last;
		// What the batches sent so far are expected to use of the block.
		let mut expected = Weight::zero();
		let mut last_batch = false;
		for sent in 0..MAX_BATCHES_PER_RUN {
			if last_batch {
				break;
			}
			let batch = match Self::batch(&provider, up_to, &records, capacity) {
				Ok(batch) => batch,
				Err(failure) => {
					bump(&failure.counter_key(), 1);
					break;
				}
			};
			let first = up_to.saturating_add(1);
			let (results, count, tokens) = match batch {
				Batch::Entries(mut entries) => {
					// After the first, a batch is cut to what the block still takes, and the
					// run ends with a batch that had to be cut.
					if sent > 0 {
						let whole = entries.len();
						let takes = (1..=whole)
							.rev()
							.find(|n| Self::block_takes(expected, *n as u32))
							.unwrap_or(0);
						entries.truncate(takes);
						last_batch = takes < whole;
					}
					let count = entries.len() as u64;
					if count == 0 {
						break;
					}
					let tokens = entries.iter().map(|e| e.tokens()).fold(0u64, u64::saturating_add);
					expected.saturating_accrue(Self::expected_attest_weight(&provider, &entries));
					let Ok(entries) = BoundedVec::<EntryOf<T>, T::MaxEntries>::try_from(entries)
					else {
						break;
					};
					let results = signer.send_signed_transaction(|_| Call::attest {
						provider: provider.clone(),
						first_seq: first,
						entries: entries.clone(),
					});
					(results, count, tokens)
				}
				Batch::Void(reason) => {
					log::warn!(
						target: "usage-attestation",
						"usage record {first} cannot be read ({}): declaring it void",
						String::from_utf8_lossy(&reason),
					);
					let base = T::BlockWeights::get().get(DispatchClass::Normal).base_extrinsic;
					expected.saturating_accrue(T::WeightInfo::void_record().saturating_add(base));
					let results = signer.send_signed_transaction(|_| Call::void_record {
						provider: provider.clone(),
						seq: first,
						reason: reason.clone(),
					});
					(results, 1, 0)
				}
			};
			if !results.iter().any(|(_, result)| result.is_ok()) {
				log::warn!(target: "usage-attestation", "the transaction pool refused the attestation");
				bump(&Failure::Submit.counter_key(), 1);
				break;
			}
			up_to = up_to.saturating_add(count);
			capacity = capacity.saturating_sub(tokens);
			bump(SUBMITTED_KEY, 1);
			bump(RECORDS_KEY, count);
			log::info!(target: "usage-attestation", "submitted records {first}..={up_to}");
		}
		if up_to > last {
			pending.set(&(up_to, now));
		}
	}

	/// Whether a block in which attestations expected to weigh `expected` were included
	/// still takes an attestation of `entries` records: a block author includes a transaction
	/// while its declared weight fits the room the ones before it left after their refunds.
	/// The room is the block's normal class less [`BLOCK_MARGIN`].
	pub fn block_takes(expected: Weight, entries: u32) -> bool {
		let weights = T::BlockWeights::get();
		let normal = weights.get(DispatchClass::Normal);
		let whole = normal.max_total.unwrap_or(weights.max_block);
		// A fraction of a weight is never more than the weight.
		#[allow(clippy::arithmetic_side_effects)]
		let margin = BLOCK_MARGIN * whole;
		let room = whole.saturating_sub(margin);
		let declared = Self::attest_weight(entries).saturating_add(normal.base_extrinsic);
		expected.saturating_add(declared).all_lte(room)
	}

	/// What an attestation of `entries` is expected to weigh if included now, with the
	/// transaction's base: its own work and the settlement's expected weight (no signature
	/// check for a voucher the chain accepted before), never more than it declares.
	pub fn expected_attest_weight(provider: &T::AccountId, entries: &[EntryOf<T>]) -> Weight {
		let count = u32::try_from(entries.len()).unwrap_or(u32::MAX);
		let base = T::BlockWeights::get().get(DispatchClass::Normal).base_extrinsic;
		T::WeightInfo::attest(count)
			.saturating_add(T::Settlement::expected_weight(provider, entries))
			.min(Self::attest_weight(count))
			.saturating_add(base)
	}

	/// The feed's records after `last`.
	fn fetch(feed: &str, last: u64, limit: u32) -> Result<Vec<Value>, Failure> {
		let url = format!("{}/usage?after={last}&limit={limit}", feed.trim_end_matches('/'));
		let deadline = sp_io::offchain::timestamp().add(Duration::from_millis(FETCH_TIMEOUT_MS));
		let unreachable = |why: &str| {
			log::warn!(target: "usage-attestation", "usage feed {url}: {why}");
			Failure::Unreachable
		};
		let request = http::Request::get(&url)
			.deadline(deadline)
			.send()
			.map_err(|_| unreachable("the request could not be sent"))?;
		let response = request
			.try_wait(deadline)
			.map_err(|_| unreachable("no answer before the deadline"))?
			.map_err(|_| unreachable("the request failed"))?;
		if response.code != 200 {
			return Err(unreachable(&format!("HTTP status {}", response.code)));
		}
		let mut body = response.body();
		// The body has the request's deadline too: a feed that sends its headers and then
		// drips or stalls its body does not hold the worker past it.
		body.deadline(deadline);
		let bytes: Vec<u8> = body.by_ref().take(MAX_FEED_BYTES.saturating_add(1)).collect();
		if body.error().is_some() {
			return Err(unreachable("reading the answer failed"));
		}
		if bytes.len() > MAX_FEED_BYTES {
			log::warn!(target: "usage-attestation", "usage feed {url}: answer over {MAX_FEED_BYTES} bytes");
			return Err(Failure::Invalid);
		}
		match serde_json::from_slice::<Value>(&bytes) {
			Ok(Value::Array(records)) => Ok(records),
			_ => {
				log::warn!(target: "usage-attestation", "usage feed {url}: not a JSON array");
				Err(Failure::Invalid)
			}
		}
	}

	/// The entries of the records that continue the sequence after `last`: at most
	/// `MaxEntries`, up to the first record that cannot be read, and no more tokens than
	/// `capacity`. Records at or before `last` are skipped; none after it, or none that fits
	/// the capacity, is not a failure. When the very next record (its `seq` readable) cannot
	/// be read, it is to be declared void.
	fn batch(
		provider: &T::AccountId,
		last: u64,
		records: &[Value],
		capacity: u64,
	) -> Result<Batch<EntryOf<T>>, Failure> {
		let mut tokens = 0u64;
		let mut entries = Vec::new();
		let mut next = last.saturating_add(1);
		let max = T::MaxEntries::get() as usize;
		// Whether the feed has records after `last` at all.
		let mut newer = false;
		for value in records {
			if entries.len() >= max {
				break;
			}
			let read = FeedRecord::from_json(value);
			let seq = value.get("seq").and_then(Value::as_u64);
			if seq.is_some_and(|seq| seq < next) {
				continue;
			}
			if let Ok(record) = &read {
				newer = true;
				if record.seq > next {
					log::warn!(
						target: "usage-attestation",
						"the usage feed skips from seq {next} to {}", record.seq,
					);
					break;
				}
			}
			match read.and_then(|record| T::FeedEntries::entry(provider, record)) {
				// A record larger than the provider's whole epoch capacity never fits any
				// epoch: it would hold up every record after it for good. It is declared void
				// (the provider raises its capacity first if the usage is real).
				Ok(entry)
					if entries.is_empty() && entry.tokens() > Capacities::<T>::get(provider) =>
				{
					log::warn!(
						target: "usage-attestation",
						"usage record {next} ({} tokens) exceeds the epoch capacity: declaring it void",
						entry.tokens(),
					);
					return Ok(Batch::Void(VOID_TOO_LARGE.to_vec().try_into().unwrap_or_default()));
				}
				Ok(entry) => {
					tokens.saturating_accrue(entry.tokens());
					if tokens > capacity {
						log::info!(
							target: "usage-attestation",
							"usage record {next} and later wait for capacity in a later epoch",
						);
						return Ok(Batch::Entries(entries));
					}
					entries.push(entry);
					next.saturating_inc();
				}
				Err(field) => {
					newer = true;
					log::warn!(
						target: "usage-attestation",
						"usage record {next} cannot be read: {field}",
					);
					if entries.is_empty() && seq == Some(next) {
						let reason = field.as_bytes().iter().copied().take(64).collect::<Vec<_>>();
						return Ok(Batch::Void(reason.try_into().unwrap_or_default()));
					}
					break;
				}
			}
		}
		// Records exist after `last`, but none could be attested.
		if entries.is_empty() && newer {
			return Err(Failure::Invalid);
		}
		Ok(Batch::Entries(entries))
	}
}
