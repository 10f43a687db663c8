use super::*;
use crate::mock::*;
use frame_support::{assert_noop, assert_ok};

#[test]
fn register_provider_holds_the_bond() {
	run_test(|| {
		register_provider(&alice());
		let provider = Providers::<Test>::get(alice()).unwrap();
		assert_eq!(provider.name.to_vec(), b"provider".to_vec());
		assert_eq!(provider.endpoint.to_vec(), b"https://gw.example".to_vec());
		assert_eq!(provider.bond, PROVIDER_BOND);
		assert_eq!(held(HoldReason::ProviderBond, &alice()), PROVIDER_BOND);
		assert_eq!(free(&alice()), INITIAL_BALANCE - PROVIDER_BOND);
		System::assert_last_event(
			Event::ProviderRegistered { provider: alice(), bond: PROVIDER_BOND }.into(),
		);
	});
}

#[test]
fn register_provider_errors_change_nothing() {
	run_test(|| {
		register_provider(&alice());
		assert_noop!(
			InferenceCredits::register_provider(
				RuntimeOrigin::signed(alice()),
				name("x"),
				endpoint("")
			),
			Error::<Test>::AlreadyProvider
		);
		assert_noop!(
			InferenceCredits::register_provider(
				RuntimeOrigin::signed(bob()),
				name(""),
				endpoint("")
			),
			Error::<Test>::EmptyName
		);
		assert_noop!(
			InferenceCredits::register_provider(
				RuntimeOrigin::signed(pauper()),
				name("x"),
				endpoint("")
			),
			Error::<Test>::InsufficientBalance
		);
		assert_noop!(
			InferenceCredits::register_provider(RuntimeOrigin::none(), name("x"), endpoint("")),
			sp_runtime::DispatchError::BadOrigin
		);
	});
}

#[test]
fn update_provider_changes_metadata() {
	run_test(|| {
		register_provider(&alice());
		assert_ok!(InferenceCredits::update_provider(
			RuntimeOrigin::signed(alice()),
			name("renamed"),
			endpoint("https://new.example")
		));
		let provider = Providers::<Test>::get(alice()).unwrap();
		assert_eq!(provider.name.to_vec(), b"renamed".to_vec());
		assert_eq!(provider.endpoint.to_vec(), b"https://new.example".to_vec());
		System::assert_last_event(Event::ProviderUpdated { provider: alice() }.into());
	});
}

#[test]
fn update_provider_errors_change_nothing() {
	run_test(|| {
		register_provider(&alice());
		assert_noop!(
			InferenceCredits::update_provider(
				RuntimeOrigin::signed(bob()),
				name("x"),
				endpoint("")
			),
			Error::<Test>::NotProvider
		);
		assert_noop!(
			InferenceCredits::update_provider(
				RuntimeOrigin::signed(alice()),
				name(""),
				endpoint("")
			),
			Error::<Test>::EmptyName
		);
	});
}

#[test]
fn retire_provider_needs_every_model_retired() {
	run_test(|| {
		register_provider(&alice());
		let first = register_model(&alice(), AccessRule::Open);
		let _second = register_model(&alice(), AccessRule::Open);
		assert_ok!(InferenceCredits::retire_model(RuntimeOrigin::signed(alice()), first));
		assert_noop!(
			InferenceCredits::retire_provider(RuntimeOrigin::signed(alice())),
			Error::<Test>::ProviderHasActiveModels
		);
		assert_noop!(
			InferenceCredits::retire_provider(RuntimeOrigin::signed(bob())),
			Error::<Test>::NotProvider
		);
	});
}

#[test]
fn retire_provider_removes_models_and_releases_everything() {
	run_test(|| {
		register_provider(&alice());
		let first = register_model(&alice(), AccessRule::Open);
		let second = register_model(&alice(), AccessRule::MinTier(1));
		assert!(held(HoldReason::ModelDeposit, &alice()) > 0);
		assert_ok!(InferenceCredits::retire_model(RuntimeOrigin::signed(alice()), first));
		assert_ok!(InferenceCredits::retire_model(RuntimeOrigin::signed(alice()), second));
		assert_ok!(InferenceCredits::retire_provider(RuntimeOrigin::signed(alice())));
		assert!(Providers::<Test>::get(alice()).is_none());
		assert!(Models::<Test>::get(first).is_none());
		assert!(Models::<Test>::get(second).is_none());
		assert_eq!(held(HoldReason::ProviderBond, &alice()), 0);
		assert_eq!(held(HoldReason::ModelDeposit, &alice()), 0);
		assert_eq!(free(&alice()), INITIAL_BALANCE);
		System::assert_last_event(
			Event::ProviderRetired { provider: alice(), bond: PROVIDER_BOND, models_removed: 2 }
				.into(),
		);
		// Ids are never reused.
		register_provider(&alice());
		assert_eq!(register_model(&alice(), AccessRule::Open), 2);
	});
}
