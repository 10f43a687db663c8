//! Unit tests against the mock runtime, split by topic. Every error path asserts that
//! nothing changed (`assert_noop!`), and every test ends with the pallet's `try_state`.

mod access;
mod allowance;
mod credits;
mod delegation;
mod models;
mod payment_safety;
mod pricing;
mod providers;
mod settlement;
mod verified_once;

use crate::{mock::*, *};
use frame_support::{assert_ok, BoundedVec};
use sp_keyring::Sr25519Keyring;

pub(crate) fn name(s: &str) -> NameOf<Test> {
	BoundedVec::try_from(s.as_bytes().to_vec()).unwrap()
}

pub(crate) fn endpoint(s: &str) -> EndpointOf<Test> {
	BoundedVec::try_from(s.as_bytes().to_vec()).unwrap()
}

pub(crate) fn register_provider(who: &AccountId) {
	assert_ok!(InferenceCredits::register_provider(
		RuntimeOrigin::signed(who.clone()),
		name("provider"),
		endpoint("https://gw.example")
	));
}

/// Registers a model with prices 2,000 per 1k input and 4,000 per 1k output tokens (2 and 4
/// per token) and returns its id.
pub(crate) fn register_model(provider: &AccountId, access: AccessRule<Balance>) -> ModelId {
	let id = NextModelId::<Test>::get();
	assert_ok!(InferenceCredits::register_model(
		RuntimeOrigin::signed(provider.clone()),
		name("llm"),
		2_000,
		4_000,
		access
	));
	id
}

/// The common starting point of settlement tests: Alice provides an open model (2 per input
/// token, 4 per output token) and Bob has deposited 10,000 credits. Returns the model.
pub(crate) fn open_model_and_funded_bob() -> ModelId {
	register_provider(&alice());
	let model = register_model(&alice(), AccessRule::Open);
	deposit(&bob(), 10_000);
	model
}

/// Alice opts `model` in to honouring stakers' free allowances.
pub(crate) fn honour(model: ModelId) {
	assert_ok!(InferenceCredits::set_allowance_honoured(
		RuntimeOrigin::signed(alice()),
		model,
		true
	));
}

pub(crate) fn deposit(who: &AccountId, amount: Balance) {
	assert_ok!(InferenceCredits::deposit_credits(RuntimeOrigin::signed(who.clone()), amount));
}

pub(crate) fn genesis_hash() -> <Test as frame_system::Config>::Hash {
	System::block_hash(0)
}

/// A voucher signed by `user` for `provider` with this cap, valid on this chain until block
/// 100, paid by the user.
pub(crate) fn voucher(
	user: Sr25519Keyring,
	provider: &AccountId,
	cap: Balance,
) -> SignedVoucherOf<Test> {
	voucher_paid_by(user, &user.to_account_id(), provider, cap)
}

/// A voucher signed by `user` for `provider` with this cap, valid until block 100, paid by
/// `payer` (an owner who delegated an allowance to the user).
pub(crate) fn voucher_paid_by(
	user: Sr25519Keyring,
	payer: &AccountId,
	provider: &AccountId,
	cap: Balance,
) -> SignedVoucherOf<Test> {
	let voucher = Voucher {
		genesis_hash: genesis_hash(),
		provider: provider.clone(),
		user: user.to_account_id(),
		payer: payer.clone(),
		cap,
		expiry: 100,
		session: Some([1; 32]),
	};
	SignedVoucher { signature: sign_voucher(user, &voucher), voucher }
}

/// One usage entry of `user` (who also pays).
pub(crate) fn entry(
	user: Sr25519Keyring,
	model: ModelId,
	input_tokens: u32,
	output_tokens: u32,
	voucher: SignedVoucherOf<Test>,
) -> UsageEntryOf<Test> {
	UsageEntry {
		user: user.to_account_id(),
		model,
		input_tokens,
		output_tokens,
		served_at: System::block_number(),
		voucher,
	}
}

pub(crate) fn held(reason: HoldReason, who: &AccountId) -> Balance {
	use frame_support::traits::fungible::InspectHold;
	<Balances as InspectHold<AccountId>>::balance_on_hold(&reason.into(), who)
}

pub(crate) fn issuance() -> Balance {
	use frame_support::traits::fungible::Inspect;
	<Balances as Inspect<AccountId>>::total_issuance()
}

pub(crate) fn free(who: &AccountId) -> Balance {
	use frame_support::traits::fungible::Inspect;
	<Balances as Inspect<AccountId>>::balance(who)
}

pub(crate) fn events() -> Vec<Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(
			|r| if let RuntimeEvent::InferenceCredits(e) = r.event { Some(e) } else { None },
		)
		.collect()
}
