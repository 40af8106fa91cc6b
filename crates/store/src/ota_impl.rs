//! [`otasrv::OtaStore`] for [`Database`] (sqlx on both back ends; shared SQL with `$N`
//! placeholders). Counters are allocated with `UPDATE .. SET value = value + 1 .. RETURNING`,
//! atomic on SQLite (one writer) and PostgreSQL (row lock), so a value is never handed out
//! twice; the unique (address, tar, counter) of `ota_submissions` backs that up.

use std::collections::HashMap;

use ota::{Counter, Kic, Kid, Spi};
use otasrv::model::{check_address, UnixMillis};
use otasrv::store::SubmissionRecord;
use otasrv::{
    CampaignStatus, CardImport, CatalogueItem, Claimed, Error, ItemClass, JobState, KeySet,
    OtaStore, PorMatch, PorReport, Result, RetryPolicy,
};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::Database;

fn db_err(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            Error::Duplicate(d.message().to_string())
        }
        _ => Error::Storage(e.to_string()),
    }
}

fn corrupt(what: &str) -> Error {
    Error::Storage(format!("corrupt OTA row: {what}"))
}

fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get::<T, _>(col).map_err(db_err)
}

fn tar_hex(t: [u8; 3]) -> String {
    hex::encode_upper(t)
}

fn tar_of(s: &str) -> Result<[u8; 3]> {
    hex::decode(s)
        .ok()
        .and_then(|v| <[u8; 3]>::try_from(v).ok())
        .ok_or_else(|| corrupt("tar"))
}

fn u8_of(v: i64, what: &str) -> Result<u8> {
    u8::try_from(v).map_err(|_| corrupt(what))
}

fn keys_of(row: &AnyRow, address: &str) -> Result<KeySet> {
    let kic: Option<i64> = get(row, "kic")?;
    let kid: Option<i64> = get(row, "kid")?;
    let kic_key: Option<Vec<u8>> = get(row, "kic_key")?;
    let kid_key: Option<Vec<u8>> = get(row, "kid_key")?;
    match (kic, kid, kic_key, kid_key) {
        (Some(kic), Some(kid), Some(a), Some(b)) => {
            KeySet::new(Kic(u8_of(kic, "kic")?), &a, Kid(u8_of(kid, "kid")?), &b)
        }
        _ => Err(Error::NoKeySet(address.to_string())),
    }
}

fn item_of(row: &AnyRow) -> Result<CatalogueItem> {
    let spi_hex: String = get(row, "spi")?;
    let spi_bytes = hex::decode(&spi_hex)
        .ok()
        .and_then(|v| <[u8; 2]>::try_from(v).ok())
        .ok_or_else(|| corrupt("spi"))?;
    let class: String = get(row, "class")?;
    Ok(CatalogueItem {
        name: get(row, "name")?,
        tar: tar_of(&get::<String>(row, "tar")?)?,
        spi: Spi::from_bytes(spi_bytes)?,
        data: get(row, "data")?,
        class: match class.as_str() {
            "first" => ItemClass::First,
            "second" => ItemClass::Second,
            _ => return Err(corrupt("class")),
        },
    })
}

fn policy_of(s: &str) -> Result<RetryPolicy> {
    serde_json::from_str(s).map_err(|_| corrupt("policy"))
}

async fn allocate(
    tx: &mut Transaction<'static, Any>,
    address: &str,
    tar: [u8; 3],
) -> Result<Counter> {
    let t = tar_hex(tar);
    for _ in 0..2 {
        let row = sqlx::query(
            "UPDATE ota_counters SET value = value + 1 WHERE address = $1 AND tar = $2 \
             RETURNING value",
        )
        .bind(address)
        .bind(&t)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
        if let Some(row) = row {
            let v: i64 = get(&row, "value")?;
            // TS 102 225 §5.1.1: CNTR is 5 octets; past 2^40 - 1 the card would block.
            return u64::try_from(v)
                .ok()
                .and_then(|v| Counter::new(v).ok())
                .ok_or_else(|| Error::CounterExhausted(address.to_string()));
        }
        sqlx::query(
            "INSERT INTO ota_counters (address, tar, value) VALUES ($1, $2, 0) \
             ON CONFLICT (address, tar) DO NOTHING",
        )
        .bind(address)
        .bind(&t)
        .execute(&mut **tx)
        .await
        .map_err(|e| match db_err(e) {
            Error::Storage(_) => Error::UnknownCard(address.to_string()),
            other => other,
        })?;
    }
    Err(Error::Storage("counter row vanished".into()))
}

