//! The books: admission (reserving a request's worst case), releasing, and charging in place
//! of a reservation; in memory for the embedded database, in the user's row for PostgreSQL.

use super::*;

impl Store {
	/// `FOR UPDATE` where the database has it (SQLite's write lock covers the whole file).
	pub(super) fn for_update(&self) -> &'static str {
		match self.backend {
			Backend::Sqlite => "",
			Backend::Postgres => " FOR UPDATE",
		}
	}

	/// Holds `user`'s row for the rest of `tx` and reads their books; `except` is a
	/// reservation not to count.
	pub(super) async fn lock_book(
		&self,
		tx: &mut AnyConnection,
		user: &str,
		except: Option<i64>,
	) -> Result<Book, StoreError> {
		sqlx::query(
			"INSERT INTO books (\"user\", unsettled) VALUES ($1, '0') ON CONFLICT (\"user\") DO NOTHING",
		)
		.bind(user)
		.execute(&mut *tx)
		.await?;
		let row = sqlx::query(&format!(
			"SELECT unsettled FROM books WHERE \"user\" = $1{}",
			self.for_update()
		))
		.bind(user)
		.fetch_one(&mut *tx)
		.await?;
		let unsettled = amount(row.get::<&str, _>("unsettled"))?;
		let reserved = self.reserved(&mut *tx, user, except).await?;
		Ok(Book { reserved, unsettled })
	}

	pub(super) async fn reserved<'e>(
		&self,
		executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
		user: &str,
		except: Option<i64>,
	) -> Result<u128, StoreError> {
		let rows = sqlx::query(
			"SELECT id, amount FROM reservations WHERE \"user\" = $1 AND expires_at > $2",
		)
		.bind(user)
		.bind(now_ms())
		.fetch_all(executor)
		.await?;
		let mut reserved = 0u128;
		for row in rows {
			if Some(row.get::<i64, _>("id")) != except {
				reserved = reserved.saturating_add(amount(row.get::<&str, _>("amount"))?);
			}
		}
		Ok(reserved)
	}

	/// `user`'s books.
	pub async fn book(&self, user: &AccountId32) -> Result<Book, StoreError> {
		if let Some(local) = self.local() {
			return Ok(local.book(user));
		}
		let user = user.to_ss58check();
		let unsettled = sqlx::query("SELECT unsettled FROM books WHERE \"user\" = $1")
			.bind(&user)
			.fetch_optional(&self.pool)
			.await?
			.map(|row| amount(row.get::<&str, _>("unsettled")))
			.transpose()?
			.unwrap_or(0);
		let reserved = self.reserved(&self.pool, &user, None).await?;
		Ok(Book { reserved, unsettled })
	}

	/// Admits a request if the books allow it ([`ledger::admit`]): reserves its worst case and
	/// keeps its voucher for the feed if it is better than the one kept (a higher cap, or the
	/// same cap with a later expiry), all in one transaction holding the user's row. Returns
	/// the books as they were before, and the reservation's id or why it was refused.
	pub async fn admit(
		&self,
		request: &Admission<'_>,
	) -> Result<(Book, Result<i64, Refusal>), StoreError> {
		if self.local.is_some() {
			return self.admit_local(request).await;
		}
		let (user, payer) = (request.user.to_ss58check(), request.payer.to_ss58check());
		let (cap, expiry, signature) = (request.cap, request.expiry, request.signature.to_string());
		let session = request.session.to_string();
		let (worst, settled, available) = (request.worst, request.settled, request.available);
		let store = self.clone();
		self.run(move |tx| {
			Box::pin(async move {
				let book = store.lock_book(tx, &user, None).await?;
				if let Err(refusal) = ledger::admit(&book, worst, cap, settled, available) {
					return Ok((book, Err(refusal)));
				}
				let voucher = (
					user.as_str(),
					payer.as_str(),
					cap,
					expiry,
					signature.as_str(),
					session.as_str(),
				);
				let id = store.reserve(tx, voucher, worst).await?;
				Ok((book, Ok(id)))
			})
		})
		.await
	}

	/// [`Store::admit`] on the embedded database: checked and reserved in memory; the voucher
	/// written (and committed) only when it is better than the one kept.
	pub(super) async fn admit_local(
		&self,
		request: &Admission<'_>,
	) -> Result<(Book, Result<i64, Refusal>), StoreError> {
		let (cap, expiry, worst) = (request.cap, request.expiry, request.worst);
		let key = (request.user.clone(), request.payer.clone());
		let (book, id, better) = {
			let Some(mut local) = self.local() else {
				return Err(StoreError::Protocol("no local books".into()));
			};
			let book = local.book(request.user);
			if let Err(refusal) =
				ledger::admit(&book, worst, cap, request.settled, request.available)
			{
				return Ok((book, Err(refusal)));
			}
			local.next_reservation += 1;
			let id = local.next_reservation;
			local.reservations.insert(id, (request.user.clone(), worst));
			let reserved = local.reserved.entry(request.user.clone()).or_default();
			*reserved = reserved.saturating_add(worst);
			let better = local.vouchers.get(&key).is_none_or(|&kept| (cap, expiry) > kept);
			if better {
				local.vouchers.insert(key.clone(), (cap, expiry));
			}
			(book, id, better)
		};
		if better {
			let (user, payer) = (request.user.to_ss58check(), request.payer.to_ss58check());
			let (signature, session) = (request.signature.to_string(), request.session.to_string());
			let written = self
				.run(move |tx| {
					Box::pin(async move {
						let voucher = (&*user, &*payer, cap, expiry, &*signature, &*session);
						Self::keep_voucher(tx, voucher).await
					})
				})
				.await;
			if let Err(e) = written {
				if let Some(mut local) = self.local() {
					local.release(id);
					// Written again (if still better) by the next admission.
					local.vouchers.remove(&key);
				}
				return Err(e);
			}
		}
		Ok((book, Ok(id)))
	}

	/// Keeps `voucher` (user, payer, cap, expiry, signature, session) for the feed if it is
	/// better than the one kept: a higher cap, or the same cap with a later expiry.
	pub(super) async fn keep_voucher(
		tx: &mut AnyConnection,
		(user, payer, cap, expiry, signature, session): KeptVoucher<'_>,
	) -> Result<(), StoreError> {
		let kept =
			sqlx::query("SELECT cap, expiry FROM vouchers WHERE \"user\" = $1 AND payer = $2")
				.bind(user)
				.bind(payer)
				.fetch_optional(&mut *tx)
				.await?;
		let better = match kept {
			None => true,
			Some(row) => {
				let kept_cap = amount(row.get::<&str, _>("cap"))?;
				let kept_expiry = row.get::<i64, _>("expiry");
				(cap, i64::from(expiry)) > (kept_cap, kept_expiry)
			}
		};
		if better {
			sqlx::query(
				"INSERT INTO vouchers (\"user\", payer, cap, expiry, signature, session)
				 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (\"user\", payer)
				 DO UPDATE SET cap = $3, expiry = $4, signature = $5, session = $6",
			)
			.bind(user)
			.bind(payer)
			.bind(cap.to_string())
			.bind(i64::from(expiry))
			.bind(signature)
			.bind(session)
			.execute(&mut *tx)
			.await?;
		}
		Ok(())
	}

	/// Keeps `voucher` and reserves `worst` for the user (PostgreSQL).
	pub(super) async fn reserve(
		&self,
		tx: &mut AnyConnection,
		voucher: KeptVoucher<'_>,
		worst: u128,
	) -> Result<i64, StoreError> {
		let user = voucher.0;
		Self::keep_voucher(tx, voucher).await?;
		let id = sqlx::query(
			"INSERT INTO reservations (\"user\", amount, instance, expires_at)
			 VALUES ($1, $2, $3, $4) RETURNING id",
		)
		.bind(user)
		.bind(worst.to_string())
		.bind(&self.instance)
		.bind(now_ms().saturating_add(self.hold.as_millis() as i64))
		.fetch_one(&mut *tx)
		.await?
		.get::<i64, _>("id");
		Ok(id)
	}

	/// Ends reservation `reservation` without a charge.
	pub async fn release(&self, reservation: i64) -> Result<(), StoreError> {
		if let Some(mut local) = self.local() {
			local.release(reservation);
			return Ok(());
		}
		self.run(move |tx| {
			Box::pin(async move {
				sqlx::query("DELETE FROM reservations WHERE id = $1")
					.bind(reservation)
					.execute(&mut *tx)
					.await?;
				Ok(())
			})
		})
		.await
	}

	/// Charges an answer in place of its reservation, in one transaction holding the user's
	/// row: at most what the voucher of cap `cap` still allows with `settled` settled on chain
	/// ([`ledger::chargeable`]). The charge is durable when this returns. Returns what was
	/// charged and the books after.
	pub async fn charge(
		&self,
		reservation: i64,
		usage: &Charge,
		cap: u128,
		settled: u128,
	) -> Result<(u128, Book), StoreError> {
		let usage = usage.clone();
		if self.local.is_some() {
			return self.charge_local(reservation, usage, cap, settled).await;
		}
		let store = self.clone();
		self.run(move |tx| {
			Box::pin(async move { store.charge_in(tx, reservation, &usage, cap, settled).await })
		})
		.await
	}

	/// [`Store::charge`] on the embedded database: the books in memory, one row written.
	pub(super) async fn charge_local(
		&self,
		reservation: i64,
		usage: Charge,
		cap: u128,
		settled: u128,
	) -> Result<(u128, Book), StoreError> {
		let user = &usage.user;
		let (charged, book, row) = {
			let Some(mut local) = self.local() else {
				return Err(StoreError::Protocol("no local books".into()));
			};
			local.release(reservation);
			let others = local.book(user);
			let charged = ledger::chargeable(usage.cost, cap, settled, others.committed());
			local.add_unsettled(user, charged, true);
			let row = RequestRow {
				user: local.name(user),
				payer: local.name(&usage.payer),
				model: usage.model,
				input_tokens: usage.input_tokens,
				output_tokens: usage.output_tokens,
				cost: charged,
				created_at: now_ms(),
				served_at: i64::from(usage.served_at),
			};
			(charged, local.book(user), row)
		};
		let written = match &self.writer {
			Some(writer) => {
				let (done, result) = oneshot::channel();
				let stopped = || StoreError::Protocol("the database writer stopped".into());
				match writer.send(Job::Record { row, done }).await {
					Ok(()) => result.await.map_err(|_| stopped()).and_then(|r| r),
					Err(_) => Err(stopped()),
				}
			}
			None => Err(StoreError::Protocol("no database writer".into())),
		};
		if let Err(e) = written {
			// Not recorded, not charged.
			if let Some(mut local) = self.local() {
				local.add_unsettled(user, charged, false);
			}
			return Err(e);
		}
		Ok((charged, book))
	}

	pub(super) async fn charge_in(
		&self,
		tx: &mut AnyConnection,
		reservation: i64,
		usage: &Charge,
		cap: u128,
		settled: u128,
	) -> Result<(u128, Book), StoreError> {
		let user = usage.user.to_ss58check();
		let others = self.lock_book(tx, &user, Some(reservation)).await?;
		let charged = ledger::chargeable(usage.cost, cap, settled, others.committed());
		let unsettled = others.unsettled.saturating_add(charged);
		sqlx::query("UPDATE books SET unsettled = $1 WHERE \"user\" = $2")
			.bind(unsettled.to_string())
			.bind(&user)
			.execute(&mut *tx)
			.await?;
		sqlx::query("DELETE FROM reservations WHERE id = $1")
			.bind(reservation)
			.execute(&mut *tx)
			.await?;
		let row = RequestRow {
			payer: usage.payer.to_ss58check().into(),
			user: user.into(),
			model: usage.model,
			input_tokens: usage.input_tokens,
			output_tokens: usage.output_tokens,
			cost: charged,
			created_at: now_ms(),
			served_at: i64::from(usage.served_at),
		};
		insert_requests(tx, std::slice::from_ref(&row)).await?;
		Ok((charged, Book { reserved: others.reserved, unsettled }))
	}

	/// Value reserved and unsettled over all users (for metrics).
	pub async fn totals(&self) -> Result<(u128, u128), StoreError> {
		if let Some(local) = self.local() {
			let sum = |m: &HashMap<AccountId32, u128>| {
				m.values().fold(0u128, |a, b| a.saturating_add(*b))
			};
			return Ok((sum(&local.reserved), sum(&local.unsettled)));
		}
		let mut unsettled = 0u128;
		for row in sqlx::query("SELECT unsettled FROM books").fetch_all(&self.pool).await? {
			unsettled = unsettled.saturating_add(amount(row.get::<&str, _>("unsettled"))?);
		}
		let mut reserved = 0u128;
		for row in sqlx::query("SELECT amount FROM reservations WHERE expires_at > $1")
			.bind(now_ms())
			.fetch_all(&self.pool)
			.await?
		{
			reserved = reserved.saturating_add(amount(row.get::<&str, _>("amount"))?);
		}
		Ok((reserved, unsettled))
	}
}
