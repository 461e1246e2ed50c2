//! The identity ports against real databases (the crypto is faked: what is tested here is
//! the store's part of each rule). Every test runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use tenantry_kernel::ChangeCounters;
use tenantry_kernel::Origin;

use chrono::{Duration, Utc};
use tenantry_identity::testing::FakeCrypto;
use tenantry_identity::*;
use tenantry_kernel::{Clock, Email, ManualClock};
use tenantry_store::Db;
use tenantry_store::backend_tests;

const PASSWORD: &str = "correct horse battery";

/// The service over `t`, sealing personal data (the security log's) as the app does.
fn service(t: &tenantry_store::testing::TestDb) -> (AuthService<Db, FakeCrypto>, Arc<ManualClock>) {
    t.seal_personal_data();
    let db = t.db();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let svc = AuthService::new(
        db.clone(),
        FakeCrypto::default(),
        clock.clone(),
        AuthPolicy::default(),
    );
    (svc, clock)
}

async fn user(svc: &AuthService<Db, FakeCrypto>, email: &str) -> User {
    let email = Email::parse(email).unwrap();
    let password = NewPassword::parse(PASSWORD, &email).unwrap();
    svc.create_user(email, DisplayName::parse("Ann Lee").unwrap(), &password)
        .await
        .unwrap()
}