/// Retry or expire a job whose attempt ended without a PoR.
async fn give_up_attempt(
    tx: &mut Transaction<'static, Any>,
    job: i64,
    attempts: i64,
    policy: &RetryPolicy,
    now: UnixMillis,
) -> Result<()> {
    let a = u32::try_from(attempts).unwrap_or(u32::MAX);
    let (state, next_at) = if a >= policy.max_attempts {
        (JobState::Expired, now)
    } else {
        (JobState::Retrying, now.saturating_add(policy.backoff_ms(a)))
    };
    sqlx::query(
        "UPDATE ota_jobs SET state = $1, next_at = $2, deadline = NULL, updated_at = $3 \
         WHERE id = $4",
    )
    .bind(state.as_str())
    .bind(next_at)
    .bind(now)
    .bind(job)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

impl Database {
    async fn policy_for_job(
        &self,
        tx: &mut Transaction<'static, Any>,
        job: i64,
    ) -> Result<Option<(i64, String, RetryPolicy)>> {
        let row = sqlx::query(&format!(
            "SELECT j.attempts, j.state, c.policy FROM ota_jobs j JOIN ota_campaigns c \
             ON c.name = j.campaign WHERE j.id = $1{}",
            match self.backend {
                crate::Backend::Postgres => " FOR UPDATE OF j",
                crate::Backend::Sqlite => "",
            }
        ))
        .bind(job)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some((
                get(&r, "attempts")?,
                get(&r, "state")?,
                policy_of(&get::<String>(&r, "policy")?)?,
            ))),
        }
    }
}

