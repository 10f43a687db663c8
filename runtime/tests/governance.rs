//! Governance as configured (docs/governance.md): a referendum on the `parameters` track,
//! voted with staked TMT and conviction, changes the priority tiers; a vote's lock and the
//! staking freeze overlap and an unstake follows the longer of the two; a `treasurer`
//! referendum funds a bounty whose curator pays a bug reporter; a `parameters` referendum
//! changes the treasury's share of the protocol fee, which the next settlement follows;
//! governance moves TMT but never mints or burns it.

mod common;

use common::{chain_from_preset, check_invariants, provide_model, run_to_block, signed_voucher};
use frame_support::{
	assert_noop, assert_ok,
	traits::{
		fungible::{Inspect, InspectFreeze},
		schedule::DispatchTime,
		tokens::{Fortitude, Preservation},
		StorePreimage,
	},
};
use pallet_conviction_voting::{AccountVote, Conviction, Vote};
use pallet_inference_credits::{AccessRule, SettleUsage, UsageEntry};
use pallet_priority_staking::TierInfo;
use pallet_referenda::ReferendumInfo;
use sp_keyring::Sr25519Keyring::{Alice, Bob, Charlie, Dave};
use tokenmeter_runtime::{
	configs::{
		governance::{pallet_custom_origins::Origin as Track, TreasuryAccount},
		inference_credits::RewardPoolAccount,
		parameters::{dynamic_params::protocol, RuntimeParameters},
	},
	AccountId, Balance, Balances, Bounties, ConvictionVoting, InferenceCredits, OriginCaller,
	Parameters, PriorityStaking, Referenda, Runtime, RuntimeCall, RuntimeFreezeReason,
	RuntimeOrigin, System, MILLI_UNIT, UNIT,
};

fn signed(who: &AccountId) -> RuntimeOrigin {
	RuntimeOrigin::signed(who.clone())
}

/// Submits `call` as a referendum on `origin`'s track, places its decision deposit and has
/// `voter` vote aye with `balance` at 1× conviction; the referendum's index.
fn propose_and_vote(
	origin: OriginCaller,
	call: RuntimeCall,
	voter: &AccountId,
	balance: Balance,
) -> u32 {
	let index = pallet_referenda::ReferendumCount::<Runtime>::get();
	let bounded = <tokenmeter_runtime::Preimage as StorePreimage>::bound(call).unwrap();
	assert_ok!(Referenda::submit(signed(voter), Box::new(origin), bounded, DispatchTime::After(1)));
	assert_ok!(Referenda::place_decision_deposit(signed(voter), index));
	let vote = AccountVote::Standard {
		vote: Vote { aye: true, conviction: Conviction::Locked1x },
		balance,
	};
	assert_ok!(ConvictionVoting::vote(signed(voter), index, vote));
	index
}

fn approved(index: u32) -> bool {
	matches!(
		pallet_referenda::ReferendumInfoFor::<Runtime>::get(index),
		Some(ReferendumInfo::Approved(..))
	)
}

/// Runs blocks until `done()` or `max` blocks passed; whether it happened.
fn run_until(max: u32, done: impl Fn() -> bool) -> bool {
	let end = System::block_number() + max;
	while System::block_number() < end {
		if done() {
			return true;
		}
		run_to_block(System::block_number() + 1);
	}
	done()
}

fn staking_frozen(who: &AccountId) -> Balance {
	Balances::balance_frozen(
		&RuntimeFreezeReason::PriorityStaking(pallet_priority_staking::FreezeReason::PriorityStake),
		who,
	)
}

