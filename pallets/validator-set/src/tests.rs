//! Unit tests against the mock runtime: every call and error, with nothing changed on error,
//! the hand-over to the session pallet, and the genesis checks.

use crate::{mock::*, *};
use frame_support::{assert_noop, assert_ok};
use pallet_session::SessionManager;
use sp_runtime::DispatchError;

fn validators() -> Vec<AccountId> {
	Validators::<Test>::get().into_inner()
}

fn last_event() -> Event<Test> {
	match System::events().pop().expect("an event").event {
		RuntimeEvent::ValidatorSet(e) => e,
		other => panic!("not ours: {other:?}"),
	}
}

#[test]
fn root_adds_and_removes_validators() {
	run_test(|| {
		assert_ok!(ValidatorSet::add_validator(RuntimeOrigin::root(), 4));
		assert_eq!(validators(), vec![1, 2, 3, 4]);
		assert_eq!(last_event(), Event::ValidatorAdded { who: 4 });
		assert_ok!(ValidatorSet::remove_validator(RuntimeOrigin::root(), 2));
		assert_eq!(validators(), vec![1, 3, 4]);
		assert_eq!(last_event(), Event::ValidatorRemoved { who: 2 });
	});
}

#[test]
fn only_root_changes_the_set() {
	run_test(|| {
		assert_noop!(
			ValidatorSet::add_validator(RuntimeOrigin::signed(4), 4),
			DispatchError::BadOrigin
		);
		assert_noop!(
			ValidatorSet::remove_validator(RuntimeOrigin::signed(1), 2),
			DispatchError::BadOrigin
		);
		assert!(!Changed::<Test>::get());
	});
}

#[test]
fn bad_changes_fail_and_change_nothing() {
	run_test(|| {
		assert_noop!(
			ValidatorSet::add_validator(RuntimeOrigin::root(), 2),
			Error::<Test>::AlreadyValidator
		);
		// Without session keys it could not author or vote.
		assert_noop!(
			ValidatorSet::add_validator(RuntimeOrigin::root(), 100),
			Error::<Test>::NoSessionKeys
		);
		assert_noop!(
			ValidatorSet::remove_validator(RuntimeOrigin::root(), 9),
			Error::<Test>::NotValidator
		);
		assert_ok!(ValidatorSet::add_validator(RuntimeOrigin::root(), 4));
		assert_noop!(
			ValidatorSet::add_validator(RuntimeOrigin::root(), 5),
			Error::<Test>::TooManyValidators
		);
		assert_ok!(ValidatorSet::remove_validator(RuntimeOrigin::root(), 4));
		assert_ok!(ValidatorSet::remove_validator(RuntimeOrigin::root(), 3));
		assert_noop!(
			ValidatorSet::remove_validator(RuntimeOrigin::root(), 1),
			Error::<Test>::TooFewValidators
		);
		assert_eq!(validators(), vec![1, 2]);
	});
}

#[test]
fn the_session_pallet_gets_the_set_only_when_it_changed() {
	run_test(|| {
		assert_eq!(ValidatorSet::new_session_genesis(0), Some(vec![1, 2, 3]));
		assert_eq!(ValidatorSet::new_session(1), None);
		assert_ok!(ValidatorSet::add_validator(RuntimeOrigin::root(), 4));
		assert_ok!(ValidatorSet::remove_validator(RuntimeOrigin::root(), 1));
		assert_eq!(ValidatorSet::new_session(2), Some(vec![2, 3, 4]));
		assert_eq!(ValidatorSet::new_session(3), None);
	});
}

#[test]
fn genesis_must_be_a_valid_set() {
	assert_eq!(ValidatorSet::check_genesis(&[1, 2]).map(|v| v.into_inner()), Ok(vec![1, 2]));
	assert_eq!(ValidatorSet::check_genesis(&[1]), Err("fewer than MinValidators"));
	// Empty: the session pallet's genesis keys decide.
	assert_eq!(ValidatorSet::check_genesis(&[]).map(|v| v.len()), Ok(0));
	assert_eq!(ValidatorSet::check_genesis(&[1, 2, 1]), Err("a validator twice"));
	assert_eq!(ValidatorSet::check_genesis(&[1, 2, 3, 4, 5]), Err("more than MaxValidators"));
}

#[test]
fn try_state_catches_a_broken_set() {
	new_test_ext().execute_with(|| {
		Validators::<Test>::put(frame_support::BoundedVec::truncate_from(vec![1, 1, 2]));
		assert!(ValidatorSet::do_try_state().is_err());
		Validators::<Test>::put(frame_support::BoundedVec::truncate_from(vec![1]));
		assert!(ValidatorSet::do_try_state().is_err());
	});
}
