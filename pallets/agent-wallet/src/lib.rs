#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
// Runtime code never panics and never overflows silently (tests and mocks are exempt):
// checked or saturating arithmetic, `get` instead of indexing, errors instead of unwraps.
#![cfg_attr(
	not(test),
	deny(
		clippy::arithmetic_side_effects,
		clippy::unwrap_used,
		clippy::expect_used,
		clippy::indexing_slicing
	)
)]
#![deny(missing_docs)]

extern crate alloc;

pub use fees::AgentPaysFees;
pub use pallet::*;
pub use tokenmeter_primitives::{wrap_bytes, VoucherSigners};
pub use types::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod fees;
mod impls;
pub mod migrations;
#[cfg(test)]
mod mock;
pub mod runtime_api;
mod signed;
#[cfg(test)]
mod tests;
mod types;
pub mod weights;

/// Which calls an agent may make, declared once in the runtime. An allowlist: anything it
/// does not name is refused, at the top of `act` and nested anywhere inside it.
pub trait AgentCalls<Call, AccountId> {
	/// Whether an agent may make `call` when its policy lets it pay `payees` (`None`:
	/// anyone), at the top of `act` or nested. A call that pays someone must name an allowed
	/// payee.
	fn allows(call: &Call, payees: Option<&[AccountId]>) -> bool;

	/// Whether an agent may make `call` only as the whole of an `act`, never nested: calls
	/// that bring funds in from elsewhere (reward claims). `act` measures the agent's net
	/// outflow, so such a call batched with a transfer would hide the transfer.
	fn allows_alone(_call: &Call) -> bool {
		false
	}
}

/// The fee an agent pays for a payment its controller signed (`pay_signed`), which no
/// transaction signer pays: what the runtime's transaction payment would charge a
/// transaction of `weight` and `length` bytes.
pub trait SignedPaymentFee<Balance> {
	/// The fee of a transaction of `weight` and `length` bytes.
	fn fee(weight: Weight, length: u32) -> Balance;
}

/// No fee (tests only: a chain must charge for the block space).
impl<Balance: Default> SignedPaymentFee<Balance> for () {
	fn fee(_weight: Weight, _length: u32) -> Balance {
		Balance::default()
	}
}

/// Sets up what the benchmarks need, which the pallet cannot know.
#[cfg(feature = "runtime-benchmarks")]
pub trait BenchmarkHelper<Call, AccountId, Signature> {
	/// A call every agent may make that moves no funds.
	fn harmless_call() -> Call;
	/// An account whose key the benchmark can sign with (the most expensive scheme to check).
	fn signer() -> AccountId;
	/// `message` signed by [`Self::signer`].
	fn sign(message: &[u8]) -> Signature;
}

