//! [`tsm::TsmStore`] for [`Database`] (sqlx on both back ends; shared SQL with `$N`
//! placeholders; tables of migration 4).
//!
//! * Every change of several rows is one transaction ([`Database::begin`]: `BEGIN IMMEDIATE` on
//!   SQLite, so a read followed by a write never meets another writer in between).
//! * `count_script` is one `UPDATE .. WHERE scripts_used < max_scripts AND ended IS NULL
//!   RETURNING ..`: the condition and the increment are one atomic step on both back ends.
//! * `idempotency_begin` is `INSERT .. ON CONFLICT DO NOTHING`: only the caller whose insert
//!   created the row gets `New` (PostgreSQL makes a concurrent insert of the same key wait for
//!   the first transaction, then do nothing).
//! * Error messages carry the database's message, never bound values (keys are sealed anyway).

use seal::SealedBlob;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use tsm::model::{
    check_aid, check_id, AuditEntry, Bearer, CatalogueEntry, Conversation, IdempotencyRecord, Mno,
    Operation, QueueState, QueuedRequest, SdKind, Se, SecurityDomain, ServiceInstance,
    ServiceState, Sp, UnixMillis,
};
use tsm::store::{AuditFilter, FlowOutcome, IdempotencyBegin};
use tsm::{Result, TsmError, TsmStore};

use crate::Database;

/// A storage error, without bound values: the driver's message (or the error's kind).
fn db_err(e: sqlx::Error) -> TsmError {
    match &e {
        sqlx::Error::Database(d) => TsmError::Storage(d.message().to_string()),
        _ => TsmError::Storage(e.to_string()),
    }
}

