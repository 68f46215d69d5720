//! The two migration folders (`migrations/sqlite`, `migrations/postgres`) must describe one
//! schema: the same tables, the same columns with the same type family, nullability and
//! primary key, and the same indexes (columns in order, unique or not). Both are applied as
//! the server applies them, then read back from each database's catalogue and compared after
//! normalising the type spellings (`INTEGER`/`BIGINT`/`BIGSERIAL` are integers, …).

use std::collections::BTreeSet;

use sqlx::Row;

use crate::helpers::{postgres_url_from_env, spawn_app, PgSchema, Store};

/// `(table, column, type family, not null, in the primary key)`.
type Column = (String, String, &'static str, bool, bool);
/// `(table, columns in order, unique)`; primary keys are compared through the columns.
type Index = (String, String, bool);

#[derive(Debug, PartialEq)]
struct Schema {
    columns: BTreeSet<Column>,
    indexes: BTreeSet<Index>,
}

fn family(declared: &str) -> &'static str {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") || t.contains("SERIAL") {
        "integer"
    } else if t.contains("CHAR") || t.contains("TEXT") {
        "text"
    } else if t.contains("BLOB") || t.contains("BYTEA") {
        "bytes"
    } else if t.contains("REAL") || t.contains("DOUBLE") || t.contains("FLOAT") {
        "float"
    } else if t.contains("BOOL") {
        "boolean"
    } else {
        "other"
    }
}

const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

async fn sqlite_schema(db: &sqlx::AnyPool) -> Schema {
    let tables: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> $1",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(db)
    .await
    .expect("tables")
    .iter()
    .map(|r| r.get(0))
    .collect();
    let (mut columns, mut indexes) = (BTreeSet::new(), BTreeSet::new());
    for table in tables {
        for r in sqlx::query(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info($1) ORDER BY cid",
        )
        .bind(&table)
        .fetch_all(db)
        .await
        .expect("columns")
        {
            let pk = r.get::<i64, _>(3) > 0;
            let declared: String = r.get(1);
            columns.insert((
                table.clone(),
                r.get(0),
                family(&declared),
                r.get::<i64, _>(2) == 1 || pk,
                pk,
            ));
        }
        for r in sqlx::query(
            "SELECT il.name, il.\"unique\", il.origin, group_concat(ii.name, ',') \
             FROM pragma_index_list($1) AS il, pragma_index_info(il.name) AS ii \
             GROUP BY il.name, il.\"unique\", il.origin",
        )
        .bind(&table)
        .fetch_all(db)
        .await
        .expect("indexes")
        {
            if r.get::<String, _>(2) == "pk" {
                continue;
            }
            indexes.insert((table.clone(), r.get(3), r.get::<i64, _>(1) == 1));
        }
    }
    Schema { columns, indexes }
}

async fn postgres_schema(db: &sqlx::AnyPool) -> Schema {
    let keys: BTreeSet<(String, String)> = sqlx::query(
        "SELECT t.relname::text, a.attname::text FROM pg_index ix \
         JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(ix.indkey) \
         WHERE n.nspname = current_schema() AND ix.indisprimary",
    )
    .fetch_all(db)
    .await
    .expect("primary keys")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let columns = sqlx::query(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text \
         FROM information_schema.columns WHERE table_schema = current_schema() \
         AND table_name <> $1",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(db)
    .await
    .expect("columns")
    .iter()
    .map(|r| {
        let (table, column): (String, String) = (r.get(0), r.get(1));
        let declared: String = r.get(2);
        let pk = keys.contains(&(table.clone(), column.clone()));
        let not_null = r.get::<String, _>(3) == "NO";
        (table, column, family(&declared), not_null, pk)
    })
    .collect();
    let indexes = sqlx::query(
        "SELECT t.relname::text, ix.indisunique::int, \
           array_to_string(ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY \
             AS k(attnum, ord) JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
             ORDER BY k.ord), ',') \
         FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = current_schema() AND NOT ix.indisprimary AND t.relname <> $1",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(db)
    .await
    .expect("indexes")
    .iter()
    .map(|r| (r.get(0), r.get(2), r.get::<i32, _>(1) == 1))
    .collect();
    Schema { columns, indexes }
}

fn difference<T: Ord + Clone + std::fmt::Debug>(a: &BTreeSet<T>, b: &BTreeSet<T>) -> Vec<T> {
    a.difference(b).cloned().collect()
}

#[actix_rt::test(system = "duoxie::startup::ServerSystem")]
async fn the_sqlite_and_postgres_migrations_describe_one_schema() {
    let Some(base) = postgres_url_from_env() else {
        // `postgres_suite_runs_in_ci` fails CI when TEST_DATABASE_URL is missing.
        eprintln!("schema parity skipped: TEST_DATABASE_URL unset");
        return;
    };
    let lite = spawn_app(Store::Sqlite).await;
    let pg_schema = PgSchema::create(&base).await;
    let pg = spawn_app(Store::Postgres(pg_schema.url())).await;
    let (a, b) = (sqlite_schema(&lite.db).await, postgres_schema(&pg.db).await);
    assert!(
        a.columns.len() > 100,
        "the catalogue was read: {} columns",
        a.columns.len()
    );
    let problems = [
        (
            "columns only (or different) in SQLite",
            format!("{:#?}", difference(&a.columns, &b.columns)),
        ),
        (
            "columns only (or different) in PostgreSQL",
            format!("{:#?}", difference(&b.columns, &a.columns)),
        ),
        (
            "indexes only in SQLite",
            format!("{:#?}", difference(&a.indexes, &b.indexes)),
        ),
        (
            "indexes only in PostgreSQL",
            format!("{:#?}", difference(&b.indexes, &a.indexes)),
        ),
    ];
    let report: Vec<String> = problems
        .iter()
        .filter(|(_, list)| list != "[]")
        .map(|(what, list)| format!("{what}: {list}"))
        .collect();
    assert!(report.is_empty(), "{}", report.join("\n"));
    assert_eq!(a.indexes.len(), b.indexes.len());

    // The comparison sees a difference: a column and an index on one side only.
    sqlx::query("ALTER TABLE media ADD COLUMN parity_probe TEXT")
        .execute(&lite.db)
        .await
        .expect("probe column");
    sqlx::query("CREATE INDEX parity_probe_idx ON media (parity_probe, owner_id)")
        .execute(&lite.db)
        .await
        .expect("probe index");
    let probed = sqlite_schema(&lite.db).await;
    assert_eq!(
        difference(&probed.columns, &b.columns),
        [(
            "media".to_string(),
            "parity_probe".to_string(),
            "text",
            false,
            false
        )]
    );
    assert_eq!(
        difference(&probed.indexes, &b.indexes),
        [(
            "media".to_string(),
            "parity_probe,owner_id".to_string(),
            false
        )]
    );
    drop(pg);
    pg_schema.drop().await;
}
