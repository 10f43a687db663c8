//! Admission: everything before the upstream, as named steps: read and check the request,
//! find the model, check the payment (token, chain, provider, expiry, signature — before any
//! node call), read the user's chain state, check who signed and the model's gate, the rate
//! limit, and reserve the worst case in the books.

use std::sync::Arc;

use axum::{
	body::Body,
	http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode},
	response::Response,
};
use sp_core::crypto::Ss58Codec;
use sp_runtime::AccountId32;

use super::{
	error::{header_value, ApiError},
	request::{normalise, Endpoint, Normalised},
	App, PAYMENT_REQUIRED, PAYMENT_SIGNATURE,
};
use crate::{
	chain::{ChainView, Delegation, ModelInfo, UserState},
	ledger::{Book, Refusal},
	limits::{Limit, Quota},
	payment::{self, Payment, PaymentError, Requirement},
	store::{Admission, Store},
};

/// A reservation in the books, released when dropped unless charged: a request whose client
/// left (its handler dropped) or that failed on the way gives its reservation back.
pub struct Held {
	store: Store,
	/// The reservation's id.
	pub id: i64,
	open: bool,
}

impl Held {
	/// Releases the reservation now.
	pub async fn release(mut self) {
		self.open = false;
		if let Err(error) = self.store.release(self.id).await {
			tracing::warn!(%error, "cannot release a reservation (it lapses by itself)");
		}
	}

	/// The reservation was charged (its row replaced): nothing to release.
	pub fn charged(mut self) {
		self.open = false;
	}
}

impl Drop for Held {
	fn drop(&mut self) {
		if self.open {
			let (store, id) = (self.store.clone(), self.id);
			if let Ok(runtime) = tokio::runtime::Handle::try_current() {
				runtime.spawn(async move { store.release(id).await });
			}
		}
	}
}

/// An admitted request.
pub struct Admitted {
	/// The endpoint.
	pub endpoint: Endpoint,
	/// The checked request.
	pub request: Normalised,
	/// The request's body as it came (kept for feedback without copying).
	pub body: axum::body::Bytes,
	/// Its payment.
	pub payment: Arc<Payment>,
	/// The model.
	pub model: ModelInfo,
	/// Settled on chain for the user.
	pub settled: u128,
	/// Its reservation.
	pub reservation: Held,
	/// The user's rate-limit quota after this request.
	pub quota: Quota,
	/// The user's priority weight.
	pub priority_weight: u32,
	/// The block the request is served at (the view's), priced as of then on chain.
	pub served_at: u32,
}

/// What a refusal tells the client to pay: the model's prices, the worst case, where.
struct Offer<'a> {
	app: &'a App,
	model: &'a ModelInfo,
	worst: u128,
	min_expiry: u32,
	/// The request's, for the resource's URL in a refusal (made only then).
	headers: &'a HeaderMap,
	endpoint: Endpoint,
}

impl Offer<'_> {
	fn requirement(
		&self,
		error: String,
		cap_needed: u128,
		settled: u128,
		book: Book,
	) -> Requirement {
		Requirement {
			genesis: self.app.genesis,
			provider: self.app.provider.clone(),
			cap_needed,
			settled,
			unsettled: book.unsettled,
			reserved: book.reserved,
			prices: self.model.prices,
			min_expiry: self.min_expiry,
			resource: resource_url(self.app, self.headers, self.endpoint),
			error,
		}
	}

	/// `402` (or `400` for a malformed payment) with `PAYMENT-REQUIRED`.
	fn refuse(&self, e: PaymentError, settled: u128, book: Book) -> ApiError {
		let status = match e {
			PaymentError::Malformed(_) => StatusCode::BAD_REQUEST,
			_ => StatusCode::PAYMENT_REQUIRED,
		};
		let requirement = self.requirement(e.to_string(), self.worst, settled, book);
		ApiError::new(status, "payment_required", e.code(), e.to_string())
			.with_header(PAYMENT_REQUIRED, header_value(&payment::payment_required(&requirement)))
	}
}

/// A `402` for `requirement`, with its message.
fn payment_required(requirement: Requirement, code: &str, message: String) -> ApiError {
	let header = header_value(&payment::payment_required(&requirement));
	ApiError::new(StatusCode::PAYMENT_REQUIRED, "payment_required", code, message)
		.with_header(PAYMENT_REQUIRED, header)
}

/// Where a payment token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
	/// x402's `PAYMENT-SIGNATURE` header: a malformed one is a bad request (`400`).
	Header,
	/// An OpenAI client's API key: one that is no voucher token (a placeholder key of a client
	/// that pays on `402`) is answered like a request without payment.
	Bearer,
}

