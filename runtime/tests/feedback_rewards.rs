//! Feedback rewards as configured in the runtime: the pool the credits pallet's protocol fee
//! fills pays annotators and validators of the development preset's short epochs, and
//! feedback may only be about listed models.

mod common;

use common::{chain_from_preset, check_invariants, provide_model, run_to_block, signed_voucher};
use frame_support::{assert_noop, assert_ok, traits::fungible::Inspect};
use pallet_feedback_rewards::FeedbackKind;
use pallet_inference_credits::{AccessRule, SettleUsage, UsageEntry};
use sp_core::H256;
use sp_keyring::Sr25519Keyring::{Alice, Bob, Charlie, Dave, Eve, Ferdie};
use tokenmeter_runtime::{
	configs::inference_credits::RewardPoolAccount, genesis_config_presets::DEV_FEEDBACK_PARAMS,
	AccountId, AgentWallet, Balances, FeedbackRewards, InferenceCredits, Runtime, RuntimeOrigin,
	System, UNIT,
};

/// Registers `validators` with the minimum bond and runs to the next epoch, from which
/// their stake counts; returns that epoch.
fn validators_from_next_epoch(validators: &[AccountId]) -> u32 {
	for v in validators {
		assert_ok!(FeedbackRewards::register_validator(
			RuntimeOrigin::signed(v.clone()),
			100 * UNIT
		));
	}
	let epoch = FeedbackRewards::current_epoch() + 1;
	run_to_block(FeedbackRewards::epoch_start(epoch));
	epoch
}

/// Each validator commits then reveals `score` on each feedback in `scores`, then they are
/// finalised after the window and the epoch closed.
fn score_and_close(epoch: u32, validators: &[AccountId], scores: &[(u32, u8)]) {
	let salt = [7u8; 32];
	for v in validators {
		for (id, score) in scores {
			let commitment = FeedbackRewards::commitment(*id, v, *score, &salt);
			assert_ok!(FeedbackRewards::commit_score(
				RuntimeOrigin::signed(v.clone()),
				*id,
				commitment
			));
		}
	}
	run_to_block(FeedbackRewards::reveal_from(epoch));
	for v in validators {
		for (id, score) in scores {
			assert_ok!(FeedbackRewards::reveal_score(
				RuntimeOrigin::signed(v.clone()),
				*id,
				*score,
				salt
			));
		}
	}
	run_to_block(FeedbackRewards::closable_at(epoch));
	let anyone = RuntimeOrigin::signed(Bob.to_account_id());
	for (id, _) in scores {
		assert_ok!(FeedbackRewards::finalize_feedback(anyone.clone(), *id));
	}
	assert_ok!(FeedbackRewards::close_epoch(anyone, epoch));
}

fn submit(who: &AccountId, model: u32) -> Result<(), sp_runtime::DispatchError> {
	FeedbackRewards::submit_feedback(
		RuntimeOrigin::signed(who.clone()),
		model,
		H256::repeat_byte(1),
		FeedbackKind::Rating,
		H256::repeat_byte(2),
	)
}

