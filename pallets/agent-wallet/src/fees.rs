//! Agents that pay their controller's transaction fees.
//!
//! [`AgentPaysFees`] wraps the runtime's fee handler (`pallet_transaction_payment`'s
//! `OnChargeTransaction`). For a `pay` or `act` signed by an agent's controller, when the
//! agent's policy has `pays_fees` and the agent may spend, the fee is withdrawn from the agent
//! instead of the controller and counted against the agent's period cap; a fee the period cap
//! cannot cover makes the transaction invalid (`Payment`), so a stolen controller key cannot
//! drain the agent through fees either. The refund of an overestimated fee goes back to the
//! agent and is taken off what it spent. Every other transaction is charged by the wrapped
//! handler as before.

use crate::{BalanceOf, Config, Pallet};
use core::marker::PhantomData;
use pallet_transaction_payment::{OnChargeTransaction, TxCreditHold};
use sp_runtime::{
	traits::{DispatchInfoOf, PostDispatchInfoOf, Saturating},
	transaction_validity::{InvalidTransaction, TransactionValidityError},
};

/// The runtime's fee handler `Inner`, with agents paying for their controllers where their
/// policy says so.
pub struct AgentPaysFees<T, Inner>(PhantomData<(T, Inner)>);

impl<T, Inner> TxCreditHold<T> for AgentPaysFees<T, Inner>
where
	T: Config + pallet_transaction_payment::Config,
	Inner: TxCreditHold<T>,
{
	type Credit = Inner::Credit;
}

impl<T, Inner> OnChargeTransaction<T> for AgentPaysFees<T, Inner>
where
	T: Config + pallet_transaction_payment::Config,
	Inner: OnChargeTransaction<T, Balance = BalanceOf<T>>,
{
	type Balance = BalanceOf<T>;
	/// The paying agent and the fee counted against its period cap, if an agent paid.
	type LiquidityInfo = (Option<(T::AccountId, BalanceOf<T>)>, Inner::LiquidityInfo);

	fn withdraw_fee(
		who: &T::AccountId,
		call: &<T as frame_system::Config>::RuntimeCall,
		dispatch_info: &DispatchInfoOf<<T as frame_system::Config>::RuntimeCall>,
		fee_with_tip: Self::Balance,
		tip: Self::Balance,
	) -> Result<Self::LiquidityInfo, TransactionValidityError> {
		let Some(agent) = Pallet::<T>::fee_payer(who, call) else {
			return Ok((None, Inner::withdraw_fee(who, call, dispatch_info, fee_with_tip, tip)?));
		};
		if !Pallet::<T>::may_pay_fee(&agent, fee_with_tip) {
			return Err(InvalidTransaction::Payment.into());
		}
		let liquidity = Inner::withdraw_fee(&agent, call, dispatch_info, fee_with_tip, tip)?;
		Pallet::<T>::record_fee(&agent, fee_with_tip);
		Ok((Some((agent, fee_with_tip)), liquidity))
	}

	fn can_withdraw_fee(
		who: &T::AccountId,
		call: &<T as frame_system::Config>::RuntimeCall,
		dispatch_info: &DispatchInfoOf<<T as frame_system::Config>::RuntimeCall>,
		fee_with_tip: Self::Balance,
		tip: Self::Balance,
	) -> Result<(), TransactionValidityError> {
		let Some(agent) = Pallet::<T>::fee_payer(who, call) else {
			return Inner::can_withdraw_fee(who, call, dispatch_info, fee_with_tip, tip);
		};
		if !Pallet::<T>::may_pay_fee(&agent, fee_with_tip) {
			return Err(InvalidTransaction::Payment.into());
		}
		Inner::can_withdraw_fee(&agent, call, dispatch_info, fee_with_tip, tip)
	}

	fn correct_and_deposit_fee(
		who: &T::AccountId,
		dispatch_info: &DispatchInfoOf<<T as frame_system::Config>::RuntimeCall>,
		post_info: &PostDispatchInfoOf<<T as frame_system::Config>::RuntimeCall>,
		corrected_fee_with_tip: Self::Balance,
		tip: Self::Balance,
		(payer, liquidity): Self::LiquidityInfo,
	) -> Result<(), TransactionValidityError> {
		let Some((agent, charged)) = payer else {
			return Inner::correct_and_deposit_fee(
				who,
				dispatch_info,
				post_info,
				corrected_fee_with_tip,
				tip,
				liquidity,
			);
		};
		Inner::correct_and_deposit_fee(
			&agent,
			dispatch_info,
			post_info,
			corrected_fee_with_tip,
			tip,
			liquidity,
		)?;
		Pallet::<T>::refund_fee(&agent, charged.saturating_sub(corrected_fee_with_tip));
		Ok(())
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn endow_account(who: &T::AccountId, amount: Self::Balance) {
		Inner::endow_account(who, amount)
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn minimum_balance() -> Self::Balance {
		Inner::minimum_balance()
	}
}