/// The payment token of a request: `PAYMENT-SIGNATURE`, else the Bearer token.
pub fn payment_token(headers: &HeaderMap) -> Option<(String, Source)> {
	if let Some(value) = headers.get(&PAYMENT_SIGNATURE).and_then(|v| v.to_str().ok()) {
		return Some((value.to_string(), Source::Header));
	}
	let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
	let token = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer "))?.trim();
	(!token.is_empty()).then(|| (token.to_string(), Source::Bearer))
}

/// The absolute URL of `endpoint` as clients reach it: `--public-url`, else `http://` and the
/// request's `Host`.
fn resource_url(app: &App, headers: &HeaderMap, endpoint: Endpoint) -> String {
	let path = format!("/v1{}", endpoint.path());
	match &app.settings.public_url {
		Some(base) => format!("{base}{path}"),
		None => match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
			Some(host) => format!("http://{host}{path}"),
			None => format!("http://{}{path}", app.settings.listen),
		},
	}
}

// The `RateLimit-*` headers' names, made at compile time (a name given as text is checked on
// every insert).
const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The `RateLimit-*` headers of a quota.
pub fn rate_limit_headers(response: &mut Response, quota: &Quota) {
	let headers = response.headers_mut();
	headers.insert(LIMIT, HeaderValue::from(quota.limit));
	headers.insert(REMAINING, HeaderValue::from(quota.remaining));
	headers.insert(RESET, HeaderValue::from(quota.reset_secs));
}

/// Step 1: the body, at most `--max-body-bytes`.
async fn read_body(app: &App, body: Body) -> Result<axum::body::Bytes, ApiError> {
	axum::body::to_bytes(body, app.settings.max_body_bytes).await.map_err(|_| {
		ApiError::new(
			StatusCode::PAYLOAD_TOO_LARGE,
			"invalid_request_error",
			"request_too_large",
			format!("the request body is over {} bytes", app.settings.max_body_bytes),
		)
	})
}

/// Step 2: the model the request names, as the chain lists it now.
fn find_model(view: &ChainView, name: &str) -> Result<ModelInfo, ApiError> {
	view.model(name).cloned().ok_or_else(|| {
		ApiError::not_found(
			"model_not_found",
			format!(
				"the model `{name}` is not served by this provider (GET /v1/models lists them)"
			),
		)
	})
}

/// Step 3: the payment — a token, for this chain and provider, valid long enough, signed by
/// whom it names. No node call before the signature is good.
fn check_payment(app: &App, headers: &HeaderMap, offer: &Offer) -> Result<Arc<Payment>, ApiError> {
	let unpaid = || {
		let requirement = offer.requirement(
			"a signed voucher is required".into(),
			offer.worst,
			0,
			Book::default(),
		);
		let message = format!(
			"a signed voucher is required: sign a voucher of cap at least {} for provider {} (see \
			 the PAYMENT-REQUIRED header)",
			offer.worst,
			app.provider.to_ss58check()
		);
		payment_required(requirement, "payment_required", message)
	};
	let Some((token, source)) = payment_token(headers) else { return Err(unpaid()) };
	let refuse = |e| offer.refuse(e, 0, Book::default());
	let payment = match app.verified.decode(&token) {
		Ok(payment) => payment,
		Err(PaymentError::Malformed(_)) if source == Source::Bearer => return Err(unpaid()),
		Err(e) => return Err(refuse(e)),
	};
	let voucher = &payment.voucher.voucher;
	if voucher.genesis_hash != app.genesis {
		return Err(refuse(PaymentError::WrongChain));
	}
	if voucher.provider != app.provider {
		return Err(refuse(PaymentError::WrongProvider));
	}
	if voucher.expiry < offer.min_expiry {
		return Err(refuse(PaymentError::Expired {
			expiry: voucher.expiry,
			needed: offer.min_expiry,
		}));
	}
	// The signer is the one the token names (the user itself, or an agent's controller); the
	// chain must agree in step 5.
	if !app.verified.check(&payment, &payment.signer) {
		return Err(refuse(PaymentError::BadSignature));
	}
	Ok(payment)
}

/// Step 4: the user's state at the view's block (cached per block).
async fn read_user(
	app: &App,
	view: &ChainView,
	user: &AccountId32,
	model: u32,
) -> Result<UserState, ApiError> {
	app.cache
		.user_state(&app.node, &app.provider, view, user, model)
		.await
		.map_err(|e| ApiError::unavailable("chain_unavailable", e.to_string()))
}

/// A payment from someone else's credits: the owner's state and the allowance it gave the
/// user (a renter, an agent), both read per block.
struct Delegated {
	owner: UserState,
	allowance: Option<Delegation>,
}

