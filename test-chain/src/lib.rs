//! # A chain in memory, for tests
//!
//! One harness for the runtime's integration tests (`runtime/tests/`) and the fuzzer
//! (`fuzz/`): a chain started from a genesis preset exactly as the node builds its genesis,
//! blocks built as the node's block builder builds them (`Executive::initialize_block` with
//! an Aura pre-digest, the timestamp inherent, `apply_extrinsic`, `finalize_block`), and
//! transactions signed and applied through the runtime's real transaction extensions (nonce,
//! fees, weight), so a test sees what a user of the chain sees.
//!
//! After each block [`end_block`] checks the runtime's invariants
//! ([`tokenmeter_runtime::invariants::check_state`]) and that no dispatch class went over its
//! share of the block; [`check_issuance`] checks that a block minted nothing and burned
//! exactly what its events say (the fuzzer's blocks hold only transactions; tests that set
//! balances up by hand skip it).

use codec::Encode;
use frame_support::dispatch::{DispatchClass, GetDispatchInfo};
use serde_json::Value;
use sp_core::{Pair, H256};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{
	generic::Era,
	traits::{Hash as _, Header as _},
	ApplyExtrinsicResult, BuildStorage, Digest, DigestItem, MultiAddress, MultiSignature, Storage,
};
use tokenmeter_runtime::{
	configs::RuntimeBlockWeights, genesis_config_presets, invariants, AccountId, Balance, Balances,
	BlockNumber, Executive, Header, RuntimeCall, RuntimeGenesisConfig, SignedPayload, System,
	UncheckedExtrinsic, SLOT_DURATION,
};

/// The genesis storage of a chain started from the named preset, as the node builds it: the
/// preset's JSON patch applied to the default genesis configuration.
pub fn genesis_storage(preset: &str) -> Result<Storage, String> {
	let patch = genesis_config_presets::get_preset(&preset.into())
		.ok_or_else(|| format!("no genesis preset named {preset}"))?;
	let patch: Value = serde_json::from_slice(&patch).map_err(|e| e.to_string())?;
	let mut config =
		serde_json::to_value(RuntimeGenesisConfig::default()).map_err(|e| e.to_string())?;
	merge(&mut config, patch);
	let config: RuntimeGenesisConfig =
		serde_json::from_value(config).map_err(|e| format!("invalid genesis: {e}"))?;
	config.build_storage()
}

/// Merges a JSON patch into a document the way genesis presets are applied.
pub fn merge(base: &mut Value, patch: Value) {
	match (base, patch) {
		(Value::Object(base), Value::Object(patch)) => {
			for (key, value) in patch {
				merge(base.entry(key).or_insert(Value::Null), value);
			}
		}
		(base, patch) => *base = patch,
	}
}

/// What became of one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
	/// Included and dispatched successfully.
	Ok,
	/// Included; the call failed (its changes rolled back, fees paid).
	Failed,
	/// Not valid for inclusion (nonce, fees, weight; the reason): nothing changed.
	Invalid(&'static str),
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
	/// The block after which it was found.
	pub block: BlockNumber,
	/// What was wrong.
	pub what: String,
}

impl core::fmt::Display for Violation {
	fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
		write!(f, "block {}: {}", self.block, self.what)
	}
}

/// A chain in test externalities. Block `n` has Aura slot `n` and the timestamp of that slot.
pub struct Chain {
	ext: sp_io::TestExternalities,
}

impl Chain {
	/// A chain from `genesis`, with block 1 started.
	pub fn new(genesis: Storage) -> Result<Self, String> {
		let mut chain = Chain { ext: genesis.into() };
		chain.execute(|| start_block(1))?;
		Ok(chain)
	}

	/// A chain from the named genesis preset, with block 1 started.
	pub fn from_preset(preset: &str) -> Result<Self, String> {
		Self::new(genesis_storage(preset)?)
	}

	/// Runs `f` against the chain's state.
	pub fn execute<R>(&mut self, f: impl FnOnce() -> R) -> R {
		self.ext.execute_with(f)
	}

	/// The externalities, e.g. to register a keystore.
	pub fn into_externalities(self) -> sp_io::TestExternalities {
		self.ext
	}
}

/// Starts block `n` as the node's block builder does: `Executive::initialize_block` with an
/// Aura pre-digest for slot `n`, then the timestamp inherent for that slot. An error if the
/// inherent cannot be applied or fails (a well-formed block's never does).
pub fn start_block(n: BlockNumber) -> Result<(), String> {
	let parent = n.checked_sub(1).map(System::block_hash).unwrap_or_default();
	let slot = sp_consensus_aura::Slot::from(u64::from(n));
	let digest = Digest {
		logs: vec![DigestItem::PreRuntime(sp_consensus_aura::AURA_ENGINE_ID, slot.encode())],
	};
	let header = Header::new(n, H256::zero(), H256::zero(), parent, digest);
	Executive::initialize_block(&header);
	let now = u64::from(n).saturating_mul(SLOT_DURATION);
	let timestamp = RuntimeCall::Timestamp(pallet_timestamp::Call::set { now });
	match Executive::apply_extrinsic(UncheckedExtrinsic::new_bare(timestamp)) {
		Ok(Ok(())) => Ok(()),
		Ok(Err(e)) => Err(format!("block {n}: the timestamp inherent failed: {e:?}")),
		Err(e) => Err(format!("block {n}: the timestamp inherent is invalid: {e:?}")),
	}
}

