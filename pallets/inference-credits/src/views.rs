//! The pallet's read API: what the runtime APIs, the node's RPCs and gateways ask — costs,
//! quotes, credits, access and the models a provider serves. Nothing here writes.

use crate::{pallet::*, types::*, FreeAllowance, ModelId, TierInspect};
use alloc::vec::Vec;
use frame_support::traits::fungible::Inspect;
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::traits::{Saturating, Zero};
use tokenmeter_primitives::gateway::{DynamicPricing, ModelView};

/// A model as a gateway shows and bills it.
pub type ModelViewOf<T> = ModelView<BalanceOf<T>, BlockNumberFor<T>>;

impl<T: Config> Pallet<T> {
	/// The cost of `input` and `output` tokens at a model's prices:
	/// `⌈(price_in × input + price_out × output) / 1000⌉`, rounded up so that no request is
	/// free. The products saturate at the balance type's maximum instead of overflowing; such
	/// a cost is then bounded by the voucher cap and the credits like any other.
	pub fn cost_of(
		price_per_1k_input: BalanceOf<T>,
		price_per_1k_output: BalanceOf<T>,
		input: u32,
		output: u32,
	) -> BalanceOf<T> {
		tokenmeter_primitives::usage_cost(price_per_1k_input, price_per_1k_output, input, output)
	}

	/// What `input` and `output` tokens of `model` cost now, and after a pending price
	/// increase, if the model exists and is active.
	pub fn quote(
		model: ModelId,
		input: u32,
		output: u32,
	) -> Option<Quote<BalanceOf<T>, BlockNumberFor<T>>> {
		let id = model;
		let model = Models::<T>::get(id).filter(|m| !m.retired)?;
		let now = frame_system::Pallet::<T>::block_number();
		let listed = model.prices_at(&now);
		let (price_in, price_out) = Self::effective_prices(id, &model, now);
		let multiplier = Self::multiplier_at(id, now).map(|(c, _)| c.multiplier);
		let pending = model.pending_price.filter(|p| p.effective_from > now).map(|p| {
			let prices = (p.price_per_1k_input, p.price_per_1k_output);
			let (i, o) = match multiplier {
				Some(m) => Self::multiplied(prices, m),
				None => prices,
			};
			PendingQuote {
				cost: Self::cost_of(i, o, input, output),
				effective_from: p.effective_from,
			}
		});
		Some(Quote {
			cost: Self::cost_of(price_in, price_out, input, output),
			pending,
			price_per_1k_input: price_in,
			price_per_1k_output: price_out,
			dynamic: Self::dynamic_quote(id, listed, input, output, now),
		})
	}

	/// The credits of `who` that may pay for new usage: deposited, unspent and not under a
	/// withdrawal notice.
	pub fn credit_balance(who: &T::AccountId) -> BalanceOf<T> {
		let pending = PendingWithdrawals::<T>::get(who).map(|p| p.amount).unwrap_or_default();
		Credits::<T>::get(who).saturating_sub(pending)
	}

	/// Whether `user` may call `model` with about this many tokens, and why not.
	pub fn can_access(
		user: &T::AccountId,
		model: ModelId,
		estimated_input: u32,
		estimated_output: u32,
	) -> AccessReport<BalanceOf<T>> {
		let available_credit = Self::credit_balance(user);
		// The allowance counts only for models whose provider honours it.
		let now = frame_system::Pallet::<T>::block_number();
		let free_allowance = if Self::honours_allowance(model, now) {
			T::FreeAllowance::allowance_left(user)
		} else {
			Zero::zero()
		};
		let tier = T::Tiers::tier_of(user);
		let mut report = AccessReport {
			allowed: false,
			denied: None,
			available_credit,
			free_allowance,
			estimated_cost: None,
			voucher_headroom: Zero::zero(),
			tier,
		};
		let Some(info) = Models::<T>::get(model) else {
			report.denied = Some(AccessDenied::UnknownModel);
			return report;
		};
		let ledger = VoucherLedgers::<T>::get(user, &info.provider);
		report.voucher_headroom = ledger.cap.saturating_sub(ledger.settled);
		if info.retired {
			report.denied = Some(AccessDenied::ModelRetired);
			return report;
		}
		let (price_in, price_out) = Self::effective_prices(model, &info, now);
		let cost = Self::cost_of(price_in, price_out, estimated_input, estimated_output);
		report.estimated_cost = Some(cost);
		let (min_balance, min_tier) = match info.access {
			AccessRule::Open => (None, None),
			AccessRule::MinBalance(b) => (Some(b), None),
			AccessRule::MinTier(t) => (None, Some(t)),
			AccessRule::MinBalanceAndTier(b, t) => (Some(b), Some(t)),
		};
		if let Some(required) = min_balance {
			let held = T::Currency::total_balance(user);
			if held < required {
				report.denied = Some(AccessDenied::BalanceBelowGate { required, held });
				return report;
			}
		}
		if let Some(required) = min_tier {
			if tier < required {
				report.denied = Some(AccessDenied::TierBelowGate { required, tier });
				return report;
			}
		}
		let available = available_credit.saturating_add(free_allowance);
		if cost > available {
			report.denied = Some(AccessDenied::NotEnoughCredit { required: cost, available });
			return report;
		}
		report.allowed = true;
		report
	}

	/// The active models of `provider`, with the prices the chain settles at in this block
	/// (what a gateway shows and bills at).
	pub fn provider_models(provider: &T::AccountId) -> Vec<ModelViewOf<T>> {
		let Some(record) = Providers::<T>::get(provider) else { return Vec::new() };
		let now = frame_system::Pallet::<T>::block_number();
		record
			.models
			.iter()
			.filter_map(|id| {
				let model =
					Models::<T>::get(id).filter(|m| !m.retired && &m.provider == provider)?;
				Some(Self::model_view(*id, &model, now))
			})
			.collect()
	}

	/// `model` (number `id`) as a gateway shows it at block `now`.
	fn model_view(id: ModelId, model: &ModelOf<T>, now: BlockNumberFor<T>) -> ModelViewOf<T> {
		let listed = model.prices_at(&now);
		let per_1k = |input, output| Self::dynamic_quote(id, listed, input, output, now);
		let dynamic = per_1k(0, 0).map(|d| {
			let (input, output) = (per_1k(1000, 0), per_1k(0, 1000));
			let bounds = |q: Option<DynamicQuote<_, _>>| {
				q.map(|q| (q.next_min_cost, q.next_max_cost)).unwrap_or_default()
			};
			let ((in_min, in_max), (out_min, out_max)) = (bounds(input), bounds(output));
			DynamicPricing {
				multiplier: d.multiplier.into_inner(),
				utilisation: d.utilisation.into_inner(),
				next_epoch_from: d.next_epoch_from,
				next_min: (in_min, out_min),
				next_max: (in_max, out_max),
			}
		});
		ModelView {
			id,
			name: model.name.to_vec(),
			prices: Self::effective_prices(id, model, now),
			listed,
			pending: model
				.pending_price
				.filter(|p| p.effective_from > now)
				.map(|p| (p.price_per_1k_input, p.price_per_1k_output, p.effective_from)),
			access: model.access,
			dynamic,
		}
	}
}
