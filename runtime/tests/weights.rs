//! Every call of Tokenmeter's pallets in its worst case, as the runtime charges it (the
//! generated weights of `weights.rs`, through the call's dispatch info), as a share of the
//! block: each must fit in a block's normal-class limit with room for others. The table is
//! printed (`cargo test -p tokenmeter-runtime --test weights -- --nocapture`) and reported
//! in docs/security.md.

mod common;

use codec::Encode;
use common::chain_from_preset;
use frame_support::{
	dispatch::{DispatchClass, GetDispatchInfo},
	traits::Get,
	BoundedVec,
};
use pallet_agent_wallet::Policy;
use pallet_inference_credits::{AccessRule, SignedVoucher, UsageEntry, Voucher};
use pallet_priority_staking::{StakingParams, TierInfo};
use sp_core::{ecdsa, H256};
use sp_keyring::Sr25519Keyring::Alice;
use sp_runtime::{MultiSignature, Perbill};
use tokenmeter_runtime::{
	configs::RuntimeBlockWeights, AccountId, Runtime, RuntimeCall, UncheckedExtrinsic,
};

fn max<S: Get<u32>>() -> u32 {
	S::get()
}

/// The calls of the custom pallets, each with the arguments that make it heaviest.
fn worst_cases() -> Vec<RuntimeCall> {
	use pallet_agent_wallet::Call as Agent;
	use pallet_feedback_rewards::Call as Feedback;
	use pallet_inference_credits::Call as Credits;
	use pallet_priority_staking::Call as Staking;
	use pallet_usage_attestation::Call as Attest;
	use pallet_validator_set::Call as Validators;

	let who: AccountId = Alice.to_account_id();
	let name = || BoundedVec::truncate_from(vec![b'n'; 64]);
	let endpoint = || BoundedVec::truncate_from(vec![b'e'; 256]);
	let policy = || Policy {
		per_payment_cap: 1,
		period_cap: 1,
		period_length: 1,
		payees: Some(BoundedVec::truncate_from(vec![who.clone(); 16])),
		cosign_threshold: 1,
		cosigners: BoundedVec::truncate_from(vec![who.clone(); 8]),
		approvals_needed: 8,
		expiry: Some(1),
		pays_fees: true,
	};
	// A record as large as records get: an ECDSA signature.
	let entry = UsageEntry {
		user: who.clone(),
		model: 0,
		input_tokens: u32::MAX,
		output_tokens: u32::MAX,
		served_at: 0,
		voucher: SignedVoucher {
			voucher: Voucher {
				genesis_hash: H256::zero(),
				provider: who.clone(),
				user: who.clone(),
				payer: who.clone(),
				cap: 1,
				expiry: 1,
				session: Some([0xff; 32]),
			},
			signature: MultiSignature::Ecdsa(ecdsa::Signature::from_raw([0; 65])),
		},
	};
	let max_entries = max::<<Runtime as pallet_usage_attestation::Config>::MaxEntries>();
	let max_tiers = max::<<Runtime as pallet_priority_staking::Config>::MaxTiers>();
	let tier = TierInfo { min_stake: 1, priority_weight: 1, rate_limit: 1, free_allowance: 1 };
	let transfer = RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive {
		dest: who.clone().into(),
		value: 1,
	});

	let mut calls: Vec<RuntimeCall> = vec![
		Credits::register_provider { name: name(), endpoint: endpoint() }.into(),
		Credits::update_provider { name: name(), endpoint: endpoint() }.into(),
		Credits::retire_provider {}.into(),
		Credits::register_model {
			name: name(),
			price_per_1k_input: 1,
			price_per_1k_output: 1,
			access: AccessRule::MinBalanceAndTier(1, 1),
		}
		.into(),
		Credits::update_model {
			model: 0,
			price_per_1k_input: 1,
			price_per_1k_output: 1,
			access: AccessRule::MinBalanceAndTier(1, 1),
		}
		.into(),
		Credits::retire_model { model: 0 }.into(),
		Credits::set_allowance_honoured { model: 0, honoured: false }.into(),
		Credits::set_dynamic_pricing {
			model: 0,
			config: Some(pallet_inference_credits::PricingConfig {
				capacity: u64::MAX,
				target: Perbill::from_percent(50),
				min_multiplier: sp_runtime::FixedU128::from_u32(1),
				max_multiplier: sp_runtime::FixedU128::from_u32(10),
			}),
		}
		.into(),
		Credits::deposit_credits { amount: 1 }.into(),
		Credits::withdraw_credits { amount: 1 }.into(),
		Credits::request_withdrawal { amount: 1 }.into(),
		Credits::approve_delegate { delegate: who.clone(), amount: 1, expiry: 1 }.into(),
		Credits::revoke_delegate { delegate: who.clone() }.into(),
		Staking::stake { amount: 1 }.into(),
		Staking::unstake { amount: 1 }.into(),
		Staking::withdraw_unbonded {}.into(),
		Staking::set_tiers { tiers: BoundedVec::truncate_from(vec![tier; max_tiers as usize]) }
			.into(),
		Staking::set_params {
			params: StakingParams { warm_up: 1, unbonding_period: 1, epoch_length: 1 },
		}
		.into(),
		Agent::create_agent {
			config_hash: H256::zero(),
			policy: policy(),
			controller: who.clone(),
		}
		.into(),
		Agent::pay { agent: who.clone(), payee: who.clone(), amount: 1 }.into(),
		Agent::act { agent: who.clone(), call: Box::new(transfer) }.into(),
		Agent::approve { agent: who.clone(), id: 0 }.into(),
		Agent::reject { agent: who.clone(), id: 0 }.into(),
		Agent::reap { agent: who.clone(), id: 0 }.into(),
		Agent::set_policy { agent: who.clone(), policy: policy() }.into(),
		Agent::freeze { agent: who.clone() }.into(),
		Agent::unfreeze { agent: who.clone() }.into(),
		Agent::rotate_controller { agent: who.clone(), new: who.clone() }.into(),
		Agent::withdraw { agent: who.clone(), amount: 1 }.into(),
		Agent::close_agent { agent: who.clone() }.into(),
		Agent::pay_signed {
			agent: who.clone(),
			payee: who.clone(),
			amount: 1,
			nonce: 0,
			valid_until: 1,
			signature: pallet_agent_wallet::PaymentSignature::Wrapped(
				sp_runtime::MultiSignature::Ecdsa(sp_core::ecdsa::Signature::from_raw([0; 65])),
			),
		}
		.into(),
		Feedback::submit_feedback {
			model: 0,
			output_hash: H256::zero(),
			kind: pallet_feedback_rewards::FeedbackKind::Rating,
			payload_hash: H256::zero(),
		}
		.into(),
		Feedback::register_validator { bond: 100 * tokenmeter_runtime::UNIT }.into(),
		Feedback::deregister_validator {}.into(),
		Feedback::commit_score { id: 0, commitment: Default::default() }.into(),
		Feedback::reveal_score { id: 0, score: 100, salt: [0; 32] }.into(),
		Feedback::close_epoch { epoch: 0 }.into(),
		Feedback::claim { epoch: 0 }.into(),
		Feedback::claim_many { max_epochs: u32::MAX }.into(),
		Feedback::fund_pool { amount: 1 }.into(),
		Feedback::finalize_feedback { id: 0 }.into(),
		Attest::register_operator { operator: who.clone() }.into(),
		Attest::remove_operator { operator: who.clone() }.into(),
		Attest::set_capacity { tokens_per_epoch: 1 }.into(),
		Attest::attest {
			provider: who.clone(),
			first_seq: 1,
			entries: BoundedVec::truncate_from(vec![entry; max_entries as usize]),
		}
		.into(),
		Attest::void_record {
			provider: who.clone(),
			seq: 1,
			reason: BoundedVec::truncate_from(vec![b'x'; 64]),
		}
		.into(),
	];
	calls.push(Validators::add_validator { who: who.clone() }.into());
	calls.push(Validators::remove_validator { who }.into());
	calls
}

