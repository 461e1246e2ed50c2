//! Money's vocabulary shared by every resource with a price (products, plans).

/// Not an ISO 4217 currency code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("currency must be an ISO 4217 code such as EUR or USD")]
pub struct InvalidCurrency;

/// Active ISO 4217 currency codes, in order (parsing searches them by halves).
pub const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW",
    "ZWG",
];

/// An ISO 4217 currency code (upper case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Currency(&'static str);

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, InvalidCurrency> {
        // Every code is three bytes, so each compares as one number, in the same order.
        fn key(code: &str) -> u32 {
            code.bytes().fold(0, |k, b| k << 8 | u32::from(b))
        }
        if raw.len() != 3 {
            return Err(InvalidCurrency);
        }
        let wanted = key(raw);
        ISO_4217
            .binary_search_by_key(&wanted, |code| key(code))
            .map(|at| Self(ISO_4217[at]))
            .map_err(|_| InvalidCurrency)
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_parses_and_nothing_else_does() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]), "kept in order");
        assert!(ISO_4217.iter().all(|c| c.len() == 3), "three letters each");
        for code in ISO_4217 {
            assert_eq!(Currency::parse(code).map(|c| c.as_str()), Ok(*code));
        }
        for raw in ["", "eur", "EU", "EURO", "AAA", "ZZZ", "XXX "] {
            assert_eq!(Currency::parse(raw), Err(InvalidCurrency), "{raw:?}");
        }
    }
}
