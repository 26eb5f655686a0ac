//! WHERE clauses built from optional filters, with numbered parameters (`$1`,
//! `$2`, …) that both SQLite and PostgreSQL accept through the Any driver.

use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

/// A value bound to a dynamically built query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bind {
    Text(String),
    Int(i64),
}

/// Clauses joined with AND, and the parameters they refer to.
#[derive(Debug, Default)]
pub struct WhereClause {
    pub clauses: Vec<String>,
    pub binds: Vec<Bind>,
}

impl WhereClause {
    /// Adds a parameter and returns its placeholder (`$N`).
    pub fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    /// Adds a clause with one `?` standing for `value`.
    pub fn push(&mut self, clause: &str, value: Bind) {
        let placeholder = self.bind(value);
        self.clauses.push(clause.replace('?', &placeholder));
    }

    /// `a AND b AND …`, or `TRUE`-equivalent when empty.
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1 = 1".to_owned()
        } else {
            self.clauses.join(" AND ")
        }
    }

    /// The statement with every parameter bound, in order.
    pub fn query<'q>(&self, sql: &'q str) -> Query<'q, Any, AnyArguments<'q>> {
        self.binds
            .iter()
            .cloned()
            .fold(sqlx::query(sql), |query, bind| match bind {
                Bind::Text(text) => query.bind(text),
                Bind::Int(number) => query.bind(number),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_binding_order() {
        let mut clause = WhereClause::default();
        clause.push("a = ?", Bind::Text("x".into()));
        let b = clause.bind(Bind::Int(2));
        clause.clauses.push(format!("(b > {b} OR c < {b})"));
        assert_eq!(clause.sql(), "a = $1 AND (b > $2 OR c < $2)");
        assert_eq!(clause.binds.len(), 2);
    }
}
