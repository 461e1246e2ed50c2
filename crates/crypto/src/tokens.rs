//! Access tokens: JWTs signed with EdDSA (Ed25519), checked without the database.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tenantry_identity::{AccessClaims, AccessTokens, FamilyId, InvalidAccessToken};
use tenantry_kernel::{Unexpected, UserId};

use crate::keys::{KeyError, SigningKeyMaterial};

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
    jti: String,
    iss: String,
    /// The session (refresh-token family) the token was issued for.
    sid: String,
    /// How the session authenticated (RFC 8176): `pwd`, and `otp` and `mfa` after a second
    /// factor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    amr: Vec<String>,
    /// The platform administrator acting as `sub` (RFC 8693), on an impersonation token...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    act: Option<Act>,
    /// ...which works in this tenant only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tid: Option<String>,
    /// The tenant whose identity provider signed the session in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sso_tid: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Act {
    sub: String,
}

/// Signs and verifies access tokens with one Ed25519 key.
#[derive(Clone)]
pub struct JwtTokens {
    issuer: String,
    kid: String,
    x: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// The public keys, as `/.well-known/jwks.json` serves them (RFC 7517, RFC 8037).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Jwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub x: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub alg: &'static str,
}

impl JwtTokens {
    pub fn new(key: &SigningKeyMaterial, issuer: impl Into<String>) -> Result<Self, KeyError> {
        let x = key.public_x();
        Ok(Self {
            issuer: issuer.into(),
            kid: key.kid(),
            encoding: EncodingKey::from_ed_der(&key.pkcs8_der()?),
            decoding: DecodingKey::from_ed_components(&x)
                .map_err(|e| KeyError::Invalid(e.to_string()))?,
            x,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: vec![Jwk {
                kty: "OKP",
                crv: "Ed25519",
                x: self.x.clone(),
                kid: self.kid.clone(),
                use_: "sig",
                alg: "EdDSA",
            }],
        }
    }
}

impl tenantry_kernel::StatementSigner for JwtTokens {
    fn sign_statement(&self, typ: &str, claims: &str) -> Result<String, Unexpected> {
        let mut body: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(claims).map_err(Unexpected::new)?;
        body.insert("iss".into(), serde_json::Value::String(self.issuer.clone()));
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, &body, &self.encoding).map_err(Unexpected::new)
    }
}