/// Step 4b: for a voucher whose payer is not its user, the payer's state and its allowance.
async fn read_payer(
	app: &App,
	view: &ChainView,
	payment: &Payment,
	model: u32,
) -> Result<Option<Delegated>, ApiError> {
	let voucher = &payment.voucher.voucher;
	if voucher.payer == voucher.user {
		return Ok(None);
	}
	let owner = read_user(app, view, &voucher.payer, model).await?;
	let allowance = app
		.cache
		.delegation(&app.node, view, &voucher.payer, &voucher.user)
		.await
		.map_err(|e| ApiError::unavailable("chain_unavailable", e.to_string()))?;
	Ok(Some(Delegated { owner, allowance }))
}

/// A delegated payment the chain will settle: the payer may pay this provider now, and has
/// approved the user with an allowance that lasts until the voucher could be settled.
fn check_delegation(delegated: &Delegated, offer: &Offer<'_>) -> Result<(), ApiError> {
	if delegated.owner.signer.is_none() {
		return Err(ApiError::forbidden(
			"payer_not_allowed",
			"the voucher's payer cannot pay now (a frozen or expired agent, or one whose payees \
			 leave this provider out)",
		));
	}
	match delegated.allowance {
		None => Err(ApiError::forbidden(
			"no_delegation",
			"the voucher's payer has not approved its user as a delegate \
			 (inferenceCredits.approveDelegate)",
		)),
		Some(allowance) if allowance.expiry < offer.min_expiry => Err(ApiError::forbidden(
			"delegation_expired",
			format!(
				"the payer's allowance ends at block {}; this gateway needs it to last until block {}",
				allowance.expiry, offer.min_expiry
			),
		)),
		Some(_) => Ok(()),
	}
}

/// What the request may spend: the user's credits and free allowance; for a delegate, the
/// owner's credits not committed to its own requests, at most the allowance left (the free
/// allowance is the user's own and does not discount a delegate's usage).
async fn spendable(
	app: &App,
	payment: &Payment,
	state: &UserState,
	delegated: Option<&Delegated>,
) -> Result<u128, ApiError> {
	let Some(delegated) = delegated else {
		return Ok(state.available_credit.saturating_add(state.free_allowance));
	};
	let owner_book =
		app.store.book(&payment.voucher.voucher.payer).await.map_err(ApiError::storage)?;
	let credits = delegated.owner.available_credit.saturating_sub(owner_book.committed());
	Ok(credits.min(delegated.allowance.map_or(0, |a| a.remaining)))
}

/// Step 5: signed by whom the chain says signs for the user now; a delegated payment the
/// chain will settle; allowed by the model's gate.
async fn check_access(
	app: &App,
	payment: &Payment,
	state: &UserState,
	delegated: Option<&Delegated>,
	offer: &Offer<'_>,
) -> Result<(), ApiError> {
	let voucher = &payment.voucher.voucher;
	let signed = match &state.signer {
		None => Err(PaymentError::SignerNotAllowed),
		Some(signer) if *signer == payment.signer => Ok(()),
		Some(_) => Err(PaymentError::BadSignature),
	};
	if let Err(e) = signed {
		let book = app.store.book(&voucher.user).await.unwrap_or_default();
		return Err(offer.refuse(e, state.ledger.settled, book));
	}
	if let Some(delegated) = delegated {
		check_delegation(delegated, offer)?;
	}
	if let Some((reason, required, actual)) = &state.denied {
		return Err(ApiError::forbidden(
			reason,
			format!(
				"access to `{}` denied: {reason} (required {}, found {})",
				offer.model.name,
				required.as_deref().unwrap_or("-"),
				actual.as_deref().unwrap_or("-")
			),
		));
	}
	Ok(())
}

/// Step 6: the tier's rate limit.
async fn rate_limit(app: &App, user: &AccountId32, state: &UserState) -> Result<Quota, ApiError> {
	let limit = if app.settings.no_rate_limits {
		Limit { requests_per_minute: u32::MAX, tokens_per_minute: u64::MAX }
	} else {
		Limit {
			requests_per_minute: state.rate_limit,
			tokens_per_minute: u64::from(state.rate_limit)
				.saturating_mul(app.settings.tokens_per_request),
		}
	};
	let counted = app.limiter.admit(user, limit).await.map_err(|error| {
		tracing::error!(%error, "cannot check a rate limit");
		ApiError::unavailable("rate_limits_unavailable", "cannot check the rate limit; try again")
			.retry_after(1)
	})?;
	counted.map_err(|quota| {
		app.metrics.rate_limited.inc();
		ApiError::new(
			StatusCode::TOO_MANY_REQUESTS,
			"rate_limit_exceeded",
			"rate_limit_exceeded",
			format!(
				"over your tier's limit of {} requests per minute (or its tokens); try again in {} \
				 s, or stake for a higher tier",
				quota.limit, quota.reset_secs
			),
		)
		.with_header(LIMIT, HeaderValue::from(quota.limit))
		.with_header(REMAINING, HeaderValue::from(quota.remaining))
		.with_header(RESET, HeaderValue::from(quota.reset_secs))
		.retry_after(quota.reset_secs)
	})
}