#[test]
fn every_call_fits_in_a_block_with_room_to_spare() {
	chain_from_preset("development").execute_with(|| {
		let weights = RuntimeBlockWeights::get();
		let normal = weights.get(DispatchClass::Normal);
		let limit = normal.max_extrinsic.expect("normal transactions have a limit");
		let base = normal.base_extrinsic;
		let block = weights.max_block.ref_time();

		let mut rows: Vec<(String, u64, usize)> = worst_cases()
			.into_iter()
			.map(|call| {
				use frame_support::traits::GetCallMetadata;
				let meta = call.get_call_metadata();
				let info = call.get_dispatch_info();
				assert!(
					info.total_weight().all_lte(limit.saturating_sub(base)),
					"{}.{} ({:?}) does not fit in a block",
					meta.pallet_name,
					meta.function_name,
					info.total_weight()
				);
				let length = UncheckedExtrinsic::new_bare(call.clone()).encoded_size();
				let total = info.total_weight().saturating_add(base).ref_time();
				(format!("{}.{}", meta.pallet_name, meta.function_name), total, length)
			})
			.collect();
		rows.sort_by_key(|row| std::cmp::Reverse(row.1));

		println!("| call (worst case) | weight (ref time) | share of a block | encoded length |");
		println!("|---|---|---|---|");
		for (name, total, length) in &rows {
			println!(
				"| `{name}` | {:.1} µs | {:.3}% | {length} B |",
				*total as f64 / 1e6,
				*total as f64 * 100.0 / block as f64
			);
		}

		// The heaviest call leaves most of the block to others: at most a quarter of it.
		let (heaviest, weight, _) = &rows[0];
		let share = Perbill::from_rational(*weight, block);
		assert!(share <= Perbill::from_percent(25), "{heaviest} takes {share:?} of a block");
		use frame_support::traits::GetCallName;
		// The same set of calls, not just as many: every declared call once, nothing else.
		let declared: std::collections::BTreeSet<String> = [
			("InferenceCredits", pallet_inference_credits::Call::<Runtime>::get_call_names()),
			("PriorityStaking", pallet_priority_staking::Call::<Runtime>::get_call_names()),
			("AgentWallet", pallet_agent_wallet::Call::<Runtime>::get_call_names()),
			("FeedbackRewards", pallet_feedback_rewards::Call::<Runtime>::get_call_names()),
			("UsageAttestation", pallet_usage_attestation::Call::<Runtime>::get_call_names()),
			("ValidatorSet", pallet_validator_set::Call::<Runtime>::get_call_names()),
		]
		.into_iter()
		.flat_map(|(pallet, names)| names.iter().map(move |name| format!("{pallet}.{name}")))
		.collect();
		let listed: std::collections::BTreeSet<String> =
			rows.iter().map(|(name, _, _)| name.clone()).collect();
		assert_eq!(listed.len(), rows.len(), "a call is listed twice");
		assert_eq!(listed, declared, "every call of the custom pallets is listed, once");
	});
}

