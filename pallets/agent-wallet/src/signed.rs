//! Payments the controller signs off chain (`pay_signed`): the message signed, the fee, the
//! authorization the runtime runs before the transaction enters the pool or a block, and the
//! payment.

use crate::{pallet::*, types::*, WeightInfo};
use alloc::{vec, vec::Vec};
use codec::{Encode, MaxEncodedLen};
use frame_support::{
	ensure,
	pallet_prelude::*,
	traits::{
		fungible::{Inspect, Mutate},
		tokens::{DepositConsequence, Fortitude, Precision, Preservation, Provenance},
	},
};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::{
	traits::{One, SaturatedConversion, Saturating, Verify, Zero},
	transaction_validity::{
		InvalidTransaction, TransactionSource, TransactionValidityError,
		TransactionValidityWithRefund, ValidTransaction,
	},
	DispatchError,
};
use tokenmeter_primitives::wrap_bytes;

/// Domain separator of signed payments and their pool tags (a fixed-size array: encoded
/// without a length prefix).
const SIGNED_PAYMENT_DOMAIN: &[u8; 20] = b"tokenmeter/agent-pay";

/// A dispatch error as a transaction validity error: this pallet's errors as `Custom` with
/// their index, a token error (funds) as `Payment`, anything else as `Call`.
fn invalid(error: DispatchError) -> TransactionValidityError {
	match error {
		DispatchError::Module(sp_runtime::ModuleError { error, .. }) => {
			InvalidTransaction::Custom(error.first().copied().unwrap_or_default())
		}
		DispatchError::Token(_) => InvalidTransaction::Payment,
		_ => InvalidTransaction::Call,
	}
	.into()
}

impl<T: Config> Pallet<T> {
	/// What the controller signs for `pay_signed`: the SCALE encoding of
	/// `(b"tokenmeter/agent-pay", genesis_hash, agent, payee, amount, nonce, valid_until)`.
	pub fn signed_payment_message(
		agent: &T::AccountId,
		payee: &T::AccountId,
		amount: BalanceOf<T>,
		nonce: PaymentId,
		valid_until: BlockNumberFor<T>,
	) -> Vec<u8> {
		let genesis = frame_system::Pallet::<T>::block_hash(BlockNumberFor::<T>::zero());
		(SIGNED_PAYMENT_DOMAIN, genesis, agent, payee, amount, nonce, valid_until).encode()
	}

	/// The encoded length of a `pay_signed` transaction with these arguments, for its fee:
	/// the call's arguments, the pallet and call indexes, and a general transaction's
	/// preamble, extension version, immortal era, nonce and tip (one byte each) behind a
	/// two-byte length.
	pub(crate) fn signed_payment_length(
		agent: &T::AccountId,
		payee: &T::AccountId,
		amount: &BalanceOf<T>,
		signature: &PaymentSignatureOf<T>,
	) -> u32 {
		let arguments = agent
			.encoded_size()
			.saturating_add(payee.encoded_size())
			.saturating_add(amount.encoded_size())
			.saturating_add(PaymentId::max_encoded_len())
			.saturating_add(BlockNumberFor::<T>::max_encoded_len())
			.saturating_add(signature.encoded_size());
		u32::try_from(arguments.saturating_add(9)).unwrap_or(u32::MAX)
	}

	/// The fee an agent pays for a signed payment of `length` bytes: its weight (the
	/// authorization and the payment) and length, as the runtime prices transactions.
	pub fn signed_payment_fee(length: u32) -> BalanceOf<T> {
		// The authorization and the payment, measured together.
		<T::SignedPaymentFee as crate::SignedPaymentFee<_>>::fee(
			T::WeightInfo::pay_signed(),
			length,
		)
	}