fn is_unique(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn is_foreign_key(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

fn corrupt(what: &str) -> TsmError {
    TsmError::Storage(format!("corrupt TSM row: {what}"))
}

fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get::<T, _>(col).map_err(db_err)
}

fn int<T: TryFrom<i64>>(row: &AnyRow, col: &str) -> Result<T> {
    T::try_from(get::<i64>(row, col)?).map_err(|_| corrupt(col))
}

const SE_COLS: &str = "s.se_id, s.mno_id, s.se_type, s.profile_id, s.gp_version, s.jc_version, \
     s.cert_level, s.cert_expiry, s.isd_aid, s.link, s.ssd_initial_keys";

fn se_of(r: &AnyRow) -> Result<Se> {
    Ok(Se {
        se_id: get(r, "se_id")?,
        mno_id: get(r, "mno_id")?,
        se_type: get(r, "se_type")?,
        profile_id: get(r, "profile_id")?,
        gp_version: get(r, "gp_version")?,
        jc_version: get(r, "jc_version")?,
        cert_level: get(r, "cert_level")?,
        cert_expiry: get(r, "cert_expiry")?,
        isd_aid: get(r, "isd_aid")?,
        link: get(r, "link")?,
        ssd_initial_keys: get::<Option<Vec<u8>>>(r, "ssd_initial_keys")?.map(SealedBlob),
    })
}

fn sp_of(r: &AnyRow) -> Result<Sp> {
    Ok(Sp {
        id: get(r, "id")?,
        name: get(r, "name")?,
        cert_subject: get(r, "cert_subject")?,
    })
}

fn sd_of(r: &AnyRow) -> Result<SecurityDomain> {
    Ok(SecurityDomain {
        se_id: get(r, "se_id")?,
        aid: get(r, "aid")?,
        kind: SdKind::parse(&get::<String>(r, "kind")?).ok_or_else(|| corrupt("kind"))?,
        sp_id: get(r, "sp_id")?,
        keys: get::<Option<Vec<u8>>>(r, "keys")?.map(SealedBlob),
        kvn: int(r, "kvn")?,
        rotated: get::<i64>(r, "rotated")? != 0,
    })
}

const CAT_COLS: &str =
    "sp_id, service_id, version, package_aid, module_aid, instance_aid, memory, \
     privileges, install_params";

fn cat_of(r: &AnyRow) -> Result<CatalogueEntry> {
    Ok(CatalogueEntry {
        sp_id: get(r, "sp_id")?,
        service_id: get(r, "service_id")?,
        version: get(r, "version")?,
        package_aid: get(r, "package_aid")?,
        module_aid: get(r, "module_aid")?,
        instance_aid: get(r, "instance_aid")?,
        memory: int(r, "memory")?,
        privileges: get(r, "privileges")?,
        install_params: get(r, "install_params")?,
    })
}

const INST_COLS: &str = "se_id, sp_id, service_id, qualifier, version, instance_aid, ssd_aid, \
     state, detail, updated_at";

fn inst_of(r: &AnyRow) -> Result<ServiceInstance> {
    Ok(ServiceInstance {
        se_id: get(r, "se_id")?,
        sp_id: get(r, "sp_id")?,
        service_id: get(r, "service_id")?,
        qualifier: get(r, "qualifier")?,
        version: get(r, "version")?,
        instance_aid: get(r, "instance_aid")?,
        ssd_aid: get(r, "ssd_aid")?,
        state: ServiceState::parse(&get::<String>(r, "state")?).ok_or_else(|| corrupt("state"))?,
        detail: get(r, "detail")?,
        updated_at: get(r, "updated_at")?,
    })
}

const CONV_COLS: &str = "id, sp_id, se_id, sd_aid, opened_at, expires_at, max_scripts, \
     max_script_bytes, scripts_used, ended";

fn conv_of(r: &AnyRow) -> Result<Conversation> {
    Ok(Conversation {
        id: get(r, "id")?,
        sp_id: get(r, "sp_id")?,
        se_id: get(r, "se_id")?,
        sd_aid: get(r, "sd_aid")?,
        opened_at: get(r, "opened_at")?,
        expires_at: get(r, "expires_at")?,
        max_scripts: int(r, "max_scripts")?,
        max_script_bytes: int(r, "max_script_bytes")?,
        scripts_used: int(r, "scripts_used")?,
        ended: get(r, "ended")?,
    })
}

const AUDIT_COLS: &str =
    "id, at, se_id, sp_id, conversation_id, operation, sd_aid, command, response";

fn audit_of(r: &AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: get(r, "id")?,
        at: get(r, "at")?,
        se_id: get(r, "se_id")?,
        sp_id: get(r, "sp_id")?,
        conversation_id: get(r, "conversation_id")?,
        operation: get(r, "operation")?,
        sd_aid: get(r, "sd_aid")?,
        command: get(r, "command")?,
        response: get(r, "response")?,
    })
}

const QUEUE_COLS: &str = "id, se_id, sp_id, operation, body, state, result, created_at";

impl Database {
    /// One queued request from state `from` to `to`, atomically; whether it was in `from`.
    async fn move_queued(&self, id: i64, from: QueueState, to: QueueState) -> Result<bool> {
        let n = sqlx::query("UPDATE tsm_queue SET state = $1 WHERE id = $2 AND state = $3")
            .bind(to.as_str())
            .bind(id)
            .bind(from.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected();
        Ok(n == 1)
    }
}

fn queued_of(r: &AnyRow) -> Result<QueuedRequest> {
    Ok(QueuedRequest {
        id: get(r, "id")?,
        se_id: get(r, "se_id")?,
        sp_id: get(r, "sp_id")?,
        operation: Operation::parse(&get::<String>(r, "operation")?)
            .ok_or_else(|| corrupt("operation"))?,
        body: get(r, "body")?,
        state: QueueState::parse(&get::<String>(r, "state")?).ok_or_else(|| corrupt("state"))?,
        result: get(r, "result")?,
        created_at: get(r, "created_at")?,
    })
}

fn check_sd(sd: &SecurityDomain) -> Result<()> {
    check_id("se_id", &sd.se_id)?;
    check_aid("aid", &sd.aid)?;
    if let Some(sp) = &sd.sp_id {
        check_id("sp_id", sp)?;
    }
    Ok(())
}

/// Insert or replace a security domain by (se_id, aid).
async fn upsert_sd(tx: &mut Transaction<'static, Any>, sd: &SecurityDomain) -> Result<()> {
    sqlx::query(
        "INSERT INTO tsm_sds (se_id, aid, kind, sp_id, keys, kvn, rotated) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (se_id, aid) DO UPDATE SET \
         kind = excluded.kind, sp_id = excluded.sp_id, keys = excluded.keys, \
         kvn = excluded.kvn, rotated = excluded.rotated",
    )
    .bind(&sd.se_id)
    .bind(sd.aid.clone())
    .bind(sd.kind.as_str())
    .bind(&sd.sp_id)
    .bind(sd.keys.as_ref().map(|k| k.0.clone()))
    .bind(i64::from(sd.kvn))
    .bind(i64::from(sd.rotated))
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        if is_foreign_key(&e) {
            TsmError::UnknownSe
        } else {
            db_err(e)
        }
    })?;
    Ok(())
}

