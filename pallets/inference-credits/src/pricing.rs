//! Congestion pricing: a dynamically priced model's multiplier follows the utilisation of the
//! capacity its provider declared, one bounded step per pricing epoch (docs/pricing.md).
//!
//! The multiplier of epoch `e + 1` is the multiplier of epoch `e` moved by the utilisation
//! `u` of epoch `e` (tokens settled for the model over its capacity) against the target `t`:
//!
//! ```text
//! u > t:  m × (1 + s × min(1, (u − t) / (1 − t)))
//! u ≤ t:  m × (1 − s × (t − u) / t)
//! ```
//!
//! with `s` = [`Config::MaxPriceStep`], then kept within the provider's
//! `[min_multiplier, max_multiplier]` and never more than one step up. Idle epochs (nothing
//! settled) are steps with `u = 0`. Nothing runs in a hook: a model's record is brought up to
//! date when it is next used (settled, re-configured) — at most [`MAX_CATCH_UP`] steps, after
//! which any bounds are reached — and read-only queries compute the same without writing.

use crate::{pallet::*, types::*, ModelId};
use frame_support::{
	ensure,
	pallet_prelude::*,
	traits::{Consideration, Footprint},
};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::{
	traits::{CheckedDiv, One, SaturatedConversion, Saturating, Zero},
	DispatchResult, FixedPointNumber, FixedU128,
};

/// Idle epochs a multiplier is stepped through at most when it catches up.
pub const MAX_CATCH_UP: u32 = 64;

/// A model's multiplier and usage brought up to a pricing epoch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CaughtUp {
	/// The multiplier in force in the epoch.
	pub multiplier: FixedU128,
	/// The utilisation of the last epoch that ended (zero when nothing was counted).
	pub last_utilisation: FixedU128,
	/// Whether the multiplier moved since the record was written.
	pub moved: bool,
}

impl<T: Config> Pallet<T> {
	/// The pricing epoch of block `now`.
	pub fn pricing_epoch(now: BlockNumberFor<T>) -> u32 {
		let length = T::PricingEpoch::get().max(One::one());
		now.checked_div(&length).unwrap_or_default().saturated_into()
	}

	/// The first block of pricing epoch `epoch`.
	pub fn pricing_epoch_start(epoch: u32) -> BlockNumberFor<T> {
		T::PricingEpoch::get().max(One::one()).saturating_mul(epoch.into())
	}

	/// `tokens` over `capacity`.
	pub fn utilisation(tokens: u64, capacity: u64) -> FixedU128 {
		FixedU128::checked_from_rational(tokens, capacity.max(1)).unwrap_or(FixedU128::zero())
	}

	/// One epoch's step from `multiplier`, given that epoch's utilisation `u`.
	pub fn step(config: &PricingConfig, multiplier: FixedU128, u: FixedU128) -> FixedU128 {
		let one = FixedU128::one();
		let s = FixedU128::from_perbill(T::MaxPriceStep::get());
		let t = FixedU128::from_perbill(config.target);
		let factor = if u > t {
			let pressure =
				u.saturating_sub(t).checked_div(&one.saturating_sub(t)).unwrap_or(one).min(one);
			one.saturating_add(s.saturating_mul(pressure))
		} else {
			let slack = t.saturating_sub(u).checked_div(&t).unwrap_or(one).min(one);
			one.saturating_sub(s.saturating_mul(slack))
		};
		let up_limit = multiplier.saturating_mul(one.saturating_add(s));
		multiplier
			.saturating_mul(factor)
			.max(config.min_multiplier)
			.min(config.max_multiplier)
			.min(up_limit)
	}

	/// `price` brought to `epoch`: the ended epoch it counted tokens in, then the idle ones.
	pub fn caught_up(price: &DynamicPriceOf<T>, epoch: u32) -> CaughtUp {
		if price.epoch >= epoch {
			return CaughtUp {
				multiplier: price.multiplier,
				last_utilisation: FixedU128::zero(),
				moved: false,
			};
		}
		let last = Self::utilisation(price.tokens, price.config.capacity);
		let mut multiplier = Self::step(&price.config, price.multiplier, last);
		let idle = epoch.saturating_sub(price.epoch).saturating_sub(1).min(MAX_CATCH_UP);
		let mut last_utilisation = last;
		for _ in 0..idle {
			let next = Self::step(&price.config, multiplier, FixedU128::zero());
			last_utilisation = FixedU128::zero();
			if next == multiplier {
				break;
			}
			multiplier = next;
		}
		CaughtUp { multiplier, last_utilisation, moved: multiplier != price.multiplier }
	}