#[test]
fn staked_tmt_votes_a_parameters_referendum_that_changes_the_tiers() {
	chain_from_preset("development").execute_with(|| {
		let alice = Alice.to_account_id();
		let issuance = Balances::total_issuance();
		// Alice stakes most of her TMT, then votes with all of it: the stake votes too.
		let staked = 800_000 * UNIT;
		assert_ok!(PriorityStaking::stake(signed(&alice), staked));
		let free = Balances::balance(&alice);
		let tiers = vec![TierInfo {
			min_stake: 5 * UNIT,
			priority_weight: 7,
			rate_limit: 77,
			free_allowance: 0,
		}];
		let call = RuntimeCall::PriorityStaking(pallet_priority_staking::Call::set_tiers {
			tiers: tiers.clone().try_into().unwrap(),
		});
		// Not by a signed account: only Root or the parameters track.
		assert_noop!(
			PriorityStaking::set_tiers(signed(&alice), tiers.clone().try_into().unwrap()),
			sp_runtime::DispatchError::BadOrigin
		);
		let index = propose_and_vote(
			OriginCaller::Origins(Track::ParameterSetter),
			call,
			&alice,
			free - 100 * UNIT,
		);
		// The vote's lock sits beside the stake's freeze, overlapping: both cover the same TMT.
		assert_eq!(staking_frozen(&alice), staked);
		assert!(Balances::locks(&alice).iter().any(|l| l.amount == free - 100 * UNIT));
		assert!(run_until(60, || approved(index)), "the referendum passes within minutes");
		assert!(
			run_until(5, || pallet_priority_staking::Tiers::<Runtime>::get().to_vec() == tiers),
			"and is enacted"
		);
		check_invariants();
		// Governance moved deposits, minted and burned nothing.
		assert_eq!(Balances::total_issuance(), issuance);
	});
}

#[test]
fn unstaking_while_voting_follows_the_longer_lock() {
	chain_from_preset("development").execute_with(|| {
		let alice = Alice.to_account_id();
		let bob = Bob.to_account_id();
		// 700,000 TMT: more than the 5% of the issuance (twelve accounts of 1,000,000) that
		// the parameters track's support starts at.
		let staked = 700_000 * UNIT;
		assert_ok!(PriorityStaking::stake(signed(&alice), staked));
		let call = RuntimeCall::System(frame_system::Call::remark { remark: b"tiers".to_vec() });
		let index =
			propose_and_vote(OriginCaller::Origins(Track::ParameterSetter), call, &alice, staked);
		assert!(run_until(60, || approved(index)));
		// Unstaked and withdrawn: the freeze is gone, but the vote's lock (1× conviction, ten
		// minutes after the referendum ended) still holds the TMT.
		assert_ok!(PriorityStaking::unstake(signed(&alice), staked));
		let unbonding = pallet_priority_staking::Params::<Runtime>::get().unbonding_period;
		run_to_block(System::block_number() + unbonding + 1);
		assert_ok!(PriorityStaking::withdraw_unbonded(signed(&alice)));
		assert_eq!(staking_frozen(&alice), 0);
		let spendable =
			Balances::reducible_balance(&alice, Preservation::Preserve, Fortitude::Polite);
		// (A lock covers reserved TMT too: the referendum's deposits count towards it.)
		assert_eq!(
			spendable,
			Balances::total_balance(&alice) - staked,
			"the vote still locks {staked}"
		);
		assert!(Balances::transfer_keep_alive(
			signed(&alice),
			bob.clone().into(),
			spendable + UNIT
		)
		.is_err());
		// After the lock's period, the vote is removed and the TMT unlocked.
		run_to_block(System::block_number() + 10 * tokenmeter_runtime::MINUTES + 1);
		assert_ok!(ConvictionVoting::remove_vote(signed(&alice), Some(1), index));
		assert_ok!(ConvictionVoting::unlock(signed(&alice), 1, alice.clone().into()));
		let spendable =
			Balances::reducible_balance(&alice, Preservation::Preserve, Fortitude::Polite);
		assert!(spendable > staked, "unlocked");
		check_invariants();
	});
}

