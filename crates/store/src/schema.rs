//! The tables, declared once (`tables.rs`) and instantiated per backend with that backend's
//! id and timestamp SQL types. Query bodies `use` one module or the other (see `run!`).

pub(crate) mod pg {
    pub type DbId = diesel::sql_types::Uuid;
    pub type DbTime = diesel::sql_types::Timestamptz;
    include!("tables.rs");
}

pub(crate) mod sqlite {
    pub type DbId = diesel::sql_types::Text;
    pub type DbTime = diesel::sql_types::TimestamptzSqlite;
    include!("tables.rs");
}
