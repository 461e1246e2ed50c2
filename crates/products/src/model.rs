//! The product and its value types.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenantry_kernel::{Cursor, Limit, ProductId, SearchQuery, TenantId, TextShape, UserId};

/// Why a value was refused: the message names the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

/// 1–200 characters, trimmed, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ProductName(String);

impl From<ProductName> for String {
    fn from(v: ProductName) -> Self {
        v.0
    }
}

impl ProductName {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::parse_owned(raw)
    }

    /// As [`Self::parse`], keeping a `String` that needs no trimming rather than copying it.
    pub fn parse_owned(raw: impl AsRef<str> + Into<String>) -> Result<Self, InvalidValue> {
        tenantry_kernel::bounded_text(raw, "name", 200, TextShape::Line)
            .map(Self)
            .map_err(InvalidValue)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stock-keeping unit: 1–64 of letters, digits, `-`, `_`, `.`; unique per tenant
/// (case-sensitive, as entered).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Sku(String);

impl From<Sku> for String {
    fn from(v: Sku) -> Self {
        v.0
    }
}

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::parse_owned(raw)
    }

    /// As [`Self::parse`], keeping a `String` that needs no trimming rather than copying it.
    pub fn parse_owned(raw: impl AsRef<str> + Into<String>) -> Result<Self, InvalidValue> {
        let whole = raw.as_ref();
        let s = whole.trim();
        if s.is_empty() || s.len() > 64 {
            return Err(invalid("sku must be 1 to 64 characters long"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(invalid(
                "sku may contain only letters, digits, '-', '_' and '.'",
            ));
        }
        Ok(Self(if s.len() == whole.len() {
            raw.into()
        } else {
            s.to_owned()
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Up to 10,000 characters (may be empty; line breaks and tabs allowed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Description(String);

impl From<Description> for String {
    fn from(v: Description) -> Self {
        v.0
    }
}

impl Description {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::parse_owned(raw)
    }

    /// As [`Self::parse`], keeping the `String` rather than copying it.
    pub fn parse_owned(raw: impl AsRef<str> + Into<String>) -> Result<Self, InvalidValue> {
        tenantry_kernel::bounded_text(raw, "description", 10_000, TextShape::Block)
            .map(Self)
            .map_err(InvalidValue)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub use tenantry_kernel::Currency;

/// The largest price accepted, in minor units: 2^53 − 1, the largest integer every JSON
/// client (JavaScript's numbers included) holds exactly; ninety trillion of the major unit at
/// two decimals, far beyond any catalogue.
pub const MAX_PRICE_MINOR: i64 = 9_007_199_254_740_991;

/// A price in minor units (cents for EUR) of a currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Result<Self, InvalidValue> {
        Ok(Self {
            minor: Self::check_minor(minor)?,
            currency,
        })
    }

    /// An amount in minor units a price may have (whatever the currency).
    pub fn check_minor(minor: i64) -> Result<i64, InvalidValue> {
        if !(0..=MAX_PRICE_MINOR).contains(&minor) {
            return Err(invalid(format!(
                "price_minor must be between 0 and {MAX_PRICE_MINOR}"
            )));
        }
        Ok(minor)
    }

    pub const fn minor(&self) -> i64 {
        self.minor
    }

    pub const fn currency(&self) -> Currency {
        self.currency
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    Active,
    Archived,
}

impl ProductStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        match s {
            "active" => Ok(Self::Active),
            "archived" => Ok(Self::Archived),
            _ => Err(invalid("status must be 'active' or 'archived'")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Product {
    pub id: ProductId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub name: ProductName,
    pub sku: Sku,
    pub description: Description,
    pub price: Money,
    pub status: ProductStatus,
    pub created_by: Option<UserId>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl tenantry_audit::Audited for Product {
    const QUOTA: Option<&'static str> = Some("products");
    const ENTITY: &'static str = "product";
    type View = crate::view::ProductView;

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    /// The fields as the API shows them, less the id and creation time.
    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::without(self.event_object(), &["id", "created_at"])
    }
}

/// A product to create: every field already valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewProduct {
    pub name: ProductName,
    pub sku: Sku,
    pub description: Description,
    pub price: Money,
    pub status: ProductStatus,
}

impl NewProduct {
    /// The product this creates in `tenant`, by `creator`, at `now`.
    pub fn build(
        self,
        tenant_id: TenantId,
        creator: Option<UserId>,
        now: DateTime<Utc>,
    ) -> Product {
        Product {
            id: ProductId::new(),
            tenant_id,
            name: self.name,
            sku: self.sku,
            description: self.description,
            price: self.price,
            status: self.status,
            created_by: creator,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A partial update: `None` leaves a field alone. Price amount and currency change together
/// or alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProductPatch {
    pub name: Option<ProductName>,
    pub sku: Option<Sku>,
    pub description: Option<Description>,
    /// Checked with [`Money::check_minor`] where the patch is built, so a bad amount is refused
    /// before anything is read or locked.
    pub price_minor: Option<i64>,
    pub currency: Option<Currency>,
    pub status: Option<ProductStatus>,
}

impl ProductPatch {
    /// The product after this patch, or why the result is invalid.
    pub fn apply(&self, old: &Product, now: DateTime<Utc>) -> Result<Product, InvalidValue> {
        let price = Money::new(
            self.price_minor.unwrap_or(old.price.minor()),
            self.currency.unwrap_or(old.price.currency()),
        )?;
        let mut new = Product {
            name: self.name.clone().unwrap_or_else(|| old.name.clone()),
            sku: self.sku.clone().unwrap_or_else(|| old.sku.clone()),
            description: self
                .description
                .clone()
                .unwrap_or_else(|| old.description.clone()),
            price,
            status: self.status.unwrap_or(old.status),
            ..old.clone()
        };
        if new != *old {
            new.updated_at = now;
        }
        Ok(new)
    }
}

/// List orders offered (each backed by a tenant-led index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProductOrder {
    CreatedAt,
    Name,
    Price,
}

impl ProductOrder {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "created_at" => Some(Self::CreatedAt),
            "name" => Some(Self::Name),
            "price" => Some(Self::Price),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::Name => "name",
            Self::Price => "price",
        }
    }
}

/// Where a page of a product list starts: after the row with this sort value and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProductAfter {
    CreatedAt(DateTime<Utc>, ProductId),
    Name(String, ProductId),
    Price(i64, ProductId),
}

/// A product list request: filters, order and page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductQuery {
    pub status: Option<ProductStatus>,
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub search: Option<SearchQuery>,
    pub order: ProductOrder,
    pub descending: bool,
    pub limit: Limit,
    pub after: Option<ProductAfter>,
}

impl Default for ProductQuery {
    fn default() -> Self {
        Self {
            status: None,
            price_min: None,
            price_max: None,
            created_from: None,
            created_to: None,
            search: None,
            order: ProductOrder::CreatedAt,
            descending: false,
            limit: Limit::default(),
            after: None,
        }
    }
}

impl ProductQuery {
    /// The cursor of a page that ends with `last`: the order, direction, sort value and id,
    /// so a cursor from one order cannot be replayed with another.
    pub fn cursor_after(&self, last: &Product) -> String {
        let value = match self.order {
            ProductOrder::CreatedAt => last
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            ProductOrder::Name => last.name.as_str().to_owned(),
            ProductOrder::Price => last.price.minor().to_string(),
        };
        let dir = if self.descending { "desc" } else { "asc" };
        format!("{}|{dir}|{}|{value}", self.order.as_str(), last.id)
    }

    /// Reads a cursor back for this query's order and direction.
    pub fn parse_cursor(&self, cursor: &Cursor) -> Result<ProductAfter, InvalidValue> {
        let bad = || invalid("cursor does not belong to this list order");
        let key = cursor.key();
        let mut parts = key.splitn(4, '|');
        let (Some(order), Some(dir), Some(id), Some(value)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let dir_ok = dir == if self.descending { "desc" } else { "asc" };
        if order != self.order.as_str() || !dir_ok {
            return Err(bad());
        }
        let id: ProductId = id.parse().map_err(|_| bad())?;
        Ok(match self.order {
            ProductOrder::CreatedAt => ProductAfter::CreatedAt(
                DateTime::parse_from_rfc3339(value)
                    .map_err(|_| bad())?
                    .with_timezone(&Utc),
                id,
            ),
            ProductOrder::Name => ProductAfter::Name(value.to_owned(), id),
            ProductOrder::Price => ProductAfter::Price(value.parse().map_err(|_| bad())?, id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_read_back_is_kept_not_copied() {
        let stored = String::from("WID-001");
        let at = stored.as_ptr();
        let sku = Sku::parse_owned(stored).unwrap();
        assert_eq!((sku.as_str(), sku.as_str().as_ptr()), ("WID-001", at));
        assert_eq!(
            Sku::parse_owned(String::from(" WID-001 "))
                .unwrap()
                .as_str(),
            "WID-001"
        );
        assert!(Sku::parse_owned(String::from("WID 001")).is_err());
        let stored = String::from("Blue widget");
        let at = stored.as_ptr();
        let name = String::from(ProductName::parse_owned(stored).unwrap());
        assert_eq!(
            name.as_ptr(),
            at,
            "moved into a String again without a copy"
        );
    }

    #[test]
    fn value_types_refuse_bad_input() {
        assert!(ProductName::parse("  ").is_err());
        assert!(ProductName::parse(&"x".repeat(201)).is_err());
        assert_eq!(
            ProductName::parse(" Widget ").map(|n| n.as_str().to_owned()),
            Ok("Widget".into())
        );
        assert!(Sku::parse("AB 12").is_err());
        assert!(Sku::parse("AB-12_x.3").is_ok());
        assert!(Currency::parse("EUR").is_ok());
        assert!(Currency::parse("eur").is_err());
        assert!(Currency::parse("XXX").is_err());
        let eur = Currency::parse("EUR").unwrap_or_else(|e| panic!("{e}"));
        assert!(Money::new(-1, eur).is_err());
        assert!(Money::new(MAX_PRICE_MINOR + 1, eur).is_err());
        assert!(ProductStatus::parse("deleted").is_err());
    }

    #[test]
    fn cursors_round_trip_and_belong_to_their_order() {
        let now = Utc::now();
        let p = NewProduct {
            name: ProductName::parse("A|B").unwrap_or_else(|e| panic!("{e}")),
            sku: Sku::parse("S1").unwrap_or_else(|e| panic!("{e}")),
            description: Description::default(),
            price: Money::new(5, Currency::parse("USD").unwrap_or_else(|e| panic!("{e}")))
                .unwrap_or_else(|e| panic!("{e}")),
            status: ProductStatus::Active,
        }
        .build(TenantId::new(), None, now);
        let q = ProductQuery {
            order: ProductOrder::Name,
            ..ProductQuery::default()
        };
        let c = Cursor::encode(&q.cursor_after(&p));
        assert_eq!(
            q.parse_cursor(&c),
            Ok(ProductAfter::Name("A|B".into(), p.id))
        );
        let other = ProductQuery {
            order: ProductOrder::Price,
            ..ProductQuery::default()
        };
        assert!(other.parse_cursor(&c).is_err());
        let desc = ProductQuery {
            descending: true,
            ..q
        };
        assert!(desc.parse_cursor(&c).is_err());
    }
}