	/// Checks a signed payment against the agent as it is now (all but the signature and the
	/// nonce): returns the agent's record with the payment and its fee counted, and the fee.
	fn check_signed_payment(
		mut info: AgentOf<T>,
		agent: &T::AccountId,
		payee: &T::AccountId,
		amount: BalanceOf<T>,
		valid_until: BlockNumberFor<T>,
		length: u32,
	) -> Result<(AgentOf<T>, BalanceOf<T>), DispatchError> {
		ensure!(Self::now() <= valid_until, Error::<T>::SignedPaymentExpired);
		Self::ensure_may_spend(&info)?;
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		ensure!(info.policy.allows_payee(payee), Error::<T>::PayeeNotAllowed);
		ensure!(amount <= info.policy.cosign_threshold, Error::<T>::CosignRequired);
		let fee = Self::signed_payment_fee(length);
		Self::charge(&mut info, amount)?;
		info.spent = info.spent.saturating_add(fee);
		ensure!(info.spent <= info.policy.period_cap, Error::<T>::PeriodCapExceeded);
		let available =
			T::Currency::reducible_balance(agent, Preservation::Preserve, Fortitude::Polite);
		ensure!(amount.saturating_add(fee) <= available, Error::<T>::InsufficientBalance);
		// Everything the transfer would refuse is refused here, before the transaction takes
		// block space: a payment that failed when dispatched would pay no fee.
		ensure!(
			T::Currency::can_deposit(payee, amount, Provenance::Extant)
				== DepositConsequence::Success,
			Error::<T>::PayeeCannotReceive
		);
		Ok((info, fee))
	}

	/// `pay_signed`'s authorization, which the runtime runs when the transaction enters the
	/// pool and again right before it is dispatched in a block: the controller's signature,
	/// the nonce (a later one waits in the pool for the ones before it; in a block only the
	/// next one is valid) and everything the payment will check.
	pub(crate) fn authorize_pay_signed(
		source: TransactionSource,
		agent: &T::AccountId,
		payee: &T::AccountId,
		amount: &BalanceOf<T>,
		nonce: &PaymentId,
		valid_until: &BlockNumberFor<T>,
		signature: &PaymentSignatureOf<T>,
	) -> TransactionValidityWithRefund {
		let info = Self::agent_of(agent).map_err(invalid)?;
		let next = info.next_payment_id;
		ensure!(*nonce >= next, InvalidTransaction::Stale);
		ensure!(*nonce == next || source != TransactionSource::InBlock, InvalidTransaction::Future);
		Self::payment_id_after(*nonce).map_err(|error| invalid(error.into()))?;
		let message = Self::signed_payment_message(agent, payee, *amount, *nonce, *valid_until);
		let valid = match signature {
			PaymentSignature::Bare(signature) => signature.verify(&message[..], &info.controller),
			PaymentSignature::Wrapped(signature) => {
				signature.verify(&wrap_bytes(&message)[..], &info.controller)
			}
		};
		ensure!(valid, InvalidTransaction::BadProof);
		let length = Self::signed_payment_length(agent, payee, amount, signature);
		Self::check_signed_payment(info, agent, payee, *amount, *valid_until, length).map_err(
			|error| {
				if error == Error::<T>::InsufficientBalance.into() {
					InvalidTransaction::Payment.into()
				} else {
					invalid(error)
				}
			},
		)?;

		let tag = |nonce: PaymentId| (SIGNED_PAYMENT_DOMAIN, agent, nonce).encode();
		let longevity = valid_until.saturating_sub(Self::now()).saturating_add(One::one());
		Ok((
			ValidTransaction {
				priority: 0,
				requires: if *nonce > next { vec![tag(nonce.saturating_sub(1))] } else { vec![] },
				provides: vec![tag(*nonce)],
				longevity: longevity.saturated_into::<u64>(),
				propagate: true,
			},
			Weight::zero(),
		))
	}

	pub(crate) fn do_pay_signed(
		agent: T::AccountId,
		payee: T::AccountId,
		amount: BalanceOf<T>,
		nonce: PaymentId,
		valid_until: BlockNumberFor<T>,
		length: u32,
	) -> DispatchResult {
		let info = Self::agent_of(&agent)?;
		ensure!(nonce == info.next_payment_id, Error::<T>::WrongNonce);
		let (mut info, fee) =
			Self::check_signed_payment(info, &agent, &payee, amount, valid_until, length)?;
		info.next_payment_id = Self::payment_id_after(nonce)?;
		T::Currency::transfer(&agent, &payee, amount, Preservation::Preserve)?;
		T::Currency::burn_from(
			&agent,
			fee,
			Preservation::Preserve,
			Precision::Exact,
			Fortitude::Polite,
		)?;
		let spent = info.spent;
		let remaining = info.policy.period_cap.saturating_sub(spent);
		Agents::<T>::insert(&agent, info);
		Self::deposit_event(Event::PaidBySignature {
			agent,
			payee,
			amount,
			fee,
			nonce,
			spent,
			remaining,
		});
		Ok(())
	}
}