/// Finishes the current block (`on_idle`, `on_finalize`, `Executive::finalize_block`) and
/// checks it: the runtime's invariants, and no dispatch class over its share of the block.
/// Does not start the next block.
pub fn end_block() -> Result<(), Violation> {
	let block = System::block_number();
	let header = Executive::finalize_block();
	let violation = |what: String| Violation { block, what };
	if *header.number() != block {
		return Err(violation(format!("finalised block {} instead", header.number())));
	}
	invariants::check_state(block).map_err(violation)?;

	let weights = RuntimeBlockWeights::get();
	let used = System::block_weight();
	for class in [DispatchClass::Normal, DispatchClass::Operational] {
		if let Some(max) = weights.get(class).max_total {
			if used.get(class).any_gt(max) {
				return Err(violation(format!(
					"{class:?} weight {:?} over its limit {max:?}",
					used.get(class)
				)));
			}
		}
	}
	let transactions =
		used.get(DispatchClass::Normal).saturating_add(*used.get(DispatchClass::Operational));
	if transactions.any_gt(weights.max_block) {
		return Err(violation(format!("transactions weigh {transactions:?}, over the block")));
	}
	Ok(())
}

/// After [`end_block`]: the block minted nothing, and the total issuance fell from
/// `issuance_before` (when the block started) by exactly what the block's events burned.
pub fn check_issuance(issuance_before: Balance) -> Result<(), Violation> {
	let block = System::block_number();
	let (minted, burned) = invariants::issuance_change_in_block();
	if minted != 0 {
		return Err(Violation { block, what: format!("{minted} minted after genesis") });
	}
	let issuance = Balances::total_issuance();
	if issuance_before.checked_sub(burned) != Some(issuance) {
		return Err(Violation {
			block,
			what: format!(
				"total issuance went from {issuance_before} to {issuance}, but the block's \
				 events burned {burned}"
			),
		});
	}
	Ok(())
}

/// Ends the current block ([`end_block`]) and starts the next, until block `n` has started.
pub fn run_to_block(n: BlockNumber) -> Result<(), Violation> {
	while System::block_number() < n {
		end_block()?;
		let next = System::block_number().saturating_add(1);
		start_block(next).map_err(|what| Violation { block: next, what })?;
	}
	Ok(())
}

/// A signed, immortal transaction of `signer` with its current nonce and `tip`, with the
/// runtime's transaction extensions.
pub fn signed(
	signer: Sr25519Keyring,
	call: RuntimeCall,
	tip: Balance,
) -> Result<UncheckedExtrinsic, String> {
	let account: AccountId = signer.to_account_id();
	let nonce = System::account_nonce(&account);
	let extension = tokenmeter_runtime::tx_extension(nonce, Era::Immortal, tip);
	// The implicit data (genesis hash, versions) is read from the chain.
	let payload = SignedPayload::new(call, extension)
		.map_err(|e| format!("no implicit data for a signed transaction: {e:?}"))?;
	let signature = MultiSignature::from(payload.using_encoded(|bytes| signer.pair().sign(bytes)));
	let (call, extension, _) = payload.deconstruct();
	Ok(UncheckedExtrinsic::new_signed(call, MultiAddress::Id(account), signature, extension))
}

/// A general (version 5) transaction of `call`, with no signer: immortal, nonce and tip zero
/// (what `agentWallet.paySigned` is submitted as; the call carries its own authorization).
pub fn general(call: RuntimeCall) -> UncheckedExtrinsic {
	UncheckedExtrinsic::new_transaction(call, tokenmeter_runtime::tx_extension(0, Era::Immortal, 0))
}

/// Applies `xt` in the current block through `Executive` (validity, fees, dispatch, weight);
/// returns what became of it and the reference time its weight charges (picoseconds).
pub fn apply(xt: UncheckedExtrinsic) -> (Outcome, u64) {
	let weight = xt.get_dispatch_info().total_weight().ref_time();
	let result: ApplyExtrinsicResult = Executive::apply_extrinsic(xt);
	let outcome = match result {
		Ok(Ok(())) => Outcome::Ok,
		Ok(Err(_)) => Outcome::Failed,
		Err(e) => Outcome::Invalid(invalid_reason(e)),
	};
	(outcome, weight)
}

/// Signs `call` as `signer` and applies it in the current block, as the node's block builder
/// would: [`signed`], then [`Executive::apply_extrinsic`]'s result.
pub fn submit(signer: Sr25519Keyring, call: RuntimeCall) -> ApplyExtrinsicResult {
	let xt = signed(signer, call, 0)
		.map_err(|_| sp_runtime::transaction_validity::InvalidTransaction::BadProof)?;
	Executive::apply_extrinsic(xt)
}

/// A value derived from `n`, as a stand-in seed where a unique value is needed.
pub fn unique_hash(n: u64) -> H256 {
	sp_runtime::traits::BlakeTwo256::hash(&n.to_le_bytes())
}

/// A short name for why a transaction could not be included.
fn invalid_reason(e: sp_runtime::transaction_validity::TransactionValidityError) -> &'static str {
	use sp_runtime::transaction_validity::{
		InvalidTransaction as I, TransactionValidityError as E,
	};
	match e {
		E::Invalid(I::Payment) => "cannot pay fees",
		E::Invalid(I::ExhaustsResources) => "block full",
		E::Invalid(I::Stale) | E::Invalid(I::Future) => "nonce",
		E::Invalid(I::BadSigner) => "bad signer",
		E::Invalid(I::Call) => "call refused",
		E::Invalid(I::BadProof) => "bad signature",
		E::Invalid(I::Custom(_)) => "refused by the call's authorization",
		E::Invalid(_) => "other invalid",
		E::Unknown(_) => "unknown validity",
	}
}