// FRAME's pallet macros expand to `expect`s with proofs (pallet names, storage prefixes,
// error encodings) under this module's spans; the pallet's own logic lives in `impls.rs`,
// where `expect` stays denied. The `authorize` attribute expands to a function-pointer type
// of all of `pay_signed`'s arguments, which `type_complexity` flags.
#[allow(clippy::expect_used, clippy::type_complexity)]
#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::boxed::Box;
	use frame_support::{
		dispatch::{GetDispatchInfo, PostDispatchInfo},
		pallet_prelude::*,
		traits::{fungible::Mutate, Consideration, Footprint, IsSubType, UnfilteredDispatchable},
	};
	use frame_system::pallet_prelude::*;
	use sp_runtime::traits::{Dispatchable, IdentifyAccount, Verify};

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(2);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Configuration of the pallet.
	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// The currency agents hold and pay in.
		type Currency: Mutate<Self::AccountId>;

		/// The runtime's call type, which `act` dispatches as the agent.
		type RuntimeCall: Parameter
			+ Dispatchable<RuntimeOrigin = Self::RuntimeOrigin, PostInfo = PostDispatchInfo>
			+ GetDispatchInfo
			+ From<frame_system::Call<Self>>
			+ From<Call<Self>>
			+ IsSubType<Call<Self>>
			+ UnfilteredDispatchable<RuntimeOrigin = Self::RuntimeOrigin>
			+ IsType<<Self as frame_system::Config>::RuntimeCall>;

		/// The calls an agent may make through `act`.
		type AgentCalls: AgentCalls<<Self as Config>::RuntimeCall, Self::AccountId>;

		/// The owner's deposit for an agent record (held while the agent exists).
		type AgentDeposit: Consideration<Self::AccountId, Footprint>;

		/// The proposer's deposit for a pending payment (held until it is paid, rejected,
		/// cancelled or reaped).
		type PendingDeposit: Consideration<Self::AccountId, Footprint>;

		/// Most payees a policy may allow.
		#[pallet::constant]
		type MaxPayees: Get<u32>;

		/// Most cosigners a policy may name.
		#[pallet::constant]
		type MaxCosigners: Get<u32>;

		/// Most payments an agent may have waiting for cosigners.
		#[pallet::constant]
		type MaxPending: Get<u32>;

		/// How many blocks a pending payment may wait for approvals before anyone may reap
		/// it.
		#[pallet::constant]
		type PendingLifetime: Get<BlockNumberFor<Self>>;

		/// How many blocks after the owner freezes an agent, changes its policy or rotates its
		/// controller settlement still accepts vouchers the agent's signer signed before (for
		/// usage already served). Gateways stop admitting at once. At most the credits
		/// pallet's withdrawal notice, which already lets settlement charge credits that long.
		#[pallet::constant]
		type SettlementGrace: Get<BlockNumberFor<Self>>;

		/// Controllers' signatures of payments (`pay_signed`).
		type Signature: Verify<Signer: IdentifyAccount<AccountId = Self::AccountId>> + Parameter;

		/// The fee an agent pays for a payment its controller signed.
		type SignedPaymentFee: SignedPaymentFee<BalanceOf<Self>>;

		/// Weights of the calls, from the benchmarks.
		type WeightInfo: WeightInfo;

		/// Sets up the benchmarks.
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: BenchmarkHelper<
			<Self as Config>::RuntimeCall,
			Self::AccountId,
			Self::Signature,
		>;
	}

	/// Why this pallet holds funds (through the runtime's deposit considerations).
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// The owner's deposit for an agent.
		#[codec(index = 0)]
		AgentDeposit,
		/// A proposer's deposit for a pending payment.
		#[codec(index = 1)]
		PendingDeposit,
	}

	/// Every agent wallet, by its (keyless) account.
	#[pallet::storage]
	pub type Agents<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, AgentOf<T>>;

	/// Payments above the cosign threshold waiting for approvals, by agent and id.
	#[pallet::storage]
	pub type PendingPayments<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Twox64Concat,
		PaymentId,
		PendingPaymentOf<T>,
	>;

	/// The index the next agent an owner creates gets (part of its address). Never reused.
	#[pallet::storage]
	pub type NextAgentIndex<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, u32, ValueQuery>;

	/// The signer (and payee rule) an agent had before its owner's last freeze, policy change
	/// or controller rotation, accepted by settlement until `until`. At most one per agent,
	/// paid for by the agent's deposit, removed when the agent closes.
	#[pallet::storage]
	pub type SettlementGraces<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, SettlementGraceOf<T>>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// An owner created an agent wallet.
		AgentCreated {
			/// The agent's keyless account.
			agent: T::AccountId,
			/// Who created it.
			owner: T::AccountId,
			/// The key that pays and acts for it.
			controller: T::AccountId,
			/// The configuration hash its address was derived from.
			config_hash: T::Hash,
			/// The owner's agent counter its address was derived from.
			index: u32,
		},
		/// An agent paid `payee`.
		Paid {
			/// The agent.
			agent: T::AccountId,
			/// Who was paid.
			payee: T::AccountId,
			/// How much.
			amount: BalanceOf<T>,
			/// Spent in the current period, this payment included.
			spent: BalanceOf<T>,
			/// What may still be spent in the current period.
			remaining: BalanceOf<T>,
		},
		/// An agent paid `payee` by its controller's signature (`pay_signed`), and paid the
		/// fee.
		PaidBySignature {
			/// The agent.
			agent: T::AccountId,
			/// Who was paid.
			payee: T::AccountId,
			/// How much.
			amount: BalanceOf<T>,
			/// The fee the agent paid (burned, as transaction fees are).
			fee: BalanceOf<T>,
			/// The payment's nonce (the agent's payment id it took).
			nonce: PaymentId,
			/// Spent in the current period, this payment and its fee included.
			spent: BalanceOf<T>,
			/// What may still be spent in the current period.
			remaining: BalanceOf<T>,
		},
		/// The controller made a call as the agent.
		Acted {
			/// The agent.
			agent: T::AccountId,
			/// What left the agent and counted against its limits.
			outflow: BalanceOf<T>,
			/// Spent in the current period, this call included.
			spent: BalanceOf<T>,
			/// What may still be spent in the current period.
			remaining: BalanceOf<T>,
		},
		/// A payment above the cosign threshold waits for approvals.
		PaymentProposed {
			/// The agent.
			agent: T::AccountId,
			/// The pending payment's id.
			id: PaymentId,
			/// Who is to be paid.
			payee: T::AccountId,
			/// How much.
			amount: BalanceOf<T>,
			/// Approvals needed to pay it.
			approvals_needed: u32,
			/// The last block it may be approved in.
			expires: BlockNumberFor<T>,
		},
		/// A cosigner approved a pending payment; it is paid once enough have.
		PaymentApproved {
			/// The agent.
			agent: T::AccountId,
			/// The pending payment.
			id: PaymentId,
			/// The cosigner.
			by: T::AccountId,
			/// Approvals so far.
			approvals: u32,
		},
		/// A cosigner or the owner rejected a pending payment; it is gone.
		PaymentRejected {
			/// The agent.
			agent: T::AccountId,
			/// The pending payment.
			id: PaymentId,
			/// Who rejected it.
			by: T::AccountId,
		},
		/// A pending payment expired unapproved and was removed.
		PaymentReaped {
			/// The agent.
			agent: T::AccountId,
			/// The pending payment.
			id: PaymentId,
			/// Who reaped it.
			by: T::AccountId,
		},
		/// A pending payment was cancelled by a change the owner made.
		PaymentCancelled {
			/// The agent.
			agent: T::AccountId,
			/// The pending payment.
			id: PaymentId,
			/// The owner's change.
			reason: CancelReason,
		},
		/// The owner set a new policy.
		PolicyChanged {
			/// The agent.
			agent: T::AccountId,
			/// The new policy version.
			version: u32,
		},
		/// The owner froze the agent: nothing can be spent.
		AgentFrozen {
			/// The agent.
			agent: T::AccountId,
		},
		/// Usage the agent's previous signer authorised before the owner's change still settles
		/// until `until`; no gateway admits with that signer any more.
		SettlementGraceStarted {
			/// The agent.
			agent: T::AccountId,
			/// The signer before the change.
			signer: T::AccountId,
			/// The last block at which settlement accepts its vouchers.
			until: BlockNumberFor<T>,
		},
		/// The owner unfroze the agent.
		AgentUnfrozen {
			/// The agent.
			agent: T::AccountId,
		},
		/// The owner gave the agent a new controller.
		ControllerRotated {
			/// The agent.
			agent: T::AccountId,
			/// The controller replaced.
			old: T::AccountId,
			/// The new controller.
			new: T::AccountId,
		},
		/// The owner took funds out of the agent (not counted against its limits).
		Withdrawn {
			/// The agent.
			agent: T::AccountId,
			/// How much went to the owner.
			amount: BalanceOf<T>,
		},
		/// The owner closed the agent.
		AgentClosed {
			/// The agent (its account is gone).
			agent: T::AccountId,
			/// The owner.
			owner: T::AccountId,
			/// The agent's funds that went to the owner.
			returned: BalanceOf<T>,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// No agent wallet at this account.
		NotAgent,
		/// Only the agent's owner may do this.
		NotOwner,
		/// Only the agent's controller may do this.
		NotController,
		/// Only a cosigner of the agent may do this.
		NotCosigner,
		/// The agent is frozen.
		AgentFrozen,
		/// The agent is not frozen.
		NotFrozen,
		/// The agent's policy has expired.
		AgentExpired,
		/// The policy does not let the agent pay this account.
		PayeeNotAllowed,
		/// More than the policy's per-payment cap.
		PaymentCapExceeded,
		/// More than what remains of the period's cap.
		PeriodCapExceeded,
		/// An `act` would move more than the cosign threshold; only `pay` may wait for
		/// cosigners.
		CosignRequired,
		/// The agent has as many pending payments as it may.
		TooManyPending,
		/// No such pending payment.
		PaymentNotFound,
		/// This cosigner already approved.
		AlreadyApproved,
		/// The pending payment expired; it can only be reaped.
		PaymentExpired,
		/// The pending payment has not expired yet.
		NotExpired,
		/// The call is not on the runtime's allowlist of agent calls, or pays someone the
		/// policy does not allow.
		CallNotAllowed,
		/// Invalid policy: a zero period length, `approvals_needed` outside 1 to the number of
		/// cosigners, duplicate payees or cosigners, or an expiry in the past.
		InvalidPolicy,
		/// An amount of zero.
		ZeroAmount,
		/// The controller may not be the agent itself.
		ControllerIsAgent,
		/// The agent still has funds on hold or frozen (credits, stake); release them first.
		AgentFundsLocked,
		/// The agent address is already in use (cannot happen with a fresh index).
		AgentExists,
		/// The owner's agent counter overflowed.
		IndexOverflow,
		/// The agent account cannot be closed: another pallet still depends on it.
		AgentInUse,
		/// A signed payment's nonce is not the agent's next payment id.
		WrongNonce,
		/// A signed payment's last valid block has passed.
		SignedPaymentExpired,
		/// The agent cannot pay the amount and the fee and keep its existential deposit.
		InsufficientBalance,
		/// The payee's account cannot receive the amount (a new account needs at least the
		/// existential deposit).
		PayeeCannotReceive,
		/// The agent has used every payment id (2^32 − 1 of them, shared by signed payments and
		/// payments waiting for cosigners); close it and create another.
		PaymentIdsExhausted,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(T::MaxCosigners::get() >= 1, "MaxCosigners must be at least 1");
			assert!(T::MaxPending::get() >= 1, "MaxPending must be at least 1");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Create a keyless agent wallet, at the address `agent_address(owner, config_hash,
		/// index)` with the owner's next index (RPC `agentWallet_address`). Anyone may fund
		/// the address before or after. The owner pays a deposit, returned on close.
		///
		/// - `config_hash`: the hash of the agent's off-chain configuration (model, prompt…);
		///   part of the address.
		/// - `policy`: its spending limits.
		/// - `controller`: the key the running agent holds; it may only `pay` and `act`.
		///
		/// Errors: `InvalidPolicy`, `IndexOverflow`, `AgentExists`, and the deposit's error if
		/// the owner cannot pay it.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::create_agent())]
		pub fn create_agent(
			origin: OriginFor<T>,
			config_hash: T::Hash,
			policy: PolicyOf<T>,
			controller: T::AccountId,
		) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			Self::do_create_agent(owner, config_hash, policy, controller)
		}

		/// Controller: pay `payee` from the agent. Within the limits it is paid at once; above
		/// the cosign threshold it becomes a pending payment (the controller pays a deposit)
		/// that the cosigners approve.
		///
		/// Errors: `NotAgent`, `NotController`, `AgentFrozen`, `AgentExpired`, `ZeroAmount`,
		/// `PayeeNotAllowed`, `PaymentCapExceeded`, `PeriodCapExceeded`, `TooManyPending`, and
		/// the transfer's error (e.g. not enough funds; the agent keeps its existential
		/// deposit).
		///
		/// Charged for the larger of a payment and a proposal plus the agent paying the fee;
		/// what was not used (a payment, an agent that does not pay fees) is refunded.
		#[pallet::call_index(1)]
		#[pallet::weight(
			T::WeightInfo::pay()
				.max(T::WeightInfo::propose_payment())
				.saturating_add(T::WeightInfo::charge_fee())
		)]
		pub fn pay(
			origin: OriginFor<T>,
			agent: T::AccountId,
			payee: T::AccountId,
			amount: BalanceOf<T>,
		) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			Self::do_pay(who, agent, payee, amount)
		}

		/// Controller: make `call` as the agent. Only calls the runtime allows agents
		/// (`AgentCalls`) run, also nested inside batches. Whatever leaves the agent's free
		/// balance (net of funds returning from its own holds, which count when they leave)
		/// counts against the per-payment and period caps, and may not exceed the cosign
		/// threshold; if it would, the call fails and changes nothing.
		///
		/// Errors: `NotAgent`, `NotController`, `AgentFrozen`, `AgentExpired`,
		/// `CallNotAllowed`, `PaymentCapExceeded`, `PeriodCapExceeded`, `CosignRequired`, or
		/// the call's own error.
		#[pallet::call_index(2)]
		#[pallet::weight({
			let info = call.get_dispatch_info();
			let own = T::WeightInfo::act().saturating_add(T::WeightInfo::charge_fee());
			(own.saturating_add(info.call_weight), info.class)
		})]
		pub fn act(
			origin: OriginFor<T>,
			agent: T::AccountId,
			call: Box<<T as Config>::RuntimeCall>,
		) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			Self::do_act(who, agent, *call)
		}

		/// Cosigner: approve a pending payment. The approval that reaches the threshold pays
		/// it (within the caps as they are then) and returns the proposer's deposit.
		///
		/// Errors: `NotAgent`, `PaymentNotFound`, `NotCosigner`, `AlreadyApproved`,
		/// `PaymentExpired`, `AgentFrozen`, `AgentExpired`, and, for the approval that pays:
		/// `PeriodCapExceeded` or the transfer's error.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::approve())]
		pub fn approve(origin: OriginFor<T>, agent: T::AccountId, id: PaymentId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_approve(who, agent, id)
		}

		/// Cosigner or owner: reject a pending payment. It is removed and the proposer's
		/// deposit returned.
		///
		/// Errors: `NotAgent`, `PaymentNotFound`, `NotCosigner`.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::reject())]
		pub fn reject(origin: OriginFor<T>, agent: T::AccountId, id: PaymentId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_reject(who, agent, id)
		}

		/// Anyone: remove a pending payment that expired unapproved; the deposit goes back
		/// to its proposer.
		///
		/// Errors: `PaymentNotFound`, `NotExpired`.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::reap())]
		pub fn reap(origin: OriginFor<T>, agent: T::AccountId, id: PaymentId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_reap(who, agent, id)
		}

		/// Owner: replace the policy. Bumps the policy version and cancels every pending
		/// payment (deposits back to their proposers). What was spent in the current period
		/// still counts, against the new caps.
		///
		/// Errors: `NotAgent`, `NotOwner`, `InvalidPolicy`.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::set_policy(T::MaxPending::get()))]
		pub fn set_policy(
			origin: OriginFor<T>,
			agent: T::AccountId,
			policy: PolicyOf<T>,
		) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let cancelled = Self::do_set_policy(who, agent, policy)?;
			Ok(Some(T::WeightInfo::set_policy(cancelled)).into())
		}

		/// Owner: freeze the agent at once. Nothing can be paid, acted or approved, its
		/// vouchers stop settling, and every pending payment is cancelled.
		///
		/// Errors: `NotAgent`, `NotOwner`, `AgentFrozen` (already).
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::freeze(T::MaxPending::get()))]
		pub fn freeze(origin: OriginFor<T>, agent: T::AccountId) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let cancelled = Self::do_freeze(who, agent)?;
			Ok(Some(T::WeightInfo::freeze(cancelled)).into())
		}

		/// Owner: unfreeze the agent.
		///
		/// Errors: `NotAgent`, `NotOwner`, `NotFrozen`.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::unfreeze())]
		pub fn unfreeze(origin: OriginFor<T>, agent: T::AccountId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_unfreeze(who, agent)
		}

		/// Owner: give the agent a new controller (e.g. after the old key leaked). Vouchers
		/// the old controller signed stop settling.
		///
		/// Errors: `NotAgent`, `NotOwner`, `ControllerIsAgent`.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::rotate_controller())]
		pub fn rotate_controller(
			origin: OriginFor<T>,
			agent: T::AccountId,
			new: T::AccountId,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_rotate_controller(who, agent, new)
		}

		/// Owner: move `amount` from the agent to the owner, also while frozen. Not counted
		/// against the limits; the agent keeps its existential deposit.
		///
		/// Errors: `NotAgent`, `NotOwner`, `ZeroAmount`, and the transfer's error.
		#[pallet::call_index(10)]
		#[pallet::weight(T::WeightInfo::withdraw())]
		pub fn withdraw(
			origin: OriginFor<T>,
			agent: T::AccountId,
			amount: BalanceOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_withdraw(who, agent, amount)
		}

		/// Owner: close the agent. Pending payments are cancelled, every free token and the
		/// deposit go back to the owner, and the keyless account is removed. Funds on hold or
		/// frozen (credits, stake) must be released first.
		///
		/// Errors: `NotAgent`, `NotOwner`, `AgentFundsLocked`, `AgentInUse`.
		#[pallet::call_index(11)]
		#[pallet::weight(T::WeightInfo::close_agent(T::MaxPending::get()))]
		pub fn close_agent(
			origin: OriginFor<T>,
			agent: T::AccountId,
		) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let cancelled = Self::do_close_agent(who, agent)?;
			Ok(Some(T::WeightInfo::close_agent(cancelled)).into())
		}

		/// Anyone (no signer, no fee of the submitter's): pay `payee` from the agent, with the
		/// controller's `signature` of the payment. Submitted as a general (version 5,
		/// unsigned) transaction; the agent pays the fee, so the controller's key needs no
		/// funds, and any relayer may submit it.
		///
		/// The controller signs, with its key's scheme, the SCALE encoding of
		/// `(b"tokenmeter/agent-pay", genesis_hash, agent, payee, amount, nonce, valid_until)`
		/// (the domain as 20 bytes without a length prefix): `Bare`, or `Wrapped` in
		/// `<Bytes>…</Bytes>` as browser wallets sign.
		/// `nonce` is the agent's next payment id (`nextPaymentId` in `agentWallet_agent`),
		/// which each signed payment and each proposal takes; the pool holds later nonces
		/// until the earlier ones are in. The payment is valid up to block `valid_until`.
		///
		/// Only payments up to the cosign threshold: above it, the controller proposes with
		/// `pay`. The amount counts against the per-payment cap; the amount and the fee count
		/// against the period cap. Everything is checked before the transaction enters the
		/// pool or a block, so a payment that would fail never takes block space. An invalid
		/// one is refused with `BadProof` (signature), `Stale` (nonce used), `Future` (nonce
		/// ahead, in a block), `Payment` (the agent cannot pay the amount and the fee) or
		/// `Custom(i)`, where `i` is the index of this pallet's error: `NotAgent` 0,
		/// `AgentFrozen` 4, `AgentExpired` 6, `PayeeNotAllowed` 7, `PaymentCapExceeded` 8,
		/// `PeriodCapExceeded` 9, `CosignRequired` 10, `ZeroAmount` 18,
		/// `SignedPaymentExpired` 25, `PayeeCannotReceive` 27.
		///
		/// Errors (when dispatched by other means than its own authorization): `BadOrigin`,
		/// and the ones above as dispatch errors.
		///
		/// Weight: the authorization is charged as the transaction's extension weight
		/// (`authorize_pay_signed`), the call for what it adds after it in the same
		/// transaction (`pay_signed` measures the two together, where the payment reads what
		/// the authorization just read).
		#[pallet::call_index(12)]
		#[pallet::weight(
			T::WeightInfo::pay_signed().saturating_sub(T::WeightInfo::authorize_pay_signed())
		)]
		#[pallet::authorize(Pallet::<T>::authorize_pay_signed)]
		#[pallet::weight_of_authorize(T::WeightInfo::authorize_pay_signed())]
		pub fn pay_signed(
			origin: OriginFor<T>,
			agent: T::AccountId,
			payee: T::AccountId,
			amount: BalanceOf<T>,
			nonce: PaymentId,
			valid_until: BlockNumberFor<T>,
			signature: PaymentSignatureOf<T>,
		) -> DispatchResult {
			ensure_authorized(origin)?;
			let length = Self::signed_payment_length(&agent, &payee, &amount, &signature);
			Self::do_pay_signed(agent, payee, amount, nonce, valid_until, length)
		}
	}
}

use frame_support::{traits::Get, weights::Weight};

impl<T: Config> VoucherSigners<T::AccountId> for Pallet<T> {
	fn voucher_signer(account: &T::AccountId, provider: &T::AccountId) -> Option<T::AccountId> {
		Self::do_voucher_signer(account, provider)
	}

	fn previous_voucher_signer(
		account: &T::AccountId,
		provider: &T::AccountId,
	) -> Option<T::AccountId> {
		Self::do_previous_voucher_signer(account, provider)
	}

	fn voucher_signer_weight() -> Weight {
		// Measured with the previous signer's grace read (`SettlementGraces`).
		T::WeightInfo::voucher_signer()
	}
}
