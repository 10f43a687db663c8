//! Helpers shared by the runtime integration tests.

use codec::Encode;
use frame_support::assert_ok;
use pallet_inference_credits::{AccessRule, ModelId, SignedVoucher, Voucher};
use serde_json::Value;
use sp_core::Pair;
use sp_keyring::Sr25519Keyring;
use sp_runtime::{
	traits::{Header as _, Zero},
	Digest, DigestItem,
};
use sp_runtime::{BuildStorage, MultiSignature};
use tokenmeter_runtime::{
	genesis_config_presets, AccountId, Balance, BlockNumber, Executive, Hash, Header,
	InferenceCredits, Runtime, RuntimeCall, RuntimeGenesisConfig, RuntimeOrigin, System,
	UncheckedExtrinsic, SLOT_DURATION,
};

/// Merges a JSON patch into a base document the way the node applies a genesis preset.
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

/// The externalities of a chain started from the named preset.
pub fn chain_from_preset(name: &str) -> sp_io::TestExternalities {
	let patch = genesis_config_presets::get_preset(&name.into()).expect("preset exists");
	let patch: Value = serde_json::from_slice(&patch).expect("preset is JSON");
	let mut config = serde_json::to_value(RuntimeGenesisConfig::default()).unwrap();
	merge(&mut config, patch);
	let config: RuntimeGenesisConfig = serde_json::from_value(config).expect("valid genesis");
	let mut ext: sp_io::TestExternalities = config.build_storage().unwrap().into();
	ext.execute_with(|| start_block(1));
	ext
}

/// Starts block `n` as the node's block builder does: `Executive::initialize_block` with an
/// Aura pre-digest for slot `n`, then the timestamp inherent for that slot. The test's calls
/// then run inside the block.
pub fn start_block(n: BlockNumber) {
	let parent = if n.is_zero() { Hash::zero() } else { System::block_hash(n - 1) };
	let slot = sp_consensus_aura::Slot::from(u64::from(n));
	let digest = Digest {
		logs: vec![DigestItem::PreRuntime(sp_consensus_aura::AURA_ENGINE_ID, slot.encode())],
	};
	let header = Header::new(n, Hash::zero(), Hash::zero(), parent, digest);
	Executive::initialize_block(&header);
	let now = u64::from(n) * SLOT_DURATION;
	let timestamp = RuntimeCall::Timestamp(pallet_timestamp::Call::set { now });
	Executive::apply_extrinsic(UncheckedExtrinsic::new_bare(timestamp))
		.expect("the timestamp inherent is valid")
		.expect("the timestamp inherent succeeds");
}

/// Finishes the current block (`on_idle`, `on_finalize`, `Executive::finalize_block`), checks
/// every invariant of the runtime, and starts the blocks up to `n`, checking after each.
#[allow(dead_code)] // not every test file moves on to later blocks
pub fn run_to_block(n: BlockNumber) {
	while System::block_number() < n {
		let number = System::block_number();
		let header = Executive::finalize_block();
		assert_eq!(*header.number(), number);
		check_invariants();
		start_block(number + 1);
	}
}

/// Every invariant of the runtime: each pallet's `try_state` (all pallets' under the
/// `try-runtime` feature) and the balances ledger.
#[allow(dead_code)] // used by most test files
pub fn check_invariants() {
	if let Err(e) = tokenmeter_runtime::invariants::check_state(System::block_number()) {
		panic!("invariant violated: {e}");
	}
}

/// Registers `provider` as "Alice AI" and lists a model with these prices (per 1,000 input
/// and output tokens) and access rule; returns the model's id.
#[allow(dead_code)] // not every test file lists models
pub fn provide_model(
	provider: &AccountId,
	price_per_1k_input: Balance,
	price_per_1k_output: Balance,
	access: AccessRule<Balance>,
) -> ModelId {
	assert_ok!(InferenceCredits::register_provider(
		RuntimeOrigin::signed(provider.clone()),
		b"Alice AI".to_vec().try_into().unwrap(),
		b"https://alice.example".to_vec().try_into().unwrap(),
	));
	let model = pallet_inference_credits::NextModelId::<Runtime>::get();
	assert_ok!(InferenceCredits::register_model(
		RuntimeOrigin::signed(provider.clone()),
		b"llm".to_vec().try_into().unwrap(),
		price_per_1k_input,
		price_per_1k_output,
		access,
	));
	model
}

/// A voucher of `user` for `provider` up to `cap`, valid until block 1,000, signed as a
/// wallet signs it.
#[allow(dead_code)] // not every test file settles usage
pub fn signed_voucher(
	user: Sr25519Keyring,
	provider: &AccountId,
	cap: Balance,
) -> SignedVoucher<Hash, AccountId, Balance, BlockNumber, MultiSignature> {
	let voucher = Voucher {
		genesis_hash: System::block_hash(0),
		provider: provider.clone(),
		user: user.to_account_id(),
		payer: user.to_account_id(),
		cap,
		expiry: 1_000,
	};
	let signature = MultiSignature::from(user.pair().sign(&voucher.signing_payload()));
	SignedVoucher { voucher, signature }
}