#[test]
fn settlement_fees_fund_rewards_paid_per_score_point() {
	chain_from_preset("development").execute_with(|| {
		let alice = Alice.to_account_id();
		let bob = Bob.to_account_id();
		let model = provide_model(&alice, UNIT, UNIT, AccessRule::Open);
		// Bob's usage pays the 5% protocol fee: four fifths into the reward pool, one fifth to
		// the treasury.
		assert_ok!(InferenceCredits::deposit_credits(
			RuntimeOrigin::signed(bob.clone()),
			100 * UNIT
		));
		let pool_before = Balances::balance(&RewardPoolAccount::get());
		let entry = UsageEntry {
			user: bob.clone(),
			model,
			input_tokens: 100_000,
			output_tokens: 0,
			served_at: System::block_number(),
			voucher: signed_voucher(Bob, &alice, 1_000 * UNIT),
		};
		let summary = <InferenceCredits as SettleUsage<_>>::settle(&alice, vec![entry]).unwrap();
		assert!(summary.fees > 0);
		assert_eq!(
			Balances::balance(&RewardPoolAccount::get()),
			pool_before + summary.fees - summary.fees / 5
		);

		// Charlie's feedback scores 80, Dave's 40; Alice, Eve and Ferdie validate.
		let (charlie, dave) = (Charlie.to_account_id(), Dave.to_account_id());
		let validators = [Alice, Eve, Ferdie].map(|k| k.to_account_id());
		let epoch = validators_from_next_epoch(&validators);
		assert_ok!(submit(&charlie, model));
		assert_ok!(submit(&dave, model));
		score_and_close(epoch, &validators, &[(0, 80), (1, 40)]);
		let (charlie_before, dave_before) = (Balances::balance(&charlie), Balances::balance(&dave));
		assert_ok!(FeedbackRewards::claim(RuntimeOrigin::signed(charlie.clone()), epoch));
		assert_ok!(FeedbackRewards::claim(RuntimeOrigin::signed(dave.clone()), epoch));
		let charlie_reward = Balances::balance(&charlie) - charlie_before - UNIT;
		let dave_reward = Balances::balance(&dave) - dave_before - UNIT;
		assert!(dave_reward > 0);
		// 80 : 40 points (up to rounding).
		assert!(charlie_reward.abs_diff(2 * dave_reward) <= 1);
		check_invariants();
	});
}

#[test]
fn presets_set_the_epochs() {
	chain_from_preset("development").execute_with(|| {
		assert_eq!(pallet_feedback_rewards::Params::<Runtime>::get(), DEV_FEEDBACK_PARAMS);
		check_invariants();
	});
	chain_from_preset("local_testnet").execute_with(|| {
		// The pallet's defaults: daily epochs scored for an hour after.
		let params = pallet_feedback_rewards::Params::<Runtime>::get();
		assert_eq!((params.epoch_length, params.scoring_window), (14_400, 600));
		check_invariants();
	});
}

#[test]
fn feedback_is_only_about_listed_models() {
	chain_from_preset("development").execute_with(|| {
		let alice = Alice.to_account_id();
		let model = provide_model(&alice, UNIT, UNIT, AccessRule::Open);
		let charlie = Charlie.to_account_id();
		assert_noop!(
			submit(&charlie, model + 1),
			pallet_feedback_rewards::Error::<Runtime>::UnknownModel
		);
		assert_ok!(InferenceCredits::retire_model(RuntimeOrigin::signed(alice), model));
		assert_noop!(
			submit(&charlie, model),
			pallet_feedback_rewards::Error::<Runtime>::UnknownModel
		);
		check_invariants();
	});
}