impl AccessTokens for JwtTokens {
    fn sign_token(&self, claims: &AccessClaims, family: FamilyId) -> Result<String, Unexpected> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let body = Claims {
            sub: claims.user_id.to_string(),
            iat: claims.issued_at.timestamp(),
            exp: claims.expires_at.timestamp(),
            jti: claims.jti.clone(),
            iss: self.issuer.clone(),
            sid: family.as_uuid().to_string(),
            amr: if claims.mfa {
                vec!["pwd".into(), "otp".into(), "mfa".into()]
            } else {
                vec!["pwd".into()]
            },
            act: claims.impersonation.map(|i| Act {
                sub: i.admin.to_string(),
            }),
            tid: claims.impersonation.map(|i| i.tenant.to_string()),
            sso_tid: claims.sso_tenant.map(|t| t.to_string()),
        };
        jsonwebtoken::encode(&header, &body, &self.encoding).map_err(Unexpected::new)
    }

    fn verify_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(AccessClaims, FamilyId), InvalidAccessToken> {
        // Only EdDSA is accepted: `none`, HMAC and every other algorithm fail here.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        // Expiry is checked below against the service's clock, without leeway.
        validation.validate_exp = false;
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| InvalidAccessToken)?;
        let c = data.claims;
        let expires_at = DateTime::from_timestamp(c.exp, 0).ok_or(InvalidAccessToken)?;
        if expires_at <= now {
            return Err(InvalidAccessToken);
        }
        let claims = AccessClaims {
            user_id: c.sub.parse::<UserId>().map_err(|_| InvalidAccessToken)?,
            issued_at: DateTime::from_timestamp(c.iat, 0).ok_or(InvalidAccessToken)?,
            expires_at,
            jti: c.jti,
            mfa: c.amr.iter().any(|m| m == "mfa"),
            impersonation: match (c.act, c.tid) {
                (None, None) => None,
                (Some(act), Some(tid)) => Some(tenantry_identity::Impersonation {
                    admin: act.sub.parse().map_err(|_| InvalidAccessToken)?,
                    tenant: tid.parse().map_err(|_| InvalidAccessToken)?,
                }),
                // One without the other is no token of ours.
                _ => return Err(InvalidAccessToken),
            },
            sso_tenant: c
                .sso_tid
                .map(|t| t.parse().map_err(|_| InvalidAccessToken))
                .transpose()?,
        };
        let family = uuid::Uuid::parse_str(&c.sid).map_err(|_| InvalidAccessToken)?;
        Ok((claims, FamilyId::from_uuid(family)))
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chrono::Duration;

    use super::*;

    fn tokens() -> JwtTokens {
        JwtTokens::new(&SigningKeyMaterial::generate(), "https://tenantry.test").unwrap()
    }

    fn claims(now: DateTime<Utc>) -> AccessClaims {
        AccessClaims {
            user_id: UserId::new(),
            issued_at: now,
            expires_at: now + Duration::minutes(15),
            jti: "jti-1".into(),
            mfa: false,
            impersonation: None,
            sso_tenant: None,
        }
    }

    /// Re-assembles a token with another header and/or payload, keeping the signature.
    fn forge(
        token: &str,
        header: Option<serde_json::Value>,
        payload: Option<serde_json::Value>,
    ) -> String {
        let parts: Vec<&str> = token.split('.').collect();
        let enc = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
        format!(
            "{}.{}.{}",
            header.map(enc).unwrap_or_else(|| parts[0].to_owned()),
            payload.map(enc).unwrap_or_else(|| parts[1].to_owned()),
            parts[2]
        )
    }

    #[test]
    fn signs_and_verifies() {
        let t = tokens();
        let now = Utc::now();
        let c = claims(now);
        let family = FamilyId::new();
        let token = t.sign_token(&c, family).unwrap();
        let (back, fam) = t.verify_token(&token, now).unwrap();
        assert_eq!(back.user_id, c.user_id);
        assert_eq!(back.jti, "jti-1");
        assert_eq!(fam, family);
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["kid"], t.jwks().keys[0].kid);
    }

    #[test]
    fn rejects_expired_forged_and_foreign_tokens() {
        let t = tokens();
        let now = Utc::now();
        let token = t.sign_token(&claims(now), FamilyId::new()).unwrap();
        assert!(
            t.verify_token(&token, now + Duration::minutes(15)).is_err(),
            "expired"
        );
        assert!(tokens().verify_token(&token, now).is_err(), "another key");
        let none = forge(
            &token,
            Some(serde_json::json!({"alg": "none", "typ": "JWT"})),
            None,
        );
        assert!(t.verify_token(&none, now).is_err(), "alg none");
        let none_unsigned = format!("{}.", none.rsplit_once('.').unwrap().0);
        assert!(
            t.verify_token(&none_unsigned, now).is_err(),
            "alg none without signature"
        );
        let hs = forge(
            &token,
            Some(serde_json::json!({"alg": "HS256", "typ": "JWT"})),
            None,
        );
        assert!(t.verify_token(&hs, now).is_err(), "another algorithm");
        let payload = serde_json::json!({"sub": UserId::new().to_string(), "iat": 0, "exp": 4_000_000_000_i64,
            "jti": "x", "iss": "https://tenantry.test", "sid": uuid::Uuid::now_v7().to_string()});
        assert!(
            t.verify_token(&forge(&token, None, Some(payload)), now)
                .is_err(),
            "bad signature"
        );
        assert!(t.verify_token("not.a.token", now).is_err());
        let other_issuer =
            JwtTokens::new(&SigningKeyMaterial::generate(), "https://elsewhere.test").unwrap();
        let foreign = other_issuer
            .sign_token(&claims(now), FamilyId::new())
            .unwrap();
        assert!(
            t.verify_token(&foreign, now).is_err(),
            "another issuer and key"
        );
    }

    #[test]
    fn jwks_publishes_the_public_key_only() {
        let key = SigningKeyMaterial::generate();
        let t = JwtTokens::new(&key, "iss").unwrap();
        let jwks = serde_json::to_value(t.jwks()).unwrap();
        assert_eq!(jwks["keys"][0]["kty"], "OKP");
        assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
        assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
        assert_eq!(jwks["keys"][0]["use"], "sig");
        assert_eq!(jwks["keys"][0]["x"], key.public_x());
        assert!(jwks["keys"][0].get("d").is_none(), "no private part");
        // A verifier built from the JWKS alone accepts our tokens.
        let x = jwks["keys"][0]["x"].as_str().unwrap();
        let decoding = DecodingKey::from_ed_components(x).unwrap();
        let now = Utc::now();
        let token = t.sign_token(&claims(now), FamilyId::new()).unwrap();
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_issuer(&["iss"]);
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &v).is_ok());
    }

    #[test]
    fn a_signed_statement_verifies_with_the_published_key_and_is_no_access_token() {
        use tenantry_kernel::StatementSigner as _;
        let key = SigningKeyMaterial::generate();
        let t = JwtTokens::new(&key, "https://tenantry.test").unwrap();
        let statement = t
            .sign_statement("purge+jwt", r#"{"sub":"tenant","jti":"p1","iat":1}"#)
            .unwrap();
        let header = jsonwebtoken::decode_header(&statement).unwrap();
        assert_eq!(header.typ.as_deref(), Some("purge+jwt"));
        assert_eq!(header.kid.as_deref(), Some(key.kid().as_str()));
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_issuer(&["https://tenantry.test"]);
        v.set_required_spec_claims(&["iss", "sub"]);
        v.validate_exp = false;
        let decoding = DecodingKey::from_ed_components(&key.public_x()).unwrap();
        let data = jsonwebtoken::decode::<serde_json::Value>(&statement, &decoding, &v).unwrap();
        assert_eq!(data.claims["sub"], "tenant");
        assert_eq!(data.claims["iss"], "https://tenantry.test");
        // No expiry, no session: never an access token.
        assert!(t.verify_token(&statement, Utc::now()).is_err());
        assert!(
            t.sign_statement("x", "[1]").is_err(),
            "claims are an object"
        );
    }
}
