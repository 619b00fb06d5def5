//! The PostgreSQL schema: the migrations in `store/migrations/` (the reviewed artifact), how they
//! are applied, and the schema that `sluice_node::flow`'s rows expect of them.

use std::fmt::Write as _;

use postgres::Client;
use sluice_node::flow::{ColType, Row, Rows, TableVisitor};

/// Every migration, in the order applied: (version, name, SQL). A released migration is never
/// edited; a change to `node/src/flow/rows.rs` ships as a new one (the schema test fails until
/// the migrations give every table exactly its row's columns).
pub const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "flow", include_str!("../../migrations/0001_flow.sql")),
    (
        2,
        "reconciliation",
        include_str!("../../migrations/0002_reconciliation.sql"),
    ),
    (
        3,
        "payouts",
        include_str!("../../migrations/0003_payouts.sql"),
    ),
    (4, "risk", include_str!("../../migrations/0004_risk.sql")),
    (
        5,
        "finance",
        include_str!("../../migrations/0005_finance.sql"),
    ),
];

/// The advisory lock that serializes migrations between exporters sharing a database
/// (an arbitrary constant: "sluice" in ASCII).
const MIGRATION_LOCK: i64 = 0x736c_7569_6365;

/// Applies the migrations the database lacks, in one transaction under the advisory lock, and
/// records each in `sluice_schema_migrations`. Returns how many it applied.
pub fn migrate(client: &mut Client) -> Result<usize, String> {
    let mut tx = client
        .transaction()
        .map_err(|e| format!("beginning the migration: {e}"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(|e| format!("taking the migration lock: {e}"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS sluice_schema_migrations (\n\
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .map_err(|e| format!("creating sluice_schema_migrations: {e}"))?;
    let applied: Vec<i32> = tx
        .query(
            "SELECT version FROM sluice_schema_migrations ORDER BY version",
            &[],
        )
        .map_err(|e| format!("reading sluice_schema_migrations: {e}"))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if let Some(newer) = applied.iter().find(|v| **v > known) {
        return Err(format!(
            "the database has schema migration {newer}, newer than this sluice knows (up to {known}): \
             run a newer sluice or point it at another database"
        ));
    }
    let mut count = 0;
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tx.batch_execute(sql)
            .map_err(|e| format!("migration {version:04}_{name}.sql: {e}"))?;
        tx.execute(
            "INSERT INTO sluice_schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .map_err(|e| format!("recording migration {version:04}_{name}: {e}"))?;
        count += 1;
    }
    tx.commit()
        .map_err(|e| format!("committing the migrations: {e}"))?;
    Ok(count)
}

/// The PostgreSQL type of a column type, as `format_type` names it.
pub fn pg_type(ty: ColType) -> &'static str {
    match ty {
        ColType::I64 => "bigint",
        ColType::I32 => "integer",
        ColType::Bool => "boolean",
        ColType::Text => "text",
        ColType::Date => "date",
    }
}

/// The indexes a finance team needs on a table, beyond its key: by day, by merchant, channel or
/// party and day, and by order on tables not keyed by it.
pub fn indexes<R: Row>() -> Vec<Vec<&'static str>> {
    let has = |c: &str| R::COLUMNS.iter().any(|col| col.name == c);
    let mut out = vec![vec!["day"]];
    for owner in ["merchant_id", "channel_id", "party_id"] {
        if has(owner) {
            out.push(vec![owner, "day"]);
        }
    }
    if has("order_id") && R::KEY.first() != Some(&"order_id") {
        out.push(vec!["order_id"]);
    }
    out
}

fn quote(text: &str) -> String {
    format!("'{}'", text.trim().replace('\'', "''"))
}

/// The DDL that creates one row type's table as rows.rs declares it today: what
/// `0001_flow.sql` was written from, and what a mismatch report shows.
pub fn create_table_sql<R: Row>() -> String {
    let mut sql = format!("CREATE TABLE {} (\n", R::TABLE);
    for column in R::COLUMNS {
        let _ = writeln!(sql, "    {} {} NOT NULL,", column.name, pg_type(column.ty));
    }
    let _ = writeln!(sql, "    PRIMARY KEY ({})\n);", R::KEY.join(", "));
    for columns in indexes::<R>() {
        let _ = writeln!(
            sql,
            "CREATE INDEX {}_{}_idx ON {} ({});",
            R::TABLE,
            columns.join("_"),
            R::TABLE,
            columns.join(", ")
        );
    }
    for column in R::COLUMNS {
        let _ = writeln!(
            sql,
            "COMMENT ON COLUMN {}.{} IS {};",
            R::TABLE,
            column.name,
            quote(column.doc)
        );
    }
    sql
}

/// The whole first migration, generated from rows.rs (see `MIGRATIONS`).
pub fn first_migration_sql() -> String {
    struct Each(String);
    impl TableVisitor for Each {
        fn table<R: Row>(&mut self, _: &[R]) {
            self.0.push('\n');
            self.0.push_str(&create_table_sql::<R>());
        }
    }
    let mut each = Each(String::from(
        "-- The flow tables (node/src/flow/rows.rs, docs/STORE.md), one per row type, and the\n\
         -- exporter's position. Generated from rows.rs by pg::schema::first_migration_sql; a\n\
         -- released migration is never edited: change the schema with a new NNNN_*.sql.\n\n\
         CREATE TABLE sluice_export_position (\n    name text PRIMARY KEY,\n    seq bigint NOT NULL,\n    \
         updated_at timestamptz NOT NULL DEFAULT now()\n);\n\
         COMMENT ON TABLE sluice_export_position IS 'The last journal sequence whose rows each exporter has stored.';\n",
    ));
    Rows::default().visit(&mut each);
    each.0
}

/// docs/STORE_SCHEMA.md's generated part: every table with its key, indexes and columns
/// (a test keeps the checked-in page equal to it).
pub fn tables_markdown() -> String {
    struct Each(String);
    impl TableVisitor for Each {
        fn table<R: Row>(&mut self, _: &[R]) {
            let s = &mut self.0;
            let _ = writeln!(s, "### `{}`\n", R::TABLE);
            let _ = writeln!(s, "Primary key `({})`.", R::KEY.join(", "));
            let indexes: Vec<String> = indexes::<R>()
                .iter()
                .map(|c| format!("`({})`", c.join(", ")))
                .collect();
            let _ = writeln!(s, "Indexes {}.\n", indexes.join(", "));
            let _ = writeln!(s, "| column | type | meaning |\n|---|---|---|");
            for c in R::COLUMNS {
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} |",
                    c.name,
                    pg_type(c.ty),
                    c.doc.trim().replace('|', "\\|")
                );
            }
            s.push('\n');
        }
    }
    let mut each = Each(String::new());
    Rows::default().visit(&mut each);
    each.0
}