#[test]
fn a_treasurer_referendum_funds_a_bounty_that_pays_a_bug_reporter() {
	chain_from_preset("development").execute_with(|| {
		let (alice, bob, charlie, dave) = (
			Alice.to_account_id(),
			Bob.to_account_id(),
			Charlie.to_account_id(),
			Dave.to_account_id(),
		);
		let issuance = Balances::total_issuance();
		assert_ok!(Balances::transfer_keep_alive(
			signed(&alice),
			TreasuryAccount::get().into(),
			50_000 * UNIT
		));
		// Bob proposes a bounty for reports of a bug; Charlie will curate it.
		let value = 1_000 * UNIT;
		assert_ok!(Bounties::propose_bounty(
			signed(&bob),
			value,
			b"gateway: a voucher accepted twice".to_vec()
		));
		let bounty = pallet_bounties::BountyCount::<Runtime>::get() - 1;
		let call = RuntimeCall::Bounties(pallet_bounties::Call::approve_bounty_with_curator {
			bounty_id: bounty,
			curator: charlie.clone().into(),
			fee: 10 * UNIT,
		});
		let index =
			propose_and_vote(OriginCaller::Origins(Track::Treasurer), call, &alice, 900_000 * UNIT);
		assert!(run_until(60, || approved(index)));
		// Funded from the treasury at its next spend period.
		assert!(
			run_until(2 * tokenmeter_runtime::MINUTES * 10, || {
				matches!(
					pallet_bounties::Bounties::<Runtime>::get(bounty).map(|b| b.get_status()),
					Some(pallet_bounties::BountyStatus::CuratorProposed { .. })
				)
			}),
			"the bounty is funded"
		);
		assert_ok!(Bounties::accept_curator(signed(&charlie), bounty));
		// Dave reported the bug: the curator awards him the bounty, paid after the delay.
		assert_ok!(Bounties::award_bounty(signed(&charlie), bounty, dave.clone().into()));
		let before = Balances::balance(&dave);
		run_to_block(System::block_number() + 10 * tokenmeter_runtime::MINUTES + 1);
		assert_ok!(Bounties::claim_bounty(signed(&dave), bounty));
		assert_eq!(Balances::balance(&dave), before + value - 10 * UNIT);
		check_invariants();
		assert_eq!(Balances::total_issuance(), issuance);
	});
}

#[test]
fn a_parameters_referendum_sets_the_treasury_share_of_the_protocol_fee() {
	chain_from_preset("development").execute_with(|| {
		let (alice, bob) = (Alice.to_account_id(), Bob.to_account_id());
		let half = RuntimeParameters::Protocol(protocol::Parameters::TreasuryShare(
			protocol::TreasuryShare,
			Some(sp_runtime::Perbill::from_percent(50)),
		));
		// Not by a signed account: only Root or the parameters track.
		assert_noop!(
			Parameters::set_parameter(signed(&alice), half.clone()),
			sp_runtime::DispatchError::BadOrigin
		);
		assert_eq!(
			<protocol::TreasuryShare as frame_support::traits::Get<_>>::get(),
			sp_runtime::Perbill::from_percent(20)
		);
		let call =
			RuntimeCall::Parameters(pallet_parameters::Call::set_parameter { key_value: half });
		let index = propose_and_vote(
			OriginCaller::Origins(Track::ParameterSetter),
			call,
			&alice,
			900_000 * UNIT,
		);
		assert!(run_until(60, || approved(index)), "the referendum passes within minutes");
		assert!(
			run_until(5, || <protocol::TreasuryShare as frame_support::traits::Get<_>>::get()
				== sp_runtime::Perbill::from_percent(50)),
			"and is enacted"
		);

		// The next settlement splits the 5% fee half and half.
		let model = provide_model(&alice, MILLI_UNIT, MILLI_UNIT, AccessRule::Open);
		assert_ok!(InferenceCredits::deposit_credits(signed(&bob), 10 * UNIT));
		let (pool, treasury, issuance) = (
			Balances::balance(&RewardPoolAccount::get()),
			Balances::balance(&TreasuryAccount::get()),
			Balances::total_issuance(),
		);
		let entry = UsageEntry {
			user: bob.clone(),
			model,
			input_tokens: 1_000_000,
			output_tokens: 0,
			served_at: System::block_number(),
			voucher: signed_voucher(Bob, &alice, UNIT),
		};
		let summary = <InferenceCredits as SettleUsage<_>>::settle(&alice, vec![entry]).unwrap();
		assert_eq!((summary.charged, summary.fees), (UNIT, UNIT / 20));
		assert_eq!(Balances::balance(&RewardPoolAccount::get()), pool + UNIT / 40);
		assert_eq!(Balances::balance(&TreasuryAccount::get()), treasury + UNIT / 40);
		check_invariants();
		assert_eq!(Balances::total_issuance(), issuance);
	});
}

