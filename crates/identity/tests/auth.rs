//! The identity use cases against the in-memory fakes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{Duration, Utc};
use futures_executor::block_on;
use tenantry_identity::testing::{FakeCrypto, InMemoryIdentity};
use tenantry_identity::*;
use tenantry_kernel::{Clock, Email, ManualClock, Origin};

struct Fixture {
    svc: AuthService<InMemoryIdentity, FakeCrypto>,
    repo: InMemoryIdentity,
    clock: Arc<ManualClock>,
}

const PASSWORD: &str = "correct horse battery";

fn fixture() -> Fixture {
    let repo = InMemoryIdentity::default();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let svc = AuthService::new(
        repo.clone(),
        FakeCrypto::default(),
        clock.clone(),
        AuthPolicy::default(),
    );
    Fixture { svc, repo, clock }
}

fn user(f: &Fixture, email: &str) -> User {
    let email = Email::parse(email).unwrap();
    let password = NewPassword::parse(PASSWORD, &email).unwrap();
    block_on(
        f.svc
            .create_user(email, DisplayName::parse("Ann").unwrap(), &password),
    )
    .unwrap()
}

#[test]
fn e_mails_are_unique_case_insensitively() {
    let f = fixture();
    user(&f, "ann@example.com");
    let email = Email::parse("ANN@Example.com").unwrap();
    let password = NewPassword::parse(PASSWORD, &email).unwrap();
    let err = block_on(
        f.svc
            .create_user(email, DisplayName::parse("Ann").unwrap(), &password),
    )
    .unwrap_err();
    assert!(matches!(err, CreateUserError::EmailTaken));
}

#[test]
fn login_opens_a_session() {
    let f = fixture();
    let u = user(&f, "ann@example.com");
    let s = block_on(f.svc.login("Ann@Example.com", PASSWORD, &from("10.0.0.1"))).unwrap();
    assert_eq!(s.user.id, u.id);
    assert_eq!(s.user.last_login_at, Some(f.clock.now()));
    assert_eq!(s.access_expires_at - f.clock.now(), Duration::minutes(15));
    assert_eq!(s.refresh_expires_at - f.clock.now(), Duration::days(30));
    let (claims, _) = f.svc.authenticate(&s.access_token).unwrap();
    assert_eq!(claims.user_id, u.id);
    f.clock.advance(Duration::minutes(16));
    assert_eq!(
        f.svc.authenticate(&s.access_token),
        Err(InvalidAccessToken),
        "expired"
    );
}

#[test]
fn unknown_e_mail_and_wrong_password_look_the_same() {
    let f = fixture();
    user(&f, "ann@example.com");
    let a = block_on(
        f.svc
            .login("nobody@example.com", PASSWORD, &Origin::default()),
    )
    .unwrap_err();
    let b = block_on(
        f.svc
            .login("ann@example.com", "wrong password!", &Origin::default()),
    )
    .unwrap_err();
    let c = block_on(f.svc.login("not an e-mail", PASSWORD, &Origin::default())).unwrap_err();
    for e in [a, b, c] {
        assert!(matches!(e, LoginError::InvalidCredentials), "{e:?}");
    }
}

#[test]
fn login_attempts_are_recorded_against_the_account_they_name() {
    use tenantry_audit::SecurityEventKind as Kind;
    let f = fixture();
    let ann = user(&f, "ann@example.com");
    let login = |email: &str, password: &str| {
        let _ = block_on(f.svc.login(email, password, &from("198.51.100.7")));
    };
    login("ann@example.com", "wrong password!");
    login("nobody@example.com", "wrong password!");
    login("not an address", "wrong password!");
    for _ in 0..4 {
        login("ann@example.com", "wrong password!");
    }
    login("ann@example.com", PASSWORD); // locked by now
    let events: Vec<_> = f
        .repo
        .security_events()
        .into_iter()
        .map(|e| (e.kind, e.user_id, e.email))
        .collect();
    let ann_email = || Some("ann@example.com".to_owned());
    let mut expected = vec![
        (Kind::LoginFailed, Some(ann.id), ann_email()),
        (
            Kind::LoginFailed,
            None,
            Some("nobody@example.com".to_owned()),
        ),
        (Kind::LoginFailed, None, None),
    ];
    expected.extend((0..4).map(|_| (Kind::LoginFailed, Some(ann.id), ann_email())));
    // Refused before the password was looked at, and still the account's.
    expected.push((Kind::LockedOut, Some(ann.id), ann_email()));
    assert_eq!(events, expected);
}