async fn insert_audit(tx: &mut Transaction<'static, Any>, a: &AuditEntry) -> Result<()> {
    sqlx::query(
        "INSERT INTO tsm_audit (at, se_id, sp_id, conversation_id, operation, sd_aid, command, \
         response) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(a.at)
    .bind(&a.se_id)
    .bind(&a.sp_id)
    .bind(&a.conversation_id)
    .bind(&a.operation)
    .bind(a.sd_aid.clone())
    .bind(a.command.clone())
    .bind(a.response.clone())
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

impl Database {
    async fn fetch_se(&self, sql: &str, arg: &str) -> Result<Option<Se>> {
        sqlx::query(sql)
            .bind(arg)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(se_of)
            .transpose()
    }

    async fn fetch_sp(&self, col: &str, arg: &str) -> Result<Option<Sp>> {
        // `col` is one of this module's constants, never input.
        sqlx::query(&format!(
            "SELECT id, name, cert_subject FROM tsm_sps WHERE {col} = $1"
        ))
        .bind(arg)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(sp_of)
        .transpose()
    }
}

impl TsmStore for Database {
    async fn put_mno(&self, mno: Mno) -> Result<()> {
        check_id("mno_id", &mno.id)?;
        sqlx::query(
            "INSERT INTO tsm_mnos (id, name, bearer) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, bearer = excluded.bearer",
        )
        .bind(&mno.id)
        .bind(&mno.name)
        .bind(mno.bearer.as_str())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn get_mno(&self, id: &str) -> Result<Option<Mno>> {
        let Some(r) = sqlx::query("SELECT id, name, bearer FROM tsm_mnos WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        Ok(Some(Mno {
            id: get(&r, "id")?,
            name: get(&r, "name")?,
            bearer: Bearer::parse(&get::<String>(&r, "bearer")?)
                .ok_or_else(|| corrupt("bearer"))?,
        }))
    }

    async fn put_sp(&self, sp: Sp) -> Result<()> {
        check_id("sp_id", &sp.id)?;
        if sp.cert_subject.is_empty() {
            return Err(TsmError::invalid("cert_subject", "must not be empty"));
        }
        sqlx::query(
            "INSERT INTO tsm_sps (id, name, cert_subject) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
             cert_subject = excluded.cert_subject",
        )
        .bind(&sp.id)
        .bind(&sp.name)
        .bind(&sp.cert_subject)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique(&e) {
                TsmError::Duplicate("an SP with this certificate subject".into())
            } else {
                db_err(e)
            }
        })?;
        Ok(())
    }

    async fn get_sp(&self, id: &str) -> Result<Option<Sp>> {
        self.fetch_sp("id", id).await
    }

    async fn sp_by_subject(&self, subject: &str) -> Result<Option<Sp>> {
        self.fetch_sp("cert_subject", subject).await
    }

    async fn list_sps(&self) -> Result<Vec<Sp>> {
        let rows = sqlx::query("SELECT id, name, cert_subject FROM tsm_sps ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(sp_of).collect()
    }

    async fn put_se(&self, se: Se, msis: Vec<String>, sds: Vec<SecurityDomain>) -> Result<()> {
        check_id("se_id", &se.se_id)?;
        check_id("mno_id", &se.mno_id)?;
        check_aid("isd_aid", &se.isd_aid)?;
        for m in &msis {
            check_id("msi", m)?;
        }
        for (i, sd) in sds.iter().enumerate() {
            check_sd(sd)?;
            if sd.se_id != se.se_id {
                return Err(TsmError::invalid("sds", "a security domain of another SE"));
            }
            if sds[..i].iter().any(|o| o.aid == sd.aid) {
                return Err(TsmError::invalid(
                    "sds",
                    "two security domains with one AID",
                ));
            }
        }
        let mut tx = self.begin().await.map_err(db_err)?;
        let mno = sqlx::query("SELECT 1 AS one FROM tsm_mnos WHERE id = $1")
            .bind(&se.mno_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if mno.is_none() {
            return Err(TsmError::invalid("mno_id", "unknown MNO"));
        }
        sqlx::query(
            "INSERT INTO tsm_ses (se_id, mno_id, se_type, profile_id, gp_version, jc_version, \
             cert_level, cert_expiry, isd_aid, link, ssd_initial_keys) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (se_id) DO UPDATE SET mno_id = excluded.mno_id, \
             se_type = excluded.se_type, profile_id = excluded.profile_id, \
             gp_version = excluded.gp_version, jc_version = excluded.jc_version, \
             cert_level = excluded.cert_level, cert_expiry = excluded.cert_expiry, \
             isd_aid = excluded.isd_aid, link = excluded.link, \
             ssd_initial_keys = excluded.ssd_initial_keys",
        )
        .bind(&se.se_id)
        .bind(&se.mno_id)
        .bind(&se.se_type)
        .bind(&se.profile_id)
        .bind(&se.gp_version)
        .bind(&se.jc_version)
        .bind(&se.cert_level)
        .bind(&se.cert_expiry)
        .bind(se.isd_aid.clone())
        .bind(&se.link)
        .bind(se.ssd_initial_keys.as_ref().map(|k| k.0.clone()))
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            // The MNO was deleted meanwhile (there is no delete today).
            if is_foreign_key(&e) {
                TsmError::invalid("mno_id", "unknown MNO")
            } else {
                db_err(e)
            }
        })?;
        // The SE's MSIs are exactly `msis`; an MSI of another SE moves here.
        sqlx::query("DELETE FROM tsm_msis WHERE se_id = $1")
            .bind(&se.se_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for m in &msis {
            sqlx::query(
                "INSERT INTO tsm_msis (msi, se_id) VALUES ($1, $2) \
                 ON CONFLICT (msi) DO UPDATE SET se_id = excluded.se_id",
            )
            .bind(m)
            .bind(&se.se_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        // Likewise its security domains are exactly `sds`.
        sqlx::query("DELETE FROM tsm_sds WHERE se_id = $1")
            .bind(&se.se_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for sd in &sds {
            upsert_sd(&mut tx, sd).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn get_se(&self, se_id: &str) -> Result<Option<Se>> {
        self.fetch_se(
            &format!("SELECT {SE_COLS} FROM tsm_ses s WHERE s.se_id = $1"),
            se_id,
        )
        .await
    }

    async fn se_by_msi(&self, msi: &str) -> Result<Option<Se>> {
        self.fetch_se(
            &format!(
                "SELECT {SE_COLS} FROM tsm_msis m JOIN tsm_ses s ON s.se_id = m.se_id \
                 WHERE m.msi = $1"
            ),
            msi,
        )
        .await
    }

    async fn list_ses(&self) -> Result<Vec<Se>> {
        let rows = sqlx::query(&format!("SELECT {SE_COLS} FROM tsm_ses s ORDER BY s.se_id"))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(se_of).collect()
    }

    async fn sds(&self, se_id: &str) -> Result<Vec<SecurityDomain>> {
        let rows = sqlx::query(
            "SELECT se_id, aid, kind, sp_id, keys, kvn, rotated FROM tsm_sds WHERE se_id = $1 \
             ORDER BY aid",
        )
        .bind(se_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(sd_of).collect()
    }

    async fn put_catalogue(&self, e: CatalogueEntry) -> Result<()> {
        check_id("sp_id", &e.sp_id)?;
        check_id("service_id", &e.service_id)?;
        check_id("version", &e.version)?;
        check_aid("package_aid", &e.package_aid)?;
        check_aid("module_aid", &e.module_aid)?;
        check_aid("instance_aid", &e.instance_aid)?;
        // The id (insertion order) of an existing version is kept: replacing an entry does
        // not make it the latest version.
        sqlx::query(
            "INSERT INTO tsm_catalogue (sp_id, service_id, version, package_aid, module_aid, \
             instance_aid, memory, privileges, install_params) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (sp_id, service_id, version) DO UPDATE SET \
             package_aid = excluded.package_aid, module_aid = excluded.module_aid, \
             instance_aid = excluded.instance_aid, memory = excluded.memory, \
             privileges = excluded.privileges, install_params = excluded.install_params",
        )
        .bind(&e.sp_id)
        .bind(&e.service_id)
        .bind(&e.version)
        .bind(e.package_aid.clone())
        .bind(e.module_aid.clone())
        .bind(e.instance_aid.clone())
        .bind(i64::from(e.memory))
        .bind(e.privileges.clone())
        .bind(e.install_params.clone())
        .execute(&self.pool)
        .await
        .map_err(|err| {
            if is_foreign_key(&err) {
                TsmError::invalid("sp_id", "unknown SP")
            } else {
                db_err(err)
            }
        })?;
        Ok(())
    }

    async fn catalogue(
        &self,
        sp_id: &str,
        service_id: &str,
        version: Option<&str>,
    ) -> Result<Option<CatalogueEntry>> {
        let sql = match version {
            Some(_) => format!(
                "SELECT {CAT_COLS} FROM tsm_catalogue WHERE sp_id = $1 AND service_id = $2 \
                 AND version = $3"
            ),
            // The most recently added version: the highest id.
            None => format!(
                "SELECT {CAT_COLS} FROM tsm_catalogue WHERE sp_id = $1 AND service_id = $2 \
                 ORDER BY id DESC LIMIT 1"
            ),
        };
        let mut q = sqlx::query(&sql).bind(sp_id).bind(service_id);
        if let Some(v) = version {
            q = q.bind(v);
        }
        q.fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(cat_of)
            .transpose()
    }

    async fn list_catalogue(&self) -> Result<Vec<CatalogueEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {CAT_COLS} FROM tsm_catalogue ORDER BY sp_id, service_id, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(cat_of).collect()
    }

    async fn instance(
        &self,
        se_id: &str,
        sp_id: &str,
        service_id: &str,
        qualifier: &str,
    ) -> Result<Option<ServiceInstance>> {
        sqlx::query(&format!(
            "SELECT {INST_COLS} FROM tsm_instances WHERE se_id = $1 AND sp_id = $2 \
             AND service_id = $3 AND qualifier = $4"
        ))
        .bind(se_id)
        .bind(sp_id)
        .bind(service_id)
        .bind(qualifier)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(inst_of)
        .transpose()
    }

    async fn list_instances(
        &self,
        se_id: Option<&str>,
        sp_id: Option<&str>,
    ) -> Result<Vec<ServiceInstance>> {
        let mut sql = format!("SELECT {INST_COLS} FROM tsm_instances WHERE 1 = 1");
        let mut args = Vec::new();
        for (col, v) in [("se_id", se_id), ("sp_id", sp_id)] {
            if let Some(v) = v {
                args.push(v.to_string());
                sql.push_str(&format!(" AND {col} = ${}", args.len()));
            }
        }
        sql.push_str(" ORDER BY se_id, sp_id, service_id, qualifier");
        let mut q = sqlx::query(&sql);
        for a in args {
            q = q.bind(a);
        }
        let rows = q.fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(inst_of).collect()
    }

    async fn commit_flow(&self, o: FlowOutcome) -> Result<()> {
        for sd in &o.put_sds {
            check_sd(sd)?;
        }
        let mut tx = self.begin().await.map_err(db_err)?;
        if let Some(i) = &o.instance {
            sqlx::query(
                "INSERT INTO tsm_instances (se_id, sp_id, service_id, qualifier, version, \
                 instance_aid, ssd_aid, state, detail, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (se_id, sp_id, service_id, qualifier) DO UPDATE SET \
                 version = excluded.version, instance_aid = excluded.instance_aid, \
                 ssd_aid = excluded.ssd_aid, state = excluded.state, detail = excluded.detail, \
                 updated_at = excluded.updated_at",
            )
            .bind(&i.se_id)
            .bind(&i.sp_id)
            .bind(&i.service_id)
            .bind(&i.qualifier)
            .bind(&i.version)
            .bind(i.instance_aid.clone())
            .bind(i.ssd_aid.clone())
            .bind(i.state.as_str())
            .bind(&i.detail)
            .bind(i.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_foreign_key(&e) {
                    TsmError::Storage("service instance of an unknown SE or SP".into())
                } else {
                    db_err(e)
                }
            })?;
        }
        // Removals first: a flow that deletes an SD and creates one with the same AID (a
        // renewal) ends with the new one.
        for (se_id, aid) in &o.removed_sds {
            sqlx::query("DELETE FROM tsm_sds WHERE se_id = $1 AND aid = $2")
                .bind(se_id)
                .bind(aid.clone())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        for sd in &o.put_sds {
            upsert_sd(&mut tx, sd).await?;
        }
        for a in &o.audit {
            insert_audit(&mut tx, a).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn open_conversation(&self, c: Conversation) -> Result<()> {
        sqlx::query(
            "INSERT INTO tsm_conversations (id, sp_id, se_id, sd_aid, opened_at, expires_at, \
             max_scripts, max_script_bytes, scripts_used, ended) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&c.id)
        .bind(&c.sp_id)
        .bind(&c.se_id)
        .bind(c.sd_aid.clone())
        .bind(c.opened_at)
        .bind(c.expires_at)
        .bind(i64::from(c.max_scripts))
        .bind(i64::from(c.max_script_bytes))
        .bind(i64::from(c.scripts_used))
        .bind(&c.ended)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique(&e) {
                TsmError::Duplicate("a conversation with this identifier".into())
            } else if is_foreign_key(&e) {
                TsmError::UnknownSe
            } else {
                db_err(e)
            }
        })?;
        Ok(())
    }

    async fn conversation(&self, id: &str) -> Result<Option<Conversation>> {
        sqlx::query(&format!(
            "SELECT {CONV_COLS} FROM tsm_conversations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(conv_of)
        .transpose()
    }

    async fn count_script(&self, id: &str) -> Result<Option<Conversation>> {
        let mut tx = self.begin().await.map_err(db_err)?;
        let row = sqlx::query(&format!(
            "UPDATE tsm_conversations SET scripts_used = scripts_used + 1 \
             WHERE id = $1 AND scripts_used < max_scripts AND ended IS NULL \
             RETURNING {CONV_COLS}"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        row.as_ref().map(conv_of).transpose()
    }

    async fn end_conversation(&self, id: &str, status: &str) -> Result<()> {
        let mut tx = self.begin().await.map_err(db_err)?;
        let n =
            sqlx::query("UPDATE tsm_conversations SET ended = $1 WHERE id = $2 AND ended IS NULL")
                .bind(status)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        if n == 0 {
            let exists = sqlx::query("SELECT 1 AS one FROM tsm_conversations WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
            if exists.is_none() {
                return Err(TsmError::NoConversation);
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn append_audit(&self, entries: Vec<AuditEntry>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await.map_err(db_err)?;
        for a in &entries {
            insert_audit(&mut tx, a).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn audit(&self, f: AuditFilter) -> Result<Vec<AuditEntry>> {
        let mut sql = format!("SELECT {AUDIT_COLS} FROM tsm_audit WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if f.se_id.is_some() {
            sql.push_str(&format!(" AND se_id = ${}", next()));
        }
        if f.sp_id.is_some() {
            sql.push_str(&format!(" AND sp_id = ${}", next()));
        }
        if f.after.is_some() {
            sql.push_str(&format!(" AND id > ${}", next()));
        }
        sql.push_str(" ORDER BY id");
        // A limit of 0 (the `Default`) means no limit.
        if f.limit > 0 {
            sql.push_str(&format!(" LIMIT ${}", next()));
        }
        let mut q = sqlx::query(&sql);
        if let Some(s) = f.se_id {
            q = q.bind(s);
        }
        if let Some(s) = f.sp_id {
            q = q.bind(s);
        }
        if let Some(a) = f.after {
            q = q.bind(a);
        }
        if f.limit > 0 {
            q = q.bind(i64::from(f.limit));
        }
        let rows = q.fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(audit_of).collect()
    }

    async fn enqueue(&self, req: QueuedRequest) -> Result<i64> {
        // A new request is always pending, without a result; the store assigns its id.
        let row = sqlx::query(
            "INSERT INTO tsm_queue (se_id, sp_id, operation, body, state, result, created_at) \
             VALUES ($1, $2, $3, $4, $5, NULL, $6) RETURNING id",
        )
        .bind(&req.se_id)
        .bind(&req.sp_id)
        .bind(req.operation.as_str())
        .bind(&req.body)
        .bind(QueueState::Pending.as_str())
        .bind(req.created_at)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| {
            if is_foreign_key(&e) {
                TsmError::UnknownSe
            } else {
                db_err(e)
            }
        })?;
        get(&row, "id")
    }

    async fn pending(&self, se_id: &str) -> Result<Vec<QueuedRequest>> {
        let rows = sqlx::query(&format!(
            "SELECT {QUEUE_COLS} FROM tsm_queue WHERE se_id = $1 AND state = $2 ORDER BY id"
        ))
        .bind(se_id)
        .bind(QueueState::Pending.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(queued_of).collect()
    }

    async fn queued(&self, id: i64) -> Result<Option<QueuedRequest>> {
        sqlx::query(&format!("SELECT {QUEUE_COLS} FROM tsm_queue WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(queued_of)
            .transpose()
    }

    async fn finish_queued(&self, id: i64, state: QueueState, result: String) -> Result<()> {
        let n = sqlx::query("UPDATE tsm_queue SET state = $1, result = $2 WHERE id = $3")
            .bind(state.as_str())
            .bind(&result)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected();
        if n == 0 {
            return Err(TsmError::Internal(format!("no queued request {id}")));
        }
        Ok(())
    }

    async fn claim_queued(&self, id: i64) -> Result<bool> {
        self.move_queued(id, QueueState::Pending, QueueState::Delivering)
            .await
    }

    async fn ses_with_pending(&self) -> Result<Vec<String>> {
        sqlx::query("SELECT DISTINCT se_id FROM tsm_queue WHERE state = $1 ORDER BY se_id")
            .bind(QueueState::Pending.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| get::<String>(r, "se_id"))
            .collect()
    }

    async fn release_queued(&self, id: i64) -> Result<()> {
        self.move_queued(id, QueueState::Delivering, QueueState::Pending)
            .await
            .map(|_| ())
    }

    async fn idempotency_begin(
        &self,
        sp_id: &str,
        key: &str,
        request_hash: [u8; 32],
        now: UnixMillis,
    ) -> Result<IdempotencyBegin> {
        check_id("idempotency key", key)?;
        // A record abandoned between our insert attempt and our read: try again.
        for _ in 0..3 {
            let mut tx = self.begin().await.map_err(db_err)?;
            let inserted = sqlx::query(
                "INSERT INTO tsm_idempotency (sp_id, idem_key, request_hash, status, body, \
                 created_at) VALUES ($1, $2, $3, NULL, NULL, $4) \
                 ON CONFLICT (sp_id, idem_key) DO NOTHING",
            )
            .bind(sp_id)
            .bind(key)
            .bind(request_hash.to_vec())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
            if inserted == 1 {
                tx.commit().await.map_err(db_err)?;
                return Ok(IdempotencyBegin::New);
            }
            let row = sqlx::query(
                "SELECT request_hash, status, body FROM tsm_idempotency \
                 WHERE sp_id = $1 AND idem_key = $2",
            )
            .bind(sp_id)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            let Some(r) = row else { continue };
            if get::<Vec<u8>>(&r, "request_hash")? != request_hash {
                return Ok(IdempotencyBegin::Conflict);
            }
            let status: Option<i64> = get(&r, "status")?;
            let body: Option<String> = get(&r, "body")?;
            return Ok(match (status, body) {
                (Some(s), Some(b)) => {
                    IdempotencyBegin::Replay(u16::try_from(s).map_err(|_| corrupt("status"))?, b)
                }
                _ => IdempotencyBegin::InProgress,
            });
        }
        Err(TsmError::Storage(
            "idempotency record changed concurrently".into(),
        ))
    }

    async fn idempotency_finish(
        &self,
        sp_id: &str,
        key: &str,
        status: u16,
        body: String,
    ) -> Result<()> {
        let n = sqlx::query(
            "UPDATE tsm_idempotency SET status = $1, body = $2 WHERE sp_id = $3 AND idem_key = $4",
        )
        .bind(i64::from(status))
        .bind(&body)
        .bind(sp_id)
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n == 0 {
            return Err(TsmError::Internal("no idempotency record to finish".into()));
        }
        Ok(())
    }

    async fn idempotency_abandon(&self, sp_id: &str, key: &str) -> Result<()> {
        // Only an in-progress record: a stored answer stays replayable.
        sqlx::query(
            "DELETE FROM tsm_idempotency WHERE sp_id = $1 AND idem_key = $2 AND status IS NULL",
        )
        .bind(sp_id)
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn recover_interrupted(
        &self,
        status: u16,
        body: String,
        queue_result: String,
    ) -> Result<(u64, u64)> {
        let mut tx = self.begin().await.map_err(db_err)?;
        let records =
            sqlx::query("UPDATE tsm_idempotency SET status = $1, body = $2 WHERE status IS NULL")
                .bind(i64::from(status))
                .bind(body)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        let queued = sqlx::query("UPDATE tsm_queue SET state = $1, result = $2 WHERE state = $3")
            .bind(QueueState::Failed.as_str())
            .bind(queue_result)
            .bind(QueueState::Delivering.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        tx.commit().await.map_err(db_err)?;
        Ok((records, queued))
    }

    async fn idempotency_record(
        &self,
        sp_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>> {
        let Some(r) = sqlx::query(
            "SELECT sp_id, idem_key, request_hash, status, body FROM tsm_idempotency \
             WHERE sp_id = $1 AND idem_key = $2",
        )
        .bind(sp_id)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        else {
            return Ok(None);
        };
        let hash: Vec<u8> = get(&r, "request_hash")?;
        let status: Option<i64> = get(&r, "status")?;
        let body: Option<String> = get(&r, "body")?;
        let response = match (status, body) {
            (Some(s), Some(b)) => Some((u16::try_from(s).map_err(|_| corrupt("status"))?, b)),
            _ => None,
        };
        Ok(Some(IdempotencyRecord {
            sp_id: get(&r, "sp_id")?,
            key: get(&r, "idem_key")?,
            request_hash: hash.try_into().map_err(|_| corrupt("request_hash"))?,
            response,
        }))
    }
}