#[test]
fn the_testnet_has_no_sudo_and_a_root_referendum_adds_a_validator() {
	use codec::Encode;
	use sp_keystore::{testing::MemoryKeystore, KeystoreExt};
	use tokenmeter_runtime::{opaque::SessionKeys, Session, Sudo, ValidatorSet};

	let mut ext = chain_from_preset("testnet");
	ext.register_extension(KeystoreExt::new(MemoryKeystore::new()));
	ext.execute_with(|| {
		let (alice, bob, dave) = (Alice.to_account_id(), Bob.to_account_id(), Dave.to_account_id());
		assert_eq!(pallet_sudo::Key::<Runtime>::get(), None);
		let add = RuntimeCall::ValidatorSet(pallet_validator_set::Call::add_validator {
			who: dave.clone(),
		});
		assert_noop!(
			Sudo::sudo(signed(&alice), Box::new(add.clone())),
			pallet_sudo::Error::<Runtime>::RequireSudo
		);
		let keys = SessionKeys::generate(&dave.encode(), Some(b"//Dave".to_vec()));
		assert_ok!(Session::set_keys(signed(&dave), keys.keys, keys.proof.encode()));

		// The root track wants 10% of the issuance in support at first: Alice and Bob vote.
		let index = propose_and_vote(
			OriginCaller::system(frame_system::RawOrigin::Root),
			add,
			&alice,
			900_000 * UNIT,
		);
		let vote = AccountVote::Standard {
			vote: Vote { aye: true, conviction: Conviction::Locked1x },
			balance: 900_000 * UNIT,
		};
		assert_ok!(ConvictionVoting::vote(signed(&bob), index, vote));
		assert!(run_until(80, || approved(index)), "the referendum passes within minutes");
		assert!(
			run_until(15, || pallet_validator_set::Validators::<Runtime>::get().contains(&dave)),
			"and is enacted"
		);
		ValidatorSet::do_try_state().unwrap();
		check_invariants();
	});
}

#[test]
fn a_spend_period_set_to_zero_reads_as_one_block_and_the_chain_goes_on() {
	use frame_support::traits::Get;
	use tokenmeter_runtime::configs::parameters::{dynamic_params::treasury, AtLeastOneBlock};

	chain_from_preset("development").execute_with(|| {
		assert_eq!(<AtLeastOneBlock<treasury::SpendPeriod> as Get<u32>>::get(), 10 * 10);
		let zero = RuntimeParameters::Treasury(treasury::Parameters::SpendPeriod(
			treasury::SpendPeriod,
			Some(0),
		));
		assert_ok!(Parameters::set_parameter(RuntimeOrigin::root(), zero));
		assert_eq!(<treasury::SpendPeriod as Get<u32>>::get(), 0);
		assert_eq!(<AtLeastOneBlock<treasury::SpendPeriod> as Get<u32>>::get(), 1);
		// The treasury's hook divides by the period in every block.
		run_to_block(System::block_number() + 3);
		check_invariants();
	});
}
