//! Helpers shared by the runtime integration tests.

use codec::Encode;
use frame_support::assert_ok;
use pallet_inference_credits::{AccessRule, ModelId, SignedVoucher, Voucher};
use serde_json::Value;
use sp_core::Pair;
use sp_keyring::Sr25519Keyring;
use sp_runtime::{BuildStorage, MultiSignature};
use tokenmeter_runtime::{
	genesis_config_presets, AccountId, Balance, BlockNumber, Hash, InferenceCredits, Runtime,
	RuntimeGenesisConfig, RuntimeOrigin, System,
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
	ext.execute_with(|| System::set_block_number(1));
	ext
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
		cap,
		expiry: 1_000,
	};
	let signature = MultiSignature::from(user.pair().sign(&voucher.encode()));
	SignedVoucher { voucher, signature }
}
