use super::*;
use crate::mock::*;
use frame_support::traits::tokens::Preservation;
use frame_support::{assert_noop, assert_ok, traits::fungible::Mutate};

#[test]
fn register_model_assigns_ids_and_holds_a_deposit() {
	run_test(|| {
		register_provider(&alice());
		assert_ok!(InferenceCredits::register_model(
			RuntimeOrigin::signed(alice()),
			name("llama"),
			1_000,
			3_000,
			AccessRule::MinBalance(500)
		));
		System::assert_last_event(
			Event::ModelRegistered {
				model: 0,
				provider: alice(),
				price_per_1k_input: 1_000,
				price_per_1k_output: 3_000,
				access: AccessRule::MinBalance(500),
			}
			.into(),
		);
		let model = Models::<Test>::get(0).unwrap();
		assert_eq!(model.provider, alice());
		assert_eq!(model.name.to_vec(), b"llama".to_vec());
		assert!(!model.retired);
		let deposit = held(HoldReason::ModelDeposit, &alice());
		assert!(deposit > DEPOSIT_BASE, "deposit {deposit} does not grow with the record");
		assert_eq!(register_model(&alice(), AccessRule::Open), 1);
		assert_eq!(held(HoldReason::ModelDeposit, &alice()), 2 * deposit);
		assert_eq!(Providers::<Test>::get(alice()).unwrap().models.to_vec(), vec![0, 1]);
		assert_eq!(NextModelId::<Test>::get(), 2);
	});
}

#[test]
fn only_a_provider_registers_models() {
	run_test(|| {
		assert_noop!(
			InferenceCredits::register_model(
				RuntimeOrigin::signed(bob()),
				name("m"),
				1,
				1,
				AccessRule::Open
			),
			Error::<Test>::NotProvider
		);
	});
}

#[test]
fn register_model_errors_change_nothing() {
	run_test(|| {
		register_provider(&alice());
		assert_noop!(
			InferenceCredits::register_model(
				RuntimeOrigin::signed(alice()),
				name(""),
				1,
				1,
				AccessRule::Open
			),
			Error::<Test>::EmptyName
		);
		for _ in 0..4 {
			register_model(&alice(), AccessRule::Open);
		}
		assert_noop!(
			InferenceCredits::register_model(
				RuntimeOrigin::signed(alice()),
				name("m"),
				1,
				1,
				AccessRule::Open
			),
			Error::<Test>::TooManyModels
		);
		// A provider that cannot pay the deposit.
		register_provider(&bob());
		let spare = free(&bob()) - ED;
		assert_ok!(<Balances as Mutate<AccountId>>::transfer(
			&bob(),
			&charlie(),
			spare,
			Preservation::Preserve
		));
		assert_noop!(
			InferenceCredits::register_model(
				RuntimeOrigin::signed(bob()),
				name("m"),
				1,
				1,
				AccessRule::Open
			),
			Error::<Test>::InsufficientBalance
		);
	});
}

#[test]
fn update_model_changes_prices_and_access() {
	run_test(|| {
		register_provider(&alice());
		let id = register_model(&alice(), AccessRule::Open);
		assert_ok!(InferenceCredits::update_model(
			RuntimeOrigin::signed(alice()),
			id,
			7,
			9,
			AccessRule::MinBalanceAndTier(100, 2)
		));
		let model = Models::<Test>::get(id).unwrap();
		assert_eq!((model.price_per_1k_input, model.price_per_1k_output), (7, 9));
		assert_eq!(model.access, AccessRule::MinBalanceAndTier(100, 2));
		System::assert_last_event(
			Event::ModelUpdated {
				model: id,
				price_per_1k_input: 7,
				price_per_1k_output: 9,
				access: AccessRule::MinBalanceAndTier(100, 2),
				effective_from: 1,
			}
			.into(),
		);
	});
}

#[test]
fn update_and_retire_model_errors_change_nothing() {
	run_test(|| {
		register_provider(&alice());
		register_provider(&bob());
		let id = register_model(&alice(), AccessRule::Open);
		assert_noop!(
			InferenceCredits::update_model(
				RuntimeOrigin::signed(alice()),
				99,
				1,
				1,
				AccessRule::Open
			),
			Error::<Test>::UnknownModel
		);
		assert_noop!(
			InferenceCredits::update_model(
				RuntimeOrigin::signed(bob()),
				id,
				1,
				1,
				AccessRule::Open
			),
			Error::<Test>::NotModelProvider
		);
		assert_noop!(
			InferenceCredits::retire_model(RuntimeOrigin::signed(bob()), id),
			Error::<Test>::NotModelProvider
		);
		assert_noop!(
			InferenceCredits::retire_model(RuntimeOrigin::signed(alice()), 99),
			Error::<Test>::UnknownModel
		);
		assert_ok!(InferenceCredits::retire_model(RuntimeOrigin::signed(alice()), id));
		System::assert_last_event(Event::ModelRetired { model: id }.into());
		assert!(Models::<Test>::get(id).unwrap().retired);
		assert_noop!(
			InferenceCredits::retire_model(RuntimeOrigin::signed(alice()), id),
			Error::<Test>::ModelRetired
		);
		assert_noop!(
			InferenceCredits::update_model(
				RuntimeOrigin::signed(alice()),
				id,
				1,
				1,
				AccessRule::Open
			),
			Error::<Test>::ModelRetired
		);
	});
}
