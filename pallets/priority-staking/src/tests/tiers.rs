use super::*;
use frame_support::{assert_noop, BoundedVec};
use sp_runtime::DispatchError;

fn bounded(tiers: Vec<TierInfo<Balance>>) -> TiersOf<Test> {
	BoundedVec::try_from(tiers).unwrap()
}

fn tier_at(min_stake: Balance) -> TierInfo<Balance> {
	TierInfo { min_stake, priority_weight: 1, rate_limit: 1, free_allowance: 0 }
}

#[test]
fn root_sets_tiers_and_they_apply_at_once() {
	run_test(|| {
		warm_stake(ALICE, 10_000);
		assert_eq!(tier(ALICE), 2);
		let new = bounded(vec![tier_at(20_000)]);
		assert_ok!(PriorityStaking::set_tiers(RuntimeOrigin::root(), new.clone()));
		System::assert_last_event(Event::TiersSet { tiers: new.clone() }.into());
		assert_eq!(Tiers::<Test>::get(), new);
		assert_eq!(tier(ALICE), 0);
		// No tiers at all is allowed.
		assert_ok!(PriorityStaking::set_tiers(RuntimeOrigin::root(), bounded(vec![])));
		assert_eq!(tier(ALICE), 0);
	});
}

#[test]
fn set_tiers_errors_change_nothing() {
	run_test(|| {
		let good = bounded(vec![tier_at(1)]);
		assert_noop!(
			PriorityStaking::set_tiers(RuntimeOrigin::signed(ALICE), good),
			DispatchError::BadOrigin
		);
		for bad in [vec![tier_at(0)], vec![tier_at(10), tier_at(10)], vec![tier_at(10), tier_at(5)]]
		{
			assert_noop!(
				PriorityStaking::set_tiers(RuntimeOrigin::root(), bounded(bad)),
				Error::<Test>::InvalidTiers
			);
		}
	});
}

#[test]
fn tier_boundaries_and_priority_report() {
	run_test(|| {
		let info = PriorityStaking::priority_of(&BOB);
		assert_eq!(
			(info.tier, info.priority_weight, info.rate_limit, info.allowance_left),
			(0, 0, DEFAULT_RATE_LIMIT, 0)
		);
		assert_eq!(PriorityStaking::tier_for(999).0, 0);
		assert_eq!(PriorityStaking::tier_for(1_000).0, 1);
		assert_eq!(PriorityStaking::tier_for(99_999).0, 2);
		assert_eq!(PriorityStaking::tier_for(100_000).0, 3);
		assert_eq!(PriorityStaking::tier_for(Balance::MAX).0, 3);
		warm_stake(BOB, 100_000);
		let info = PriorityStaking::priority_of(&BOB);
		assert_eq!(info.tier, 3);
		assert_eq!(info.priority_weight, 20);
		assert_eq!(info.rate_limit, 1_200);
		assert_eq!(info.effective_stake, 100_000);
		assert_eq!(info.warming_up, 0);
		assert_eq!(info.allowance_left, 5_000);
		assert_eq!(info.epoch, 0);
		assert_eq!(info.next_epoch_at, EPOCH);
	});
}

#[test]
fn root_sets_params_and_epochs_only_move_forward() {
	run_test(|| {
		go_to(250);
		assert_eq!(PriorityStaking::current_epoch(), (2, 200));
		let params = StakingParams { warm_up: 1, unbonding_period: 2, epoch_length: 1_000 };
		assert_ok!(PriorityStaking::set_params(RuntimeOrigin::root(), params));
		System::assert_last_event(Event::ParamsSet { params }.into());
		assert_eq!(Params::<Test>::get(), params);
		// The current epoch keeps its number and start; the new length counts from there.
		assert_eq!(PriorityStaking::current_epoch(), (2, 200));
		go_to(1_199);
		assert_eq!(PriorityStaking::current_epoch(), (2, 200));
		go_to(1_200);
		assert_eq!(PriorityStaking::current_epoch(), (3, 1_200));
		// New stake warms up with the new period.
		stake(ALICE, 1_000);
		System::assert_last_event(
			Event::Staked { who: ALICE, amount: 1_000, effective_at: 1_201, bonded: 1_000 }.into(),
		);
	});
}

#[test]
fn set_params_errors_change_nothing() {
	run_test(|| {
		let params = StakingParams { warm_up: 1, unbonding_period: 2, epoch_length: 3 };
		assert_noop!(
			PriorityStaking::set_params(RuntimeOrigin::signed(ALICE), params),
			DispatchError::BadOrigin
		);
		assert_noop!(
			PriorityStaking::set_params(
				RuntimeOrigin::root(),
				StakingParams { epoch_length: 0, ..params }
			),
			Error::<Test>::ZeroEpochLength
		);
	});
}

#[test]
fn shorter_periods_keep_chunks_in_order() {
	// Found by the runtime fuzzer: root shortened the warm-up and the unbonding period, and
	// new chunks were appended after older ones that are due later.
	run_test(|| {
		stake(ALICE, 1_000); // warm until 11
		unstake(ALICE, 100); // unbonding until 21
		let params = StakingParams { warm_up: 2, unbonding_period: 3, epoch_length: EPOCH };
		assert_ok!(PriorityStaking::set_params(RuntimeOrigin::root(), params));
		go_to(2);
		stake(ALICE, 500); // warm until 4: before the older chunk
		stake(ALICE, 5); // the same block: the chunk grows
		unstake(ALICE, 200); // unbonding until 5, taken from the chunk that counts last
		let info = PriorityStaking::priority_of(&ALICE);
		assert_eq!(
			info.warming_chunks,
			vec![Chunk { amount: 505, at: 4 }, Chunk { amount: 700, at: 11 }]
		);
		assert_eq!(
			info.unbonding,
			vec![Chunk { amount: 200, at: 5 }, Chunk { amount: 100, at: 21 }]
		);
		assert_ok!(PriorityStaking::do_try_state());
		// Each chunk keeps its own block: the early one counts and unlocks first.
		go_to(5);
		assert_eq!(PriorityStaking::effective_stake(&ALICE), 505);
		assert_ok!(PriorityStaking::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		assert_eq!(frozen(ALICE), 1_305, "1,505 staked, 200 withdrawn");
		assert_ok!(PriorityStaking::do_try_state());
	});
}