/// Step 7: checked and reserved in one transaction holding the user's row; the voucher is
/// kept (durably) for the feed before anything is served against it.
async fn reserve(
	app: &App,
	payment: &Payment,
	state: &UserState,
	available: u128,
	offer: &Offer<'_>,
) -> Result<Held, ApiError> {
	let voucher = &payment.voucher.voucher;
	let admission = Admission {
		user: &voucher.user,
		payer: &voucher.payer,
		cap: voucher.cap,
		expiry: voucher.expiry,
		signature: &payment.signature_hex,
		session: &payment.session_hex,
		worst: offer.worst,
		settled: state.ledger.settled,
		available,
	};
	let (book, admitted) = app
		.store
		.admit(&admission)
		.await
		.map_err(|e| ApiError::storage(format!("cannot reserve: {e}")))?;
	let settled = state.ledger.settled;
	match admitted {
		Ok(id) => Ok(Held { store: app.store.clone(), id, open: true }),
		Err(Refusal::CapTooLow { cap_needed }) => {
			let error = format!("the voucher's cap ({}) does not cover this request", voucher.cap);
			let message = format!(
				"{error}: sign a voucher of cap at least {cap_needed} for provider {} (see the \
				 PAYMENT-REQUIRED header)",
				app.provider.to_ss58check()
			);
			let requirement = offer.requirement(error, cap_needed, settled, book);
			Err(payment_required(requirement, "payment_required", message))
		}
		Err(Refusal::NotEnoughCredit { needed, available }) => {
			let error = format!(
				"not enough credits: {needed} needed, {available} available; deposit credits first"
			);
			let message = format!(
				"not enough credits: {needed} needed, {available} available (deposit credits with \
				 inferenceCredits.depositCredits)"
			);
			let requirement =
				offer.requirement(error, settled.saturating_add(needed), settled, book);
			Err(payment_required(requirement, "insufficient_credits", message))
		}
	}
}

/// Admits a request to `endpoint`, or says why not (nothing reserved, nothing counted).
pub async fn admit(
	app: &App,
	endpoint: Endpoint,
	headers: &HeaderMap,
	body: Body,
) -> Result<Admitted, ApiError> {
	let bytes = read_body(app, body).await?;
	let request =
		normalise(endpoint, &bytes, app.settings.default_max_tokens, app.settings.max_choices)?;
	let view = app.fresh_view()?;
	let model = find_model(&view, &request.model)?;
	let worst = tokenmeter_primitives::usage_cost(
		model.prices.0,
		model.prices.1,
		request.input_bound,
		request.output_bound,
	);
	let offer = Offer {
		app,
		model: &model,
		worst,
		min_expiry: view.number.saturating_add(app.settings.min_voucher_blocks),
		headers,
		endpoint,
	};
	let payment = check_payment(app, headers, &offer)?;
	let user = payment.voucher.voucher.user.clone();
	let state = read_user(app, &view, &user, model.id).await?;
	let delegated = read_payer(app, &view, &payment, model.id).await?;
	check_access(app, &payment, &state, delegated.as_ref(), &offer).await?;
	let available = spendable(app, &payment, &state, delegated.as_ref()).await?;
	let quota = rate_limit(app, &user, &state).await?;
	let reservation = match reserve(app, &payment, &state, available, &offer).await {
		Ok(reservation) => reservation,
		Err(e) => {
			// A request refused here does not count against the rate limit.
			app.give_back(&user);
			return Err(e);
		}
	};
	Ok(Admitted {
		endpoint,
		request,
		body: bytes,
		payment,
		settled: state.ledger.settled,
		model,
		reservation,
		quota,
		priority_weight: state.priority_weight,
		served_at: view.number,
	})
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn tokens_come_from_bearer_or_payment_signature() {
		let mut headers = HeaderMap::new();
		assert_eq!(payment_token(&headers), None);
		headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
		assert_eq!(payment_token(&headers), Some(("abc".into(), Source::Bearer)));
		headers.insert(PAYMENT_SIGNATURE, HeaderValue::from_static("xyz"));
		assert_eq!(payment_token(&headers), Some(("xyz".into(), Source::Header)));
	}
}