#[test]
fn five_failures_lock_the_account_for_fifteen_minutes() {
    let f = fixture();
    user(&f, "ann@example.com");
    for _ in 0..5 {
        assert!(matches!(
            block_on(
                f.svc
                    .login("ann@example.com", "wrong password!", &Origin::default())
            ),
            Err(LoginError::InvalidCredentials)
        ));
        f.clock.advance(Duration::seconds(10));
    }
    // Locked, even with the right password.
    match block_on(f.svc.login("ann@example.com", PASSWORD, &Origin::default())) {
        Err(LoginError::Locked { retry_after_secs }) => assert_eq!(retry_after_secs, 15 * 60 - 10),
        other => panic!("expected a lock, got {other:?}"),
    }
    f.clock.advance(Duration::minutes(15));
    block_on(f.svc.login("ann@example.com", PASSWORD, &Origin::default())).unwrap();
    // Success forgot the failures: four more do not lock.
    for _ in 0..4 {
        let _ = block_on(
            f.svc
                .login("ann@example.com", "wrong password!", &Origin::default()),
        );
    }
    block_on(f.svc.login("ann@example.com", PASSWORD, &Origin::default())).unwrap();
}

#[test]
fn unknown_accounts_lock_like_real_ones() {
    let f = fixture();
    for _ in 0..5 {
        let _ = block_on(
            f.svc
                .login("ghost@example.com", "wrong password!", &Origin::default()),
        );
    }
    assert!(matches!(
        block_on(f.svc.login("ghost@example.com", "x", &Origin::default())),
        Err(LoginError::Locked { .. })
    ));
}

#[test]
fn one_address_is_limited_across_accounts() {
    let f = fixture();
    user(&f, "ann@example.com");
    for i in 0..50 {
        let _ = block_on(f.svc.login(
            &format!("user{i}@example.com"),
            "wrong password!",
            &from("203.0.113.9"),
        ));
    }
    assert!(matches!(
        block_on(
            f.svc
                .login("ann@example.com", PASSWORD, &from("203.0.113.9"))
        ),
        Err(LoginError::TooManyAttempts { .. })
    ));
    block_on(
        f.svc
            .login("ann@example.com", PASSWORD, &from("198.51.100.1")),
    )
    .unwrap();
}

#[test]
fn disabled_users_cannot_log_in() {
    let f = fixture();
    let email = Email::parse("ann@example.com").unwrap();
    let mut disabled = User::new(email, DisplayName::parse("Ann").unwrap(), f.clock.now());
    disabled.status = UserStatus::Disabled;
    block_on(
        f.repo
            .create_user(&disabled, &PasswordHash(format!("fake:{PASSWORD}"))),
    )
    .unwrap();
    assert!(matches!(
        block_on(f.svc.login("ann@example.com", PASSWORD, &Origin::default())),
        Err(LoginError::InvalidCredentials)
    ));
}