backend_tests! {
    async fn users_round_trip_and_e_mails_are_unique(t: &TestDb) {
        let (svc, _) = service(t);
        let u = user(&svc, "Ann.Lee@Example.com").await;
        let (found, hash) = t.db().credentials(&Email::parse("ann.lee@EXAMPLE.com").unwrap()).await.unwrap().unwrap();
        assert_eq!(found, u);
        assert_eq!(hash.0, format!("fake:{PASSWORD}"));
        assert_eq!(t.db().user_by_id(u.id).await.unwrap().unwrap().email.as_str(), "Ann.Lee@example.com");
        let email = Email::parse("ANN.LEE@example.com").unwrap();
        let password = NewPassword::parse(PASSWORD, &email).unwrap();
        let err = svc.create_user(email, DisplayName::parse("x").unwrap(), &password).await.unwrap_err();
        assert!(matches!(err, CreateUserError::EmailTaken), "{err:?}");
        let renamed = svc.rename(u.id, &DisplayName::parse("Ann B. Lee").unwrap()).await.unwrap();
        assert_eq!(t.db().user_by_id(u.id).await.unwrap().unwrap(), renamed);
    }

    async fn login_records_the_time_and_lockout_is_persisted(t: &TestDb) {
        let (svc, clock) = service(t);
        let u = user(&svc, "ann@example.com").await;
        svc.login("ann@example.com", PASSWORD, &from("10.1.1.1")).await.unwrap();
        assert_eq!(t.db().user_by_id(u.id).await.unwrap().unwrap().last_login_at, Some(clock.now()));
        for _ in 0..5 {
            let e = svc.login("ann@example.com", "wrong password!", &from("10.1.1.1")).await.unwrap_err();
            assert!(matches!(e, LoginError::InvalidCredentials));
            clock.advance(Duration::seconds(1));
        }
        match svc.login("ann@example.com", PASSWORD, &from("10.1.1.1")).await {
            Err(LoginError::Locked { retry_after_secs }) => assert_eq!(retry_after_secs, 15 * 60 - 1),
            other => panic!("expected a lock, got {other:?}"),
        }
        clock.advance(Duration::minutes(15));
        svc.login("ann@example.com", PASSWORD, &from("10.1.1.1")).await.unwrap();
        assert_eq!(t.db().account_failures("ann@example.com", clock.now() - Duration::hours(1)).await.unwrap().count, 0);
    }

    async fn a_burst_of_guesses_gets_no_more_tries_than_a_sequence(t: &TestDb) {
        let (svc, _) = service(t);
        user(&svc, "ann@example.com").await;
        let guesses: Vec<_> = (0..12)
            .map(|i| {
                let svc = svc.clone();
                tokio::spawn(async move { svc.login("ann@example.com", &format!("wrong password {i}"), &Origin::default()).await })
            })
            .collect();
        let mut checked = 0;
        for g in guesses {
            match g.await.unwrap() {
                Err(LoginError::InvalidCredentials) => checked += 1,
                Err(LoginError::Locked { .. }) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(checked <= 5, "{checked} guesses were checked; the limit is 5");
        assert!(matches!(svc.login("ann@example.com", PASSWORD, &Origin::default()).await, Err(LoginError::Locked { .. })));
    }

    async fn address_limit_counts_every_account(t: &TestDb) {
        let (svc, clock) = service(t);
        user(&svc, "ann@example.com").await;
        for i in 0..50 {
            let _ = svc.login(&format!("u{i}@example.com"), "wrong password!", &from("203.0.113.7")).await;
        }
        let f = t.db().address_failures("203.0.113.7", clock.now() - Duration::minutes(15)).await.unwrap();
        assert_eq!(f.count, 50);
        assert!(matches!(
            svc.login("ann@example.com", PASSWORD, &from("203.0.113.7")).await,
            Err(LoginError::TooManyAttempts { .. })
        ));
    }

    async fn refresh_rotation_and_reuse_detection(t: &TestDb) {
        let (svc, clock) = service(t);
        user(&svc, "ann@example.com").await;
        let s1 = svc.login("ann@example.com", PASSWORD, &Origin::default()).await.unwrap();
        clock.advance(Duration::minutes(1));
        let s2 = svc.refresh(&s1.refresh_token, &Origin::default()).await.unwrap();
        let s3 = svc.refresh(&s2.refresh_token, &Origin::default()).await.unwrap();
        assert!(matches!(svc.refresh(&s1.refresh_token, &Origin::default()).await, Err(RefreshError::InvalidToken)), "reuse");
        assert!(matches!(svc.refresh(&s3.refresh_token, &Origin::default()).await, Err(RefreshError::InvalidToken)), "family revoked");
        // Another login is another family, untouched.
        let other = svc.login("ann@example.com", PASSWORD, &Origin::default()).await.unwrap();
        svc.refresh(&other.refresh_token, &Origin::default()).await.unwrap();
    }

    async fn concurrent_refreshes_with_one_token_are_a_reuse(t: &TestDb) {
        let (svc, _) = service(t);
        user(&svc, "ann@example.com").await;
        let s = svc.login("ann@example.com", PASSWORD, &Origin::default()).await.unwrap();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (svc, token) = (svc.clone(), s.refresh_token.clone());
                tokio::spawn(async move { svc.refresh(&token, &Origin::default()).await })
            })
            .collect();
        let mut winners = vec![];
        for task in tasks {
            if let Ok(session) = task.await.unwrap() {
                winners.push(session);
            }
        }
        assert_eq!(winners.len(), 1, "exactly one refresh wins with one token");
        for w in winners {
            // The losers presented a spent token: the winner's new token is revoked too.
            assert!(matches!(svc.refresh(&w.refresh_token, &Origin::default()).await, Err(RefreshError::InvalidToken)));
        }
    }

    async fn expiry_logout_and_password_change(t: &TestDb) {
        let (svc, clock) = service(t);
        let u = user(&svc, "ann@example.com").await;
        let s = svc.login("ann@example.com", PASSWORD, &Origin::default()).await.unwrap();
        svc.logout(&s.refresh_token, &Origin::default()).await.unwrap();
        assert!(svc.refresh(&s.refresh_token, &Origin::default()).await.is_err(), "logged out");

        let expiring = svc.login("ann@example.com", PASSWORD, &Origin::default()).await.unwrap();
        let here = svc.login("ann@example.com", PASSWORD, &Origin::default()).await.unwrap();
        let elsewhere = svc.login("ann@example.com", PASSWORD, &Origin::default()).await.unwrap();
        let (_, family) = svc.authenticate(&here.access_token).unwrap();
        svc.change_password(u.id, family, PASSWORD, "a brand new passphrase", &Origin::default()).await.unwrap();
        let here2 = svc.refresh(&here.refresh_token, &Origin::default()).await.unwrap();
        assert!(svc.refresh(&elsewhere.refresh_token, &Origin::default()).await.is_err(), "other sessions end");
        assert!(svc.login("ann@example.com", PASSWORD, &Origin::default()).await.is_err());
        svc.login("ann@example.com", "a brand new passphrase", &Origin::default()).await.unwrap();

        clock.advance(Duration::days(30));
        assert!(svc.refresh(&here2.refresh_token, &Origin::default()).await.is_err(), "expired after 30 days");
        assert!(svc.refresh(&expiring.refresh_token, &Origin::default()).await.is_err());
    }

    async fn disabled_users_are_refused(t: &TestDb) {
        let (svc, clock) = service(t);
        let mut u = User::new(Email::parse("off@example.com").unwrap(), DisplayName::parse("Off").unwrap(), clock.now());
        u.status = UserStatus::Disabled;
        t.db().create_user(&u, &PasswordHash(format!("fake:{PASSWORD}"))).await.unwrap();
        assert!(matches!(svc.login("off@example.com", PASSWORD, &Origin::default()).await, Err(LoginError::InvalidCredentials)));
    }

    async fn revocations_are_read_by_counter_value_whatever_their_time(t: &TestDb) {
        let (svc, clock) = service(t);
        user(&svc, "ann@example.com").await;
        let a = svc.login("ann@example.com", PASSWORD, &Origin::default()).await.unwrap();
        let b = svc.login("ann@example.com", PASSWORD, &Origin::default()).await.unwrap();
        let (_, family_a) = svc.authenticate(&a.access_token).unwrap();
        let before = t.db().change_versions().await.unwrap().access;
        // A revocation stamped long before it commits (a slow transaction, a lagging clock).
        let digest = FakeCrypto::default().digest(&a.refresh_token);
        let stamped = clock.now() - Duration::hours(1);
        let ended = t.db().revoke_family_of(&digest, stamped).await.unwrap();
        assert_eq!(ended.map(|(_, f)| f), Some(family_a));
        let after = t.db().change_versions().await.unwrap().access;
        assert_eq!(after, before + 1, "the counter moved once");
        let read = t.db().revoked_sessions(RevokedSince::Version(before)).await.unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].0, family_a, "found by the counter, not by its time");
        assert!((read[0].1 - stamped).num_milliseconds().abs() < 1, "with its time");
        assert!(t.db().revoked_sessions(RevokedSince::Version(after)).await.unwrap().is_empty());
        // Ending an ended session again moves nothing (no cluster-wide cache flush for free).
        t.db().revoke_family_of(&digest, clock.now()).await.unwrap();
        assert_eq!(t.db().change_versions().await.unwrap().access, after);
        // A password change names the sessions it ended, and stamps them alike.
        let (_, family_b) = svc.authenticate(&b.access_token).unwrap();
        let c = svc.login("ann@example.com", PASSWORD, &Origin::default()).await.unwrap();
        let (_, family_c) = svc.authenticate(&c.access_token).unwrap();
        let ended = t.db().set_password(user_id(&svc, &c).await, &PasswordHash("fake:x".into()), Some(family_c), clock.now()).await.unwrap();
        assert_eq!(ended, vec![family_b]);
        let read = t.db().revoked_sessions(RevokedSince::Version(after)).await.unwrap();
        assert_eq!(read.iter().map(|(f, _)| *f).collect::<Vec<_>>(), vec![family_b]);
    }

    async fn the_first_signing_key_stored_wins(t: &TestDb) {
        let now = Utc::now();
        let first = t.db().signing_key_or_insert("kid-a", "pem-a", now).await.unwrap();
        assert_eq!(first, ("kid-a".to_owned(), "pem-a".to_owned()));
        let second = t.db().signing_key_or_insert("kid-b", "pem-b", now).await.unwrap();
        assert_eq!(second, first);
    }
}

async fn user_id(svc: &AuthService<Db, FakeCrypto>, s: &Session) -> tenantry_kernel::UserId {
    svc.authenticate(&s.access_token).unwrap().0.user_id
}

fn from(ip: &str) -> tenantry_kernel::Origin {
    tenantry_kernel::Origin {
        ip: Some(ip.to_owned()),
        ..tenantry_kernel::Origin::default()
    }
}
