//! The embedded database's books: in memory, authoritative for the one gateway that owns the
//! file; the database is written (by the one writer) only for charges and better vouchers.

use super::*;

/// The books of the embedded database's one instance.
pub(in crate::store) struct Embedded {
	local: Mutex<Local>,
	writer: mpsc::Sender<Job>,
	/// Where charges are written (SQLite's `NORMAL`); through the writer when none (`FULL`:
	/// a sync per commit).
	journal: Option<Arc<Journal>>,
}

/// The books themselves.
#[derive(Default)]
struct Local {
	unsettled: HashMap<AccountId32, u128>,
	reserved: HashMap<AccountId32, u128>,
	reservations: HashMap<i64, (AccountId32, u128)>,
	next_reservation: i64,
	/// The (cap, expiry) of the voucher kept per (user, payer), as written.
	vouchers: HashMap<(AccountId32, AccountId32), (u128, u32)>,
	/// SS58 text of the accounts recently written (encoding costs more than the rest of a
	/// charge's bookkeeping); at most [`NAMES`], then forgotten and encoded again.
	names: HashMap<AccountId32, Arc<str>>,
}

/// Accounts whose SS58 text is remembered at most.
const NAMES: usize = 1 << 16;

impl Local {
	fn name(&mut self, account: &AccountId32) -> Arc<str> {
		if let Some(name) = self.names.get(account) {
			return name.clone();
		}
		if self.names.len() >= NAMES {
			self.names.clear();
		}
		let name: Arc<str> = account.to_ss58check().into();
		self.names.insert(account.clone(), name.clone());
		name
	}

	fn book(&self, user: &AccountId32) -> Book {
		Book {
			reserved: self.reserved.get(user).copied().unwrap_or(0),
			unsettled: self.unsettled.get(user).copied().unwrap_or(0),
		}
	}

	fn reserve(&mut self, user: &AccountId32, amount: u128) -> i64 {
		self.next_reservation += 1;
		let id = self.next_reservation;
		self.reservations.insert(id, (user.clone(), amount));
		let reserved = self.reserved.entry(user.clone()).or_default();
		*reserved = reserved.saturating_add(amount);
		id
	}

	fn release(&mut self, id: i64) {
		let Some((user, amount)) = self.reservations.remove(&id) else { return };
		if let Some(reserved) = self.reserved.get_mut(&user) {
			*reserved = reserved.saturating_sub(amount);
			if *reserved == 0 {
				self.reserved.remove(&user);
			}
		}
	}

	fn add_unsettled(&mut self, user: &AccountId32, delta: u128, up: bool) {
		let entry = self.unsettled.entry(user.clone()).or_default();
		*entry = if up { entry.saturating_add(delta) } else { entry.saturating_sub(delta) };
		if *entry == 0 {
			self.unsettled.remove(user);
		}
	}
}

impl Embedded {
	/// The books of the database `pool`, whose writes go to `writer`: per user the charges not
	/// yet in the feed and the feed records kept (not attested), and the vouchers kept.
	pub(in crate::store) async fn load(
		pool: &AnyPool,
		writer: mpsc::Sender<Job>,
		journal: Option<Arc<Journal>>,
	) -> Result<Self, StoreError> {
		let mut local = Local::default();
		for query in ["SELECT \"user\", cost FROM pending", "SELECT \"user\", cost FROM feed"] {
			for row in sqlx::query(query).fetch_all(pool).await? {
				let cost = amount(row.get::<&str, _>("cost"))?;
				local.add_unsettled(&account(row.get::<&str, _>("user"))?, cost, true);
			}
		}
		for row in
			sqlx::query("SELECT \"user\", payer, cap, expiry FROM vouchers").fetch_all(pool).await?
		{
			local.vouchers.insert(
				(account(row.get::<&str, _>("user"))?, account(row.get::<&str, _>("payer"))?),
				(amount(row.get::<&str, _>("cap"))?, row.get::<i64, _>("expiry") as u32),
			);
		}
		Ok(Embedded { local: Mutex::new(local), writer, journal })
	}

