//! Bulk import: every row validated before anything is written; all or nothing.

use std::collections::HashMap;

use serde::Serialize;

use crate::model::{Currency, Description, Money, NewProduct, ProductName, ProductStatus, Sku};

/// Most rows one import may carry.
pub const MAX_IMPORT_ROWS: usize = 10_000;

/// One row as received (JSON object or CSV record), fields still raw. `row` is 1-based: the
/// array position, or the CSV record number after the header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportRow {
    pub row: usize,
    pub name: Option<String>,
    pub sku: Option<String>,
    pub description: Option<String>,
    /// Raw text, so that CSV and JSON report the same errors.
    pub price_minor: Option<String>,
    pub currency: Option<String>,
    pub status: Option<String>,
}

/// What is wrong with one field of one row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub row: usize,
    pub field: String,
    pub message: String,
}

impl RowError {
    pub fn new(row: usize, field: &str, message: impl Into<String>) -> Self {
        Self {
            row,
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Validates every row, collecting every error (not only the first), including SKUs that
/// appear more than once in the file. Returns the products in row order, or all the errors.
pub fn validate(rows: &[ImportRow]) -> Result<Vec<(usize, NewProduct)>, Vec<RowError>> {
    let mut errors = vec![];
    let mut out = Vec::with_capacity(rows.len());
    let mut first_row_of_sku: HashMap<String, usize> = HashMap::new();
    for r in rows {
        let mut field = |name: &str, v: &Option<String>| -> Option<String> {
            let v = v.clone().filter(|s| !s.trim().is_empty());
            if v.is_none() {
                errors.push(RowError::new(r.row, name, format!("{name} is required")));
            }
            v
        };
        let name = field("name", &r.name);
        let sku = field("sku", &r.sku);
        let price = field("price_minor", &r.price_minor);
        let currency = field("currency", &r.currency);
        let mut check = |name: &str, e: crate::model::InvalidValue| {
            errors.push(RowError::new(r.row, name, e.0));
        };
        let name = name.and_then(|v| ProductName::parse(&v).map_err(|e| check("name", e)).ok());
        let sku = sku.and_then(|v| Sku::parse(&v).map_err(|e| check("sku", e)).ok());
        let description = Description::parse(r.description.as_deref().unwrap_or_default())
            .map_err(|e| check("description", e))
            .ok();
        let currency = currency.and_then(|v| {
            Currency::parse(v.trim())
                .map_err(|e| check("currency", crate::model::InvalidValue(e.to_string())))
                .ok()
        });
        let minor = price.and_then(|v| match v.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                check(
                    "price_minor",
                    crate::model::InvalidValue("price_minor must be a whole number".into()),
                );
                None
            }
        });
        let status = match r.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Some(ProductStatus::Active),
            Some(s) => ProductStatus::parse(s).map_err(|e| check("status", e)).ok(),
        };
        let price = match (minor, currency) {
            (Some(m), Some(c)) => Money::new(m, c).map_err(|e| check("price_minor", e)).ok(),
            _ => None,
        };
        if let Some(sku) = &sku {
            if let Some(first) = first_row_of_sku.get(sku.as_str()) {
                errors.push(RowError::new(
                    r.row,
                    "sku",
                    format!("sku '{}' already appears in row {first}", sku.as_str()),
                ));
            } else {
                first_row_of_sku.insert(sku.as_str().to_owned(), r.row);
            }
        }
        if let (Some(name), Some(sku), Some(description), Some(price), Some(status)) =
            (name, sku, description, price, status)
        {
            out.push((
                r.row,
                NewProduct {
                    name,
                    sku,
                    description,
                    price,
                    status,
                },
            ));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: usize, sku: &str, price: &str) -> ImportRow {
        ImportRow {
            row: n,
            name: Some(format!("Product {n}")),
            sku: Some(sku.into()),
            description: None,
            price_minor: Some(price.into()),
            currency: Some("EUR".into()),
            status: None,
        }
    }

    #[test]
    fn valid_rows_pass_in_order() {
        let ok =
            validate(&[row(1, "A", "100"), row(2, "B", "0")]).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].1.sku.as_str(), "B");
        assert_eq!(ok[0].1.status, ProductStatus::Active);
    }

    #[test]
    fn every_error_is_reported_with_its_row_and_field() {
        let mut bad = row(2, "A", "ten");
        bad.currency = Some("XYZ".into());
        let mut missing = row(3, "C", "1");
        missing.name = None;
        let errs = validate(&[row(1, "A", "100"), bad, missing, row(4, "A", "5")])
            .err()
            .unwrap_or_default();
        let found: Vec<(usize, &str)> = errs.iter().map(|e| (e.row, e.field.as_str())).collect();
        assert_eq!(
            found,
            vec![
                (2, "currency"),
                (2, "price_minor"),
                (2, "sku"),
                (3, "name"),
                (4, "sku")
            ]
        );
        assert!(errs[2].message.contains("row 1"));
    }
}