	/// Whether `price` no longer applies at `now` (its provider opted out and the notice ended).
	fn lapsed(price: &DynamicPriceOf<T>, now: BlockNumberFor<T>) -> bool {
		price.until.is_some_and(|until| now >= until)
	}

	/// The multiplier of `model`'s listed prices at `now` (and its state), without writing.
	pub fn multiplier_at(
		model: ModelId,
		now: BlockNumberFor<T>,
	) -> Option<(CaughtUp, DynamicPriceOf<T>)> {
		let price = DynamicPrices::<T>::get(model).filter(|p| !Self::lapsed(p, now))?;
		Some((Self::caught_up(&price, Self::pricing_epoch(now)), price))
	}

	/// Listed prices times `multiplier`.
	pub fn multiplied(
		(price_in, price_out): (BalanceOf<T>, BalanceOf<T>),
		multiplier: FixedU128,
	) -> (BalanceOf<T>, BalanceOf<T>) {
		(multiplier.saturating_mul_int(price_in), multiplier.saturating_mul_int(price_out))
	}

	/// The prices of `model` (whose record is `info`) in force at `now`: listed (with a due
	/// increase), times its multiplier when it is dynamically priced.
	pub fn effective_prices(
		model: ModelId,
		info: &ModelOf<T>,
		now: BlockNumberFor<T>,
	) -> (BalanceOf<T>, BalanceOf<T>) {
		let listed = info.prices_at(&now);
		match Self::multiplier_at(model, now) {
			Some((caught_up, _)) => Self::multiplied(listed, caught_up.multiplier),
			None => listed,
		}
	}

	/// Brings `price` (of `model`, provided by `provider`) up to date at `now` for a write:
	/// the multiplier caught up (an event when it moved), the usage counter reset for a new
	/// epoch. Returns `None` (the record removed, its deposit released) when its opt-out
	/// notice has ended.
	pub(crate) fn touch(
		model: ModelId,
		provider: &T::AccountId,
		mut price: DynamicPriceOf<T>,
		now: BlockNumberFor<T>,
	) -> Option<DynamicPriceOf<T>> {
		if Self::lapsed(&price, now) {
			DynamicPrices::<T>::remove(model);
			let _ = price.deposit.drop(provider);
			return None;
		}
		let epoch = Self::pricing_epoch(now);
		if price.epoch < epoch {
			let caught_up = Self::caught_up(&price, epoch);
			if caught_up.moved {
				Self::deposit_event(Event::PriceMultiplierChanged {
					model,
					epoch,
					old: price.multiplier,
					new: caught_up.multiplier,
					utilisation: caught_up.last_utilisation,
				});
			}
			price.multiplier = caught_up.multiplier;
			price.epoch = epoch;
			price.tokens = 0;
		}
		Some(price)
	}

	/// Whether `config` is within the allowed ranges.
	fn valid_pricing(config: &PricingConfig) -> bool {
		let one = FixedU128::one();
		config.capacity > 0
			&& !config.target.is_zero()
			&& config.target < sp_runtime::Perbill::one()
			&& config.min_multiplier > FixedU128::zero()
			&& config.min_multiplier <= one
			&& config.max_multiplier >= one
			&& config.max_multiplier <= FixedU128::from_u32(T::MaxMultiplier::get())
	}