	fn local(&self) -> std::sync::MutexGuard<'_, Local> {
		self.local.lock().unwrap_or_else(|e| e.into_inner())
	}

	/// Checks and reserves in memory; returns the books before, the reservation and whether
	/// the voucher is better than the one kept (and so must be written).
	fn reserve(&self, request: &Admission<'_>) -> (Book, Result<i64, Refusal>, bool) {
		let mut local = self.local();
		let book = local.book(request.user);
		let (cap, expiry) = (request.cap, request.expiry);
		if let Err(refusal) =
			ledger::admit(&book, request.worst, cap, request.settled, request.available)
		{
			return (book, Err(refusal), false);
		}
		let id = local.reserve(request.user, request.worst);
		let key = (request.user.clone(), request.payer.clone());
		let better = local.vouchers.get(&key).is_none_or(|&kept| (cap, expiry) > kept);
		if better {
			local.vouchers.insert(key, (cap, expiry));
		}
		(book, Ok(id), better)
	}

	/// Writes the better voucher of `request` (committed when this returns).
	async fn write_voucher(&self, request: &Admission<'_>) -> Result<(), StoreError> {
		let (user, payer) = (request.user.to_ss58check(), request.payer.to_ss58check());
		let (cap, expiry) = (request.cap, request.expiry);
		let (signature, session) = (request.signature.to_string(), request.session.to_string());
		run_on(&self.writer, move |tx| {
			Box::pin(async move {
				keep_voucher(tx, (&*user, &*payer, cap, expiry, &*signature, &*session)).await
			})
		})
		.await
	}

	/// Writes a charged request's row: to the journal, or through the writer (durable when
	/// this returns, either way).
	async fn record(&self, row: RequestRow) -> Result<(), StoreError> {
		if let Some(journal) = &self.journal {
			return journal.record(row).await;
		}
		let (done, result) = oneshot::channel();
		let stopped = || StoreError::Protocol("the database writer stopped".into());
		self.writer.send(Job::Record { row, done }).await.map_err(|_| stopped())?;
		result.await.map_err(|_| stopped())?
	}
}

impl Books for Embedded {
	fn book<'a>(&'a self, user: &'a AccountId32) -> BoxFuture<'a, Result<Book, StoreError>> {
		Box::pin(async move { Ok(self.local().book(user)) })
	}

	fn admit<'a>(
		&'a self,
		request: &'a Admission<'a>,
	) -> BoxFuture<'a, Result<Admitted, StoreError>> {
		Box::pin(async move {
			let (book, admitted, better) = self.reserve(request);
			let Ok(id) = admitted else { return Ok((book, admitted)) };
			if better {
				if let Err(e) = self.write_voucher(request).await {
					let mut local = self.local();
					local.release(id);
					// Written again (if still better) by the next admission.
					local.vouchers.remove(&(request.user.clone(), request.payer.clone()));
					return Err(e);
				}
			}
			Ok((book, Ok(id)))
		})
	}

	fn release(&self, reservation: i64) -> BoxFuture<'_, Result<(), StoreError>> {
		self.local().release(reservation);
		Box::pin(async { Ok(()) })
	}

	fn charge(
		&self,
		reservation: i64,
		usage: Charge,
		cap: u128,
		settled: u128,
	) -> BoxFuture<'_, Result<(u128, Book), StoreError>> {
		Box::pin(async move {
			let user = &usage.user;
			let (charged, book, row) = {
				let mut local = self.local();
				local.release(reservation);
				let others = local.book(user);
				let charged = ledger::chargeable(usage.cost, cap, settled, others.committed());
				local.add_unsettled(user, charged, true);
				let (user_name, payer_name) = (local.name(user), local.name(&usage.payer));
				(charged, local.book(user), RequestRow::new(user_name, payer_name, &usage, charged))
			};
			if let Err(e) = self.record(row).await {
				// Not recorded, not charged.
				self.local().add_unsettled(user, charged, false);
				return Err(e);
			}
			Ok((charged, book))
		})
	}

	fn totals(&self) -> BoxFuture<'_, Result<(u128, u128), StoreError>> {
		let local = self.local();
		let sum =
			|m: &HashMap<AccountId32, u128>| m.values().fold(0u128, |a, b| a.saturating_add(*b));
		let totals = (sum(&local.reserved), sum(&local.unsettled));
		Box::pin(async move { Ok(totals) })
	}

	fn settle_in<'c>(
		&'c self,
		_tx: &'c mut AnyConnection,
		_per_user: &'c BTreeMap<String, u128>,
	) -> BoxFuture<'c, Result<(), StoreError>> {
		Box::pin(async { Ok(()) })
	}

	fn settled(&self, per_user: &BTreeMap<String, u128>) -> Result<(), StoreError> {
		let mut local = self.local();
		for (user, cost) in per_user {
			local.add_unsettled(&account(user)?, *cost, false);
		}
		Ok(())
	}
}