#[test]
fn an_agent_gives_feedback_and_claims_its_reward_only_as_a_whole_act() {
	use pallet_agent_wallet::Policy;
	use tokenmeter_runtime::RuntimeCall;
	chain_from_preset("development").execute_with(|| {
		let alice = Alice.to_account_id();
		let model = provide_model(&alice, UNIT, UNIT, AccessRule::Open);
		assert_ok!(FeedbackRewards::fund_pool(RuntimeOrigin::signed(alice.clone()), 1_000 * UNIT));
		// Alice's agent, controlled by Bob: 10 TMT per payment and per period.
		let hash = H256::repeat_byte(9);
		let agent = AgentWallet::agent_address(&alice, &hash, 0);
		let policy = Policy {
			per_payment_cap: 10 * UNIT,
			period_cap: 10 * UNIT,
			period_length: 1_000,
			payees: None,
			cosign_threshold: 10 * UNIT,
			cosigners: Default::default(),
			approvals_needed: 1,
			expiry: None,
			pays_fees: false,
		};
		assert_ok!(AgentWallet::create_agent(
			RuntimeOrigin::signed(alice.clone()),
			hash,
			policy,
			Bob.to_account_id()
		));
		assert_ok!(Balances::transfer_keep_alive(
			RuntimeOrigin::signed(alice.clone()),
			sp_runtime::MultiAddress::Id(agent.clone()),
			100 * UNIT
		));
		let act = |call: RuntimeCall| {
			AgentWallet::act(
				RuntimeOrigin::signed(Bob.to_account_id()),
				agent.clone(),
				Box::new(call),
			)
			.map(|_| ())
			.map_err(|e| e.error)
		};
		let validators = [Alice, Eve, Ferdie].map(|k| k.to_account_id());
		let epoch = validators_from_next_epoch(&validators);
		// The agent submits feedback: the 1 TMT bond and the 0.1 TMT fee count as outflow.
		assert_ok!(act(RuntimeCall::FeedbackRewards(
			pallet_feedback_rewards::Call::submit_feedback {
				model,
				output_hash: H256::repeat_byte(1),
				kind: FeedbackKind::Label,
				payload_hash: H256::repeat_byte(2),
			}
		)));
		let outflow = UNIT + UNIT / 10;
		assert_eq!(AgentWallet::status(&agent).unwrap().spent, outflow);
		score_and_close(epoch, &validators, &[(0, 90)]);
		let claim = RuntimeCall::FeedbackRewards(pallet_feedback_rewards::Call::claim { epoch });
		let dave = Dave.to_account_id();
		let transfer = RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive {
			dest: sp_runtime::MultiAddress::Id(dave),
			value: 50 * UNIT,
		});
		// Batched with a transfer, the claim would hide it: refused.
		assert_noop!(
			act(RuntimeCall::Utility(pallet_utility::Call::batch_all {
				calls: vec![claim.clone(), transfer]
			})),
			frame_system::Error::<Runtime>::CallFiltered
		);
		// Alone it pays the agent; its reward is income, not spending.
		let before = Balances::balance(&agent);
		assert_ok!(act(claim));
		assert!(Balances::balance(&agent) > before + UNIT);
		assert_eq!(AgentWallet::status(&agent).unwrap().spent, outflow);
		check_invariants();
	});
}

/// docs/governance.md: the feedback bond is a runtime parameter; a feedback keeps the bond it
/// was made with when the parameter changes under it.
#[test]
fn a_changed_feedback_bond_applies_to_new_feedback_only() {
	use frame_support::traits::fungible::InspectHold;
	use tokenmeter_runtime::{
		configs::parameters::{dynamic_params::feedback, RuntimeParameters},
		Parameters, RuntimeHoldReason,
	};
	chain_from_preset("development").execute_with(|| {
		let alice = Alice.to_account_id();
		let (charlie, dave) = (Charlie.to_account_id(), Dave.to_account_id());
		let model = provide_model(&alice, UNIT, UNIT, AccessRule::Open);
		let bond =
			RuntimeHoldReason::FeedbackRewards(pallet_feedback_rewards::HoldReason::FeedbackBond);
		let set_bond = |value| {
			assert_ok!(Parameters::set_parameter(
				RuntimeOrigin::root(),
				RuntimeParameters::Feedback(feedback::Parameters::FeedbackBond(
					feedback::FeedbackBond,
					Some(value)
				))
			));
		};
		set_bond(5 * UNIT);
		assert_ok!(submit(&charlie, model));
		assert_eq!(Balances::balance_on_hold(&bond, &charlie), 5 * UNIT);
		set_bond(UNIT);
		assert_ok!(submit(&dave, model));
		assert_eq!(Balances::balance_on_hold(&bond, &dave), UNIT);
		// Charlie's feedback still counts the 5 TMT it bonded.
		let epoch = FeedbackRewards::current_epoch();
		let contribution =
			pallet_feedback_rewards::Contributions::<Runtime>::get(epoch, &charlie).unwrap();
		assert_eq!(contribution.bonds, 5 * UNIT);
		check_invariants();
	});
}