	pub(crate) fn do_set_dynamic_pricing(
		who: T::AccountId,
		id: ModelId,
		config: Option<PricingConfig>,
	) -> DispatchResult {
		let _ = Self::active_model_of(&who, id)?;
		let now = frame_system::Pallet::<T>::block_number();
		let existing =
			DynamicPrices::<T>::get(id).and_then(|price| Self::touch(id, &who, price, now));
		let one = FixedU128::one();
		match config {
			Some(config) => {
				ensure!(Self::valid_pricing(&config), Error::<T>::InvalidPricing);
				let price = match existing {
					Some(mut price) => {
						price.config = config;
						price.until = None;
						// Above the new maximum: down at once. Below the new minimum: up one
						// step per epoch, as any rise.
						price.multiplier = price.multiplier.min(config.max_multiplier);
						price
					}
					None => {
						let deposit = T::ModelConsideration::new(
							&who,
							Footprint::from_mel::<DynamicPriceOf<T>>(),
						)
						.map_err(|_| Error::<T>::InsufficientBalance)?;
						DynamicPrice {
							config,
							multiplier: one,
							epoch: Self::pricing_epoch(now),
							tokens: 0,
							until: None,
							deposit,
						}
					}
				};
				let multiplier = price.multiplier;
				DynamicPrices::<T>::insert(id, price);
				Self::deposit_event(Event::DynamicPricingSet {
					model: id,
					config: Some(config),
					multiplier,
					effective_from: now,
				});
			}
			None => {
				let mut price = existing.ok_or(Error::<T>::NotDynamicallyPriced)?;
				if price.multiplier >= one {
					// The price falls (or stays): at once.
					DynamicPrices::<T>::remove(id);
					let _ = price.deposit.drop(&who);
					Self::deposit_event(Event::DynamicPricingSet {
						model: id,
						config: None,
						multiplier: one,
						effective_from: now,
					});
				} else {
					// Back up to the listed price: announced like a price increase.
					let until = *price
						.until
						.get_or_insert(now.saturating_add(T::PriceIncreaseNotice::get()));
					let multiplier = price.multiplier;
					DynamicPrices::<T>::insert(id, price);
					Self::deposit_event(Event::DynamicPricingSet {
						model: id,
						config: None,
						multiplier,
						effective_from: until,
					});
				}
			}
		}
		Ok(())
	}

	/// Removes `model`'s dynamic price (retired), releasing its deposit.
	pub(crate) fn drop_dynamic_price(model: ModelId, provider: &T::AccountId) {
		if let Some(price) = DynamicPrices::<T>::take(model) {
			let _ = price.deposit.drop(provider);
		}
	}

	/// The dynamic part of a quote for `input` and `output` tokens of `model` at `now`.
	pub fn dynamic_quote(
		model: ModelId,
		listed: (BalanceOf<T>, BalanceOf<T>),
		input: u32,
		output: u32,
		now: BlockNumberFor<T>,
	) -> Option<DynamicQuote<BalanceOf<T>, BlockNumberFor<T>>> {
		let (caught_up, price) = Self::multiplier_at(model, now)?;
		let epoch = Self::pricing_epoch(now);
		let tokens = if price.epoch == epoch { price.tokens } else { 0 };
		let lowest = Self::step(&price.config, caught_up.multiplier, FixedU128::zero());
		let highest = Self::step(&price.config, caught_up.multiplier, FixedU128::from_u32(2));
		let cost = |m: FixedU128| {
			let (i, o) = Self::multiplied(listed, m);
			Self::cost_of(i, o, input, output)
		};
		Some(DynamicQuote {
			multiplier: caught_up.multiplier,
			utilisation: Self::utilisation(tokens, price.config.capacity),
			next_epoch_from: Self::pricing_epoch_start(epoch.saturating_add(1)),
			next_min_cost: cost(lowest),
			next_max_cost: cost(highest),
		})
	}

	/// `try_state` of the dynamic prices: each of an active model, valid, its multiplier above
	/// zero and at most its maximum.
	pub(crate) fn try_state_pricing() -> Result<(), sp_runtime::TryRuntimeError> {
		use sp_runtime::TryRuntimeError;
		for (id, price) in DynamicPrices::<T>::iter() {
			let model =
				Models::<T>::get(id).ok_or(TryRuntimeError::Other("dynamic price of no model"))?;
			ensure!(!model.retired, TryRuntimeError::Other("dynamic price of a retired model"));
			ensure!(Self::valid_pricing(&price.config), TryRuntimeError::Other("invalid pricing"));
			ensure!(
				price.multiplier > FixedU128::zero()
					&& price.multiplier <= price.config.max_multiplier,
				TryRuntimeError::Other("multiplier out of bounds")
			);
		}
		Ok(())
	}
}