#[test]
fn refresh_rotates_and_reuse_revokes_the_family() {
    let f = fixture();
    let u = user(&f, "ann@example.com");
    let s1 = block_on(f.svc.login("ann@example.com", PASSWORD, &Origin::default())).unwrap();
    let s2 = block_on(f.svc.refresh(&s1.refresh_token, &Origin::default())).unwrap();
    assert_ne!(s2.refresh_token, s1.refresh_token);
    assert_eq!(f.repo.live_tokens(u.id), 1);
    // The old token again: reuse. The whole family dies, the newer token included.
    assert!(matches!(
        block_on(f.svc.refresh(&s1.refresh_token, &Origin::default())),
        Err(RefreshError::InvalidToken)
    ));
    assert!(matches!(
        block_on(f.svc.refresh(&s2.refresh_token, &Origin::default())),
        Err(RefreshError::InvalidToken)
    ));
    assert_eq!(f.repo.live_tokens(u.id), 0);
}

#[test]
fn refresh_tokens_expire_and_logout_revokes() {
    let f = fixture();
    user(&f, "ann@example.com");
    let s = block_on(f.svc.login("ann@example.com", PASSWORD, &Origin::default())).unwrap();
    block_on(f.svc.logout(&s.refresh_token, &Origin::default())).unwrap();
    assert!(matches!(
        block_on(f.svc.refresh(&s.refresh_token, &Origin::default())),
        Err(RefreshError::InvalidToken)
    ));

    let s = block_on(f.svc.login("ann@example.com", PASSWORD, &Origin::default())).unwrap();
    f.clock.advance(Duration::days(30));
    assert!(matches!(
        block_on(f.svc.refresh(&s.refresh_token, &Origin::default())),
        Err(RefreshError::InvalidToken)
    ));
    assert!(matches!(
        block_on(
            f.svc
                .refresh(&RefreshSecret("never-issued".into()), &Origin::default())
        ),
        Err(RefreshError::InvalidToken)
    ));
}

#[test]
fn changing_the_password_ends_other_sessions() {
    let f = fixture();
    let u = user(&f, "ann@example.com");
    let here = block_on(f.svc.login("ann@example.com", PASSWORD, &Origin::default())).unwrap();
    let elsewhere = block_on(f.svc.login("ann@example.com", PASSWORD, &Origin::default())).unwrap();
    let (_, family) = f.svc.authenticate(&here.access_token).unwrap();

    assert!(matches!(
        block_on(f.svc.change_password(
            u.id,
            family,
            "not it at all",
            "a brand new passphrase",
            &Origin::default()
        )),
        Err(ChangePasswordError::WrongPassword)
    ));
    assert!(matches!(
        block_on(
            f.svc
                .change_password(u.id, family, PASSWORD, "password123", &Origin::default())
        ),
        Err(ChangePasswordError::Invalid(_))
    ));
    block_on(f.svc.change_password(
        u.id,
        family,
        PASSWORD,
        "a brand new passphrase",
        &Origin::default(),
    ))
    .unwrap();

    assert!(
        block_on(f.svc.refresh(&here.refresh_token, &Origin::default())).is_ok(),
        "this session goes on"
    );
    assert!(matches!(
        block_on(f.svc.refresh(&elsewhere.refresh_token, &Origin::default())),
        Err(RefreshError::InvalidToken)
    ));
    assert!(matches!(
        block_on(f.svc.login("ann@example.com", PASSWORD, &Origin::default())),
        Err(LoginError::InvalidCredentials)
    ));
    block_on(f.svc.login(
        "ann@example.com",
        "a brand new passphrase",
        &Origin::default(),
    ))
    .unwrap();
}

#[test]
fn profile() {
    let f = fixture();
    let u = user(&f, "ann@example.com");
    assert_eq!(
        block_on(f.svc.me(u.id)).unwrap().email.as_str(),
        "ann@example.com"
    );
    let renamed = block_on(f.svc.rename(u.id, &DisplayName::parse("Ann Lee").unwrap())).unwrap();
    assert_eq!(renamed.display_name.as_str(), "Ann Lee");
    assert!(matches!(
        block_on(f.svc.me(tenantry_kernel::UserId::new())),
        Err(UserError::NotFound)
    ));
}

fn from(ip: &str) -> Origin {
    Origin {
        ip: Some(ip.to_owned()),
        ..Origin::default()
    }
}
