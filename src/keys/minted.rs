//! The keys a key minted through `/api/v1`, followed through rotations and
//! transitively: what a revoke "with what it minted" stops.

use crate::db::Db;

/// `minted(id)`: every key minted through `/api/v1` by the key `$2` of workspace
/// `$1` or by a key it replaced, and transitively by what those minted. A minted
/// key's replacement inherits `minted_by_key`, so rotations on either side are
/// followed. UNION, not UNION ALL: a cycle would end, not loop.
pub(super) const MINTED_BY_LINEAGE: &str = "WITH RECURSIVE lineage(id) AS (
        SELECT id FROM api_keys WHERE workspace_id = $1 AND id = $2
        UNION
        SELECT k.id FROM api_keys k JOIN lineage ON k.replaced_by = lineage.id
        WHERE k.workspace_id = $1
    ), minted(id) AS (
        SELECT k.id FROM api_keys k
        WHERE k.workspace_id = $1 AND k.minted_by_key IN (SELECT id FROM lineage)
        UNION
        SELECT k.id FROM api_keys k JOIN minted ON k.minted_by_key = minted.id
        WHERE k.workspace_id = $1
    )";

/// The unrevoked keys of [`MINTED_BY_LINEAGE`].
pub(super) static MINTED_UNREVOKED_KEYS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| {
        format!(
            "{MINTED_BY_LINEAGE}
         SELECT id, name, prefix, body_start, last4 FROM api_keys
         WHERE workspace_id = $1 AND revoked_at IS NULL AND id IN (SELECT id FROM minted)"
        )
    });

/// How many keys a revoke of `key_id` with its minted keys would still stop.
pub(super) async fn minted_unrevoked(
    db: &Db,
    workspace_id: &str,
    key_id: &str,
) -> Result<i64, sqlx::Error> {
    let sql = format!(
        "{MINTED_BY_LINEAGE}
         SELECT COUNT(*) FROM api_keys
         WHERE workspace_id = $1 AND revoked_at IS NULL AND id IN (SELECT id FROM minted)"
    );
    sqlx::query_scalar(&sql)
        .bind(workspace_id)
        .bind(key_id)
        .fetch_one(db.pool())
        .await
}
