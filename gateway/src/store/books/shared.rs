//! The shared database's books (PostgreSQL, a fleet of gateways): in the `books` and
//! `reservations` tables, every admission and charge in a transaction of its own that holds the
//! user's row.

use super::*;

/// The books in a database several gateways share.
pub(in crate::store) struct Shared {
	pool: AnyPool,
	/// This gateway's name among those sharing the database (on its reservations).
	instance: String,
	/// How long a reservation is held at most.
	hold: Duration,
}

impl Shared {
	/// The books in `pool`'s database, reserving as `instance` for at most `hold`.
	pub(in crate::store) fn new(pool: AnyPool, instance: String, hold: Duration) -> Self {
		Shared { pool, instance, hold }
	}

	/// Runs `work` in a transaction of its own.
	async fn run<T: Send + 'static>(
		&self,
		work: impl for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Result<T, StoreError>>,
	) -> Result<T, StoreError> {
		let mut tx = self.pool.begin().await?;
		let output = work(&mut tx).await?;
		tx.commit().await?;
		Ok(output)
	}

	/// Holds `user`'s row for the rest of `tx` and reads their books; `except` is a
	/// reservation not to count.
	async fn lock_book(
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
		let row = sqlx::query("SELECT unsettled FROM books WHERE \"user\" = $1 FOR UPDATE")
			.bind(user)
			.fetch_one(&mut *tx)
			.await?;
		let unsettled = amount(row.get::<&str, _>("unsettled"))?;
		let reserved = Self::reserved(&mut *tx, user, except).await?;
		Ok(Book { reserved, unsettled })
	}

	/// What `user` has reserved (lapsed reservations and `except` not counted).
	async fn reserved<'e>(
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

	/// Sets `user`'s unsettled charges (their row held).
	async fn set_unsettled(
		tx: &mut AnyConnection,
		user: &str,
		unsettled: u128,
	) -> Result<(), StoreError> {
		sqlx::query("UPDATE books SET unsettled = $1 WHERE \"user\" = $2")
			.bind(unsettled.to_string())
			.bind(user)
			.execute(&mut *tx)
			.await
			.map(drop)
	}

	/// Keeps `voucher` and reserves `worst` for its user.
	async fn reserve(
		&self,
		tx: &mut AnyConnection,
		voucher: KeptVoucher<'_>,
		worst: u128,
	) -> Result<i64, StoreError> {
		let user = voucher.0;
		keep_voucher(tx, voucher).await?;
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

	async fn admit_in(
		&self,
		tx: &mut AnyConnection,
		request: &Admission<'_>,
	) -> Result<Admitted, StoreError> {
		let (user, payer) = (request.user.to_ss58check(), request.payer.to_ss58check());
		let book = Self::lock_book(tx, &user, None).await?;
		let (worst, cap) = (request.worst, request.cap);
		if let Err(refusal) = ledger::admit(&book, worst, cap, request.settled, request.available) {
			return Ok((book, Err(refusal)));
		}
		let voucher = (&*user, &*payer, cap, request.expiry, request.signature, request.session);
		let id = self.reserve(tx, voucher, worst).await?;
		Ok((book, Ok(id)))
	}

	async fn charge_in(
		tx: &mut AnyConnection,
		reservation: i64,
		usage: &Charge,
		cap: u128,
		settled: u128,
	) -> Result<(u128, Book), StoreError> {
		let user = usage.user.to_ss58check();
		let others = Self::lock_book(tx, &user, Some(reservation)).await?;
		let charged = ledger::chargeable(usage.cost, cap, settled, others.committed());
		let unsettled = others.unsettled.saturating_add(charged);
		Self::set_unsettled(tx, &user, unsettled).await?;
		sqlx::query("DELETE FROM reservations WHERE id = $1")
			.bind(reservation)
			.execute(&mut *tx)
			.await?;
		let row = RequestRow::new(user.into(), usage.payer.to_ss58check().into(), usage, charged);
		insert_requests(tx, std::slice::from_ref(&row)).await?;
		Ok((charged, Book { reserved: others.reserved, unsettled }))
	}
}

impl Books for Shared {
	fn book<'a>(&'a self, user: &'a AccountId32) -> BoxFuture<'a, Result<Book, StoreError>> {
		Box::pin(async move {
			let user = user.to_ss58check();
			let unsettled = sqlx::query("SELECT unsettled FROM books WHERE \"user\" = $1")
				.bind(&user)
				.fetch_optional(&self.pool)
				.await?
				.map(|row| amount(row.get::<&str, _>("unsettled")))
				.transpose()?
				.unwrap_or(0);
			let reserved = Self::reserved(&self.pool, &user, None).await?;
			Ok(Book { reserved, unsettled })
		})
	}

	fn admit<'a>(
		&'a self,
		request: &'a Admission<'a>,
	) -> BoxFuture<'a, Result<Admitted, StoreError>> {
		Box::pin(async move {
			let mut tx = self.pool.begin().await?;
			let admitted = self.admit_in(&mut tx, request).await?;
			tx.commit().await?;
			Ok(admitted)
		})
	}

	fn release(&self, reservation: i64) -> BoxFuture<'_, Result<(), StoreError>> {
		Box::pin(async move {
			sqlx::query("DELETE FROM reservations WHERE id = $1")
				.bind(reservation)
				.execute(&self.pool)
				.await
				.map(drop)
		})
	}

	fn charge(
		&self,
		reservation: i64,
		usage: Charge,
		cap: u128,
		settled: u128,
	) -> BoxFuture<'_, Result<(u128, Book), StoreError>> {
		Box::pin(async move {
			self.run(move |tx| {
				Box::pin(
					async move { Self::charge_in(tx, reservation, &usage, cap, settled).await },
				)
			})
			.await
		})
	}

	fn totals(&self) -> BoxFuture<'_, Result<(u128, u128), StoreError>> {
		Box::pin(async move {
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
		})
	}

	fn settle_in<'c>(
		&'c self,
		tx: &'c mut AnyConnection,
		per_user: &'c BTreeMap<String, u128>,
	) -> BoxFuture<'c, Result<(), StoreError>> {
		Box::pin(async move {
			for (user, cost) in per_user {
				let book = Self::lock_book(tx, user, None).await?;
				// The row stays (one per user): an admission may be waiting for it.
				Self::set_unsettled(tx, user, book.unsettled.saturating_sub(*cost)).await?;
			}
			Ok(())
		})
	}

	fn settled(&self, _per_user: &BTreeMap<String, u128>) -> Result<(), StoreError> {
		Ok(())
	}
}
