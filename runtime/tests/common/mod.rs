//! Helpers shared by the runtime integration tests.

use frame_support::assert_ok;
use pallet_inference_credits::{AccessRule, ModelId, SignedVoucher, Voucher};
use sp_core::Pair;
use sp_keyring::Sr25519Keyring;
use sp_runtime::MultiSignature;
use tokenmeter_runtime::{
	AccountId, Balance, BlockNumber, Hash, InferenceCredits, Runtime, RuntimeOrigin, System,
};

/// The externalities of a chain started from the named preset as the node builds its
/// genesis, with block 1 started (`tokenmeter-test-chain`).
pub fn chain_from_preset(name: &str) -> sp_io::TestExternalities {
	tokenmeter_test_chain::Chain::from_preset(name)
		.unwrap_or_else(|e| panic!("a chain from preset {name}: {e}"))
		.into_externalities()
}

/// Ends the current block (checking every invariant of the runtime and the block's weight)
/// and starts the blocks up to `n`, checking after each, as the node builds them.
#[allow(dead_code)] // not every test file moves on to later blocks
pub fn run_to_block(n: BlockNumber) {
	if let Err(violation) = tokenmeter_test_chain::run_to_block(n) {
		panic!("{violation}");
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
		session: Some([1; 32]),
	};
	let signature = MultiSignature::from(user.pair().sign(&voucher.signing_payload()));
	SignedVoucher { voucher, signature }
}