/// The polkadot-sdk pallets are weighed by this runtime's own benchmarks
/// (`runtime/src/weights/`, written by `scripts/benchmark.sh`), not by the SDK's reference
/// machine: a transfer is charged this runtime's measurement, a signed transaction its
/// extensions as measured here (the SDK's default for them is zero), and every pallet's
/// integrity test (the scheduler's and the referenda's limits among them) holds with them.
#[test]
fn the_sdk_pallets_are_weighed_on_this_runtime() {
	use frame_support::traits::IntegrityTest;
	use frame_system::ExtensionsWeightInfo;
	use pallet_balances::WeightInfo as _;
	use pallet_transaction_payment::WeightInfo as _;
	use sp_runtime::traits::TransactionExtension;
	use tokenmeter_runtime::weights;

	chain_from_preset("development").execute_with(|| {
		tokenmeter_runtime::AllPalletsWithSystem::integrity_test();

		let call: RuntimeCall = pallet_balances::Call::transfer_keep_alive {
			dest: Alice.to_account_id().into(),
			value: 1,
		}
		.into();
		let measured = weights::pallet_balances::WeightInfo::<Runtime>::transfer_keep_alive();
		assert_eq!(call.get_dispatch_info().call_weight, measured);
		assert_ne!(
			measured,
			pallet_balances::weights::SubstrateWeight::<Runtime>::transfer_keep_alive(),
			"the SDK's reference figure, not this runtime's"
		);

		let extensions = tokenmeter_runtime::tx_extension(0, sp_runtime::generic::Era::Immortal, 0);
		let charged = extensions.weight(&call);
		type System = weights::frame_system_extensions::WeightInfo<Runtime>;
		let nonce_and_payment = System::check_nonce()
			.saturating_add(System::check_weight())
			.saturating_add(
			weights::pallet_transaction_payment::WeightInfo::<Runtime>::charge_transaction_payment(
			),
		);
		assert!(nonce_and_payment.ref_time() > 0);
		assert!(charged.all_gte(nonce_and_payment), "{charged:?} < {nonce_and_payment:?}");
	});
}