impl OtaStore for Database {
    async fn import_cards(&self, cards: Vec<CardImport>) -> Result<u64> {
        let mut tx = self.begin().await.map_err(db_err)?;
        let mut n = 0;
        for c in cards {
            check_address(&c.address)?;
            let (kic, kic_key, kid, kid_key) = match &c.keys {
                Some(k) => (
                    Some(i64::from(k.kic.0)),
                    Some(k.kic_key.to_vec()),
                    Some(i64::from(k.kid.0)),
                    Some(k.kid_key.to_vec()),
                ),
                None => (None, None, None, None),
            };
            sqlx::query(
                "INSERT INTO ota_cards (address, iccid, kic, kic_key, kid, kid_key, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (address) DO UPDATE SET \
                 iccid = excluded.iccid, kic = excluded.kic, kic_key = excluded.kic_key, \
                 kid = excluded.kid, kid_key = excluded.kid_key",
            )
            .bind(&c.address)
            .bind(&c.iccid)
            .bind(kic)
            .bind(kic_key)
            .bind(kid)
            .bind(kid_key)
            .bind(0i64)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            for (tar, value) in &c.counters {
                let v = i64::try_from(*value)
                    .ok()
                    .filter(|v| *v < (1i64 << 40))
                    .ok_or_else(|| Error::invalid("counter", "exceeds 2^40 - 1"))?;
                // Never move a counter backwards (that would reuse values).
                sqlx::query(
                    "INSERT INTO ota_counters (address, tar, value) VALUES ($1, $2, $3) \
                     ON CONFLICT (address, tar) DO UPDATE SET value = excluded.value \
                     WHERE ota_counters.value < excluded.value",
                )
                .bind(&c.address)
                .bind(tar_hex(*tar))
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
            n += 1;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(n)
    }

    async fn card_keys(&self, address: &str) -> Result<KeySet> {
        let row =
            sqlx::query("SELECT kic, kic_key, kid, kid_key FROM ota_cards WHERE address = $1")
                .bind(address)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                .ok_or_else(|| Error::UnknownCard(address.to_string()))?;
        keys_of(&row, address)
    }

    async fn allocate_counter(&self, address: &str, tar: [u8; 3]) -> Result<Counter> {
        let mut tx = self.begin().await.map_err(db_err)?;
        let c = allocate(&mut tx, address, tar).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(c)
    }

    async fn put_item(&self, item: CatalogueItem) -> Result<()> {
        let class = match item.class {
            ItemClass::First => "first",
            ItemClass::Second => "second",
        };
        sqlx::query(
            "INSERT INTO ota_items (name, tar, spi, data, class, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&item.name)
        .bind(tar_hex(item.tar))
        .bind(hex::encode_upper(item.spi.to_bytes()))
        .bind(item.data.clone())
        .bind(class)
        .bind(0i64)
        .execute(&self.pool)
        .await
        .map_err(|e| match db_err(e) {
            Error::Duplicate(_) => Error::Duplicate(format!("item {}", item.name)),
            other => other,
        })?;
        Ok(())
    }

    async fn get_item(&self, name: &str) -> Result<CatalogueItem> {
        let row = sqlx::query("SELECT name, tar, spi, data, class FROM ota_items WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::UnknownItem(name.to_string()))?;
        item_of(&row)
    }

    async fn list_items(&self) -> Result<Vec<CatalogueItem>> {
        let rows = sqlx::query("SELECT name, tar, spi, data, class FROM ota_items ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(item_of).collect()
    }

    async fn create_campaign(
        &self,
        name: &str,
        item: &str,
        addresses: Vec<String>,
        policy: RetryPolicy,
        now: UnixMillis,
    ) -> Result<u64> {
        if name.is_empty() || name.len() > 64 {
            return Err(Error::invalid("campaign", "name of 1 to 64 characters"));
        }
        if policy.max_attempts == 0 {
            return Err(Error::invalid("policy", "max_attempts must be at least 1"));
        }
        let mut tx = self.begin().await.map_err(db_err)?;
        let exists = sqlx::query("SELECT 1 AS one FROM ota_items WHERE name = $1")
            .bind(item)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if exists.is_none() {
            return Err(Error::UnknownItem(item.to_string()));
        }
        let policy_json =
            serde_json::to_string(&policy).map_err(|e| Error::Storage(e.to_string()))?;
        sqlx::query(
            "INSERT INTO ota_campaigns (name, item, policy, por_timeout_ms, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(name)
        .bind(item)
        .bind(policy_json)
        .bind(policy.por_timeout_ms)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            Error::Duplicate(_) => Error::Duplicate(format!("campaign {name}")),
            other => other,
        })?;
        let mut n = 0u64;
        for a in &addresses {
            let row =
                sqlx::query("SELECT kic, kic_key, kid, kid_key FROM ota_cards WHERE address = $1")
                    .bind(a)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .ok_or_else(|| Error::UnknownCard(a.clone()))?;
            // Refuse a card without a (usable) key set before anything is queued.
            keys_of(&row, a)?;
            sqlx::query(
                "INSERT INTO ota_jobs (campaign, address, state, attempts, next_at, updated_at) \
                 VALUES ($1, $2, $3, 0, $4, $4)",
            )
            .bind(name)
            .bind(a)
            .bind(JobState::Queued.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| match db_err(e) {
                Error::Duplicate(_) => Error::Duplicate(format!("card {a} twice in {name}")),
                other => other,
            })?;
            n += 1;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(n)
    }

    async fn claim(&self, now: UnixMillis, limit: u32) -> Result<Vec<Claimed>> {
        let mut tx = self.begin().await.map_err(db_err)?;
        // The card's key set comes with the job row; only the job rows are locked.
        let rows = sqlx::query(&format!(
            "SELECT j.id, j.campaign, j.address, j.attempts, c.kic, c.kic_key, c.kid, c.kid_key \
             FROM ota_jobs j JOIN ota_cards c ON c.address = j.address \
             WHERE j.state IN ('queued', 'retrying') AND j.next_at <= $1 ORDER BY j.id LIMIT $2{}",
            match self.backend {
                crate::Backend::Postgres => " FOR UPDATE OF j SKIP LOCKED",
                crate::Backend::Sqlite => "",
            }
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut items: HashMap<String, (CatalogueItem, RetryPolicy)> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let job: i64 = get(&row, "id")?;
            let campaign: String = get(&row, "campaign")?;
            let address: String = get(&row, "address")?;
            let attempts: i64 = get(&row, "attempts")?;
            if !items.contains_key(&campaign) {
                let r = sqlx::query(
                    "SELECT i.name, i.tar, i.spi, i.data, i.class, c.policy FROM ota_campaigns c \
                     JOIN ota_items i ON i.name = c.item WHERE c.name = $1",
                )
                .bind(&campaign)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
                let policy = policy_of(&get::<String>(&r, "policy")?)?;
                items.insert(campaign.clone(), (item_of(&r)?, policy));
            }
            let (item, policy) = items
                .get(&campaign)
                .cloned()
                .ok_or_else(|| corrupt("campaign"))?;
            let keys = keys_of(&row, &address)?;
            let counter = allocate(&mut tx, &address, item.tar).await?;
            let sub = sqlx::query(
                "INSERT INTO ota_submissions (job_id, address, tar, counter, state, created_at) \
                 VALUES ($1, $2, $3, $4, 'submitting', $5) RETURNING id",
            )
            .bind(job)
            .bind(&address)
            .bind(tar_hex(item.tar))
            .bind(i64::try_from(counter.value()).map_err(|_| corrupt("counter"))?)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            let submission: i64 = get(&sub, "id")?;
            sqlx::query(
                "UPDATE ota_jobs SET state = 'submitting', attempts = attempts + 1, \
                 submission = $1, deadline = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(submission)
            .bind(now.saturating_add(policy.submit_timeout_ms))
            .bind(now)
            .bind(job)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            out.push(Claimed {
                submission,
                job,
                address,
                keys,
                item,
                counter,
                attempt: u32::try_from(attempts + 1).unwrap_or(u32::MAX),
            });
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn submissions_accepted(
        &self,
        accepted: Vec<(i64, String)>,
        now: UnixMillis,
    ) -> Result<()> {
        let mut tx = self.begin().await.map_err(db_err)?;
        for (sub, message_id) in accepted {
            sqlx::query(
                "UPDATE ota_submissions SET state = 'accepted', message_id = $1 \
                 WHERE id = $2 AND state = 'submitting'",
            )
            .bind(&message_id)
            .bind(sub)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            // The PoR deadline comes from the campaign's policy.
            sqlx::query(
                "UPDATE ota_jobs SET state = 'sent', deadline = $1 + (SELECT c.por_timeout_ms \
                 FROM ota_campaigns c WHERE c.name = ota_jobs.campaign), updated_at = $1 \
                 WHERE submission = $2 AND state = 'submitting'",
            )
            .bind(now)
            .bind(sub)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn submission_failed(&self, submission: i64, now: UnixMillis) -> Result<()> {
        let mut tx = self.begin().await.map_err(db_err)?;
        sqlx::query("UPDATE ota_submissions SET state = 'failed' WHERE id = $1")
            .bind(submission)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let job = sqlx::query(
            "SELECT id FROM ota_jobs WHERE submission = $1 AND state IN ('submitting', 'sent')",
        )
        .bind(submission)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(j) = job {
            let id: i64 = get(&j, "id")?;
            if let Some((attempts, _, policy)) = self.policy_for_job(&mut tx, id).await? {
                give_up_attempt(&mut tx, id, attempts, &policy, now).await?;
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn record_pors(&self, pors: Vec<PorReport>, now: UnixMillis) -> Result<Vec<PorMatch>> {
        let mut tx = self.begin().await.map_err(db_err)?;
        let mut out = Vec::with_capacity(pors.len());
        for p in pors {
            let counter = i64::try_from(p.counter.value()).map_err(|_| corrupt("counter"))?;
            let row = sqlx::query(
                "SELECT id, job_id FROM ota_submissions WHERE address = $1 AND tar = $2 \
                 AND counter = $3",
            )
            .bind(&p.address)
            .bind(tar_hex(p.tar))
            .bind(counter)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            let Some(row) = row else {
                out.push(PorMatch::Unknown);
                continue;
            };
            let sub: i64 = get(&row, "id")?;
            let job: i64 = get(&row, "job_id")?;
            sqlx::query("UPDATE ota_submissions SET state = 'por', por_status = $1 WHERE id = $2")
                .bind(i64::from(p.status))
                .bind(sub)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let state = if p.status == 0 {
                JobState::PorOk
            } else {
                JobState::PorError
            };
            let moved = sqlx::query(
                "UPDATE ota_jobs SET state = $1, por_status = $2, deadline = NULL, \
                 updated_at = $3 WHERE id = $4 AND state NOT IN ('por_ok', 'por_error', 'expired')",
            )
            .bind(state.as_str())
            .bind(i64::from(p.status))
            .bind(now)
            .bind(job)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
            out.push(if moved > 0 {
                PorMatch::Updated { job, state }
            } else {
                PorMatch::AlreadyFinal { job }
            });
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn sweep(&self, now: UnixMillis) -> Result<u64> {
        let mut tx = self.begin().await.map_err(db_err)?;
        let rows = sqlx::query(&format!(
            "SELECT id FROM ota_jobs WHERE state IN ('submitting', 'sent') AND deadline <= $1 \
             ORDER BY id LIMIT 1000{}",
            self.skip_locked()
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut n = 0;
        for r in rows {
            let id: i64 = get(&r, "id")?;
            if let Some((attempts, _, policy)) = self.policy_for_job(&mut tx, id).await? {
                give_up_attempt(&mut tx, id, attempts, &policy, now).await?;
                n += 1;
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(n)
    }

    async fn campaign_status(&self, name: &str) -> Result<CampaignStatus> {
        let c = sqlx::query("SELECT item FROM ota_campaigns WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::UnknownCampaign(name.to_string()))?;
        let mut st = CampaignStatus {
            campaign: name.to_string(),
            item: get(&c, "item")?,
            ..Default::default()
        };
        for s in JobState::ALL {
            st.states.insert(s.as_str().to_string(), 0);
        }
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n, CAST(SUM(attempts) AS BIGINT) AS a FROM ota_jobs WHERE campaign = $1 \
             GROUP BY state",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for r in rows {
            let s: String = get(&r, "state")?;
            let n: i64 = get(&r, "n")?;
            let a: Option<i64> = get(&r, "a")?;
            let n = u64::try_from(n).unwrap_or(0);
            st.total += n;
            st.packets += a.and_then(|a| u64::try_from(a).ok()).unwrap_or(0);
            st.states.insert(s, n);
        }
        Ok(st)
    }

    async fn list_campaigns(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM ota_campaigns ORDER BY created_at, name")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(|r| get(r, "name")).collect()
    }

    async fn campaign_submissions(&self, name: &str) -> Result<Vec<SubmissionRecord>> {
        let rows = sqlx::query(
            "SELECT s.id, s.address, s.tar, s.counter, s.state, s.message_id FROM ota_submissions s \
             JOIN ota_jobs j ON j.id = s.job_id WHERE j.campaign = $1 ORDER BY s.id",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(SubmissionRecord {
                    id: get(r, "id")?,
                    address: get(r, "address")?,
                    tar: tar_of(&get::<String>(r, "tar")?)?,
                    counter: u64::try_from(get::<i64>(r, "counter")?)
                        .map_err(|_| corrupt("counter"))?,
                    state: get(r, "state")?,
                    message_id: get(r, "message_id")?,
                })
            })
            .collect()
    }

    async fn has_unfinished(&self) -> Result<bool> {
        let r = sqlx::query(
            "SELECT 1 AS one FROM ota_jobs WHERE state NOT IN ('por_ok', 'por_error', 'expired') \
             LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(r.is_some())
    }
}
