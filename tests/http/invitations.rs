//! Invitations end to end: the e-mail goes through a real SMTP server (a sink the test starts)
//! and the link in it is what the invitee uses.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{Options, SmtpSink, TestApp, problem};

const PASSWORD: &str = "correct horse battery";

/// Like `app_tests!`, with an SMTP sink the app sends to.
macro_rules! mail_tests {
    ($(async fn $name:ident($app:ident, $sink:ident) $body:block)*) => {$(
        mod $name {
            use super::*;

            async fn body($app: &TestApp, $sink: &SmtpSink) $body

            async fn start(db: tenantry_store::testing::TestDb) -> (TestApp, SmtpSink) {
                let sink = SmtpSink::start().await;
                let options = Options { smtp_url: Some(sink.url.clone()), ..Options::default() };
                (TestApp::start(db, options).await, sink)
            }

            #[tokio::test]
            async fn sqlite() {
                let (app, sink) = start(tenantry_store::testing::TestDb::sqlite().await).await;
                body(&app, &sink).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(db) = tenantry_store::testing::TestDb::postgres().await {
                    let (app, sink) = start(db).await;
                    body(&app, &sink).await;
                }
            }
        }
    )*};
}

fn token_of(link_mail: &tenantry_tests::Received) -> String {
    let text = link_mail.text();
    let start = text
        .find("https://app.example.test/accept-invitation?token=")
        .expect("accept link in the mail");
    text[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .rsplit_once("token=")
        .unwrap()
        .1
        .to_owned()
}

/// The tenant's invitations, as its owner lists them.
async fn invitations(app: &TestApp, owner: &str) -> Value {
    let res = app
        .get("/api/v1/invitations")
        .header("X-Tenant-ID", "acme")
        .bearer_auth(owner)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["items"].take()
}

async fn invite(app: &TestApp, owner: &str, email: &str, role: &str) -> reqwest::Response {
    app.request(Method::POST, "/api/v1/invitations")
        .header("X-Tenant-ID", "acme")
        .bearer_auth(owner)
        .json(&json!({"email": email, "role": role}))
        .send()
        .await
        .unwrap()
}

mail_tests! {
    // Bulk provisioning from the seeds' CSV format: every row error listed and nothing
    // written, then all tenants at once, each on its plan with the file's quotas, each owner
    // invited by the platform and able to accept.
    async fn operators_provision_tenants_from_csv(app, sink) {
        let bulk = |body: &str| app.operator(Method::POST, "/api/v1/platform/tenants/bulk").header("Content-Type", "text/csv").body(body.to_owned()).send();
        let count = || async {
            let list: Value = app.operator(Method::GET, "/api/v1/platform/tenants?limit=100").send().await.unwrap().json().await.unwrap();
            list["items"].as_array().unwrap().len()
        };
        let bad = "name,subdomain,plan_type,contact_email,max_assets,max_users\n\
                   \"Acme Corp\",acme,professional,admin@acme.com,500,50\n\
                   ,Not A Slug,gold,nobody,-1,ten\n\
                   \"Acme Again\",acme,basic,admin@acme2.com,,\n";
        let p = problem(bulk(bad).await.unwrap(), 422, "validation_failed").await;
        let errors: Vec<(u64, String)> = p["errors"].as_array().unwrap().iter().map(|e| (e["row"].as_u64().unwrap(), e["field"].as_str().unwrap().to_owned())).collect();
        for expected in [(3, "name"), (3, "subdomain"), (3, "plan_type"), (3, "contact_email"), (3, "max_assets"), (3, "max_users"), (4, "subdomain")] {
            assert!(errors.contains(&(expected.0, expected.1.to_owned())), "{expected:?} in {p}");
        }
        assert_eq!(errors.len(), 7, "{p}");
        let p = problem(bulk("name,slug\nA,a\n").await.unwrap(), 422, "validation_failed").await;
        assert_eq!(p["errors"][0]["row"], 1, "{p}");
        problem(app.operator(Method::POST, "/api/v1/platform/tenants/bulk").header("Content-Type", "application/json").body("{}").send().await.unwrap(), 415, "unsupported_media_type").await;
        assert_eq!(count().await, 0, "nothing written");

        let good = "name,subdomain,plan_type,contact_email,max_assets,max_users\n\
                    \"Acme Corp\",acme,professional,admin@acme.com,500,50\n\
                    \"Beta Inc\",beta,basic,admin@beta.com,100,10\n";
        let res = bulk(good).await.unwrap();
        assert_eq!(res.status(), 201);
        let created: Value = res.json().await.unwrap();
        let items = created["items"].as_array().unwrap();
        assert_eq!((items[0]["slug"].as_str(), items[0]["plan"].as_str()), (Some("acme"), Some("professional")));
        assert_eq!((items[1]["slug"].as_str(), items[1]["plan"].as_str()), (Some("beta"), Some("starter")));
        assert_eq!(count().await, 2);
        // Once more: both subdomains are taken now.
        let p = problem(bulk(good).await.unwrap(), 422, "validation_failed").await;
        assert_eq!(p["errors"].as_array().unwrap().len(), 2, "{p}");

        // The platform invites each owner; the link works.
        let mails = sink.wait_for(2).await;
        let acme_mail = mails.iter().find(|m| m.to == ["admin@acme.com"]).unwrap();
        assert!(acme_mail.data.contains("Subject: You are invited to Acme Corp"), "{}", acme_mail.data);
        let token = token_of(acme_mail);
        let preview: Value = app.get(&format!("/api/v1/invitations/lookup/{token}")).send().await.unwrap().json().await.unwrap();
        assert_eq!((preview["inviter_name"].clone(), preview["role"].clone()), (Value::Null, json!("owner")), "{preview}");
        let res = app.request(Method::POST, &format!("/api/v1/invitations/accept/{token}")).json(&json!({"display_name": "Ada", "password": PASSWORD})).send().await.unwrap();
        assert_eq!(res.status(), 201);
        let accepted: Value = res.json().await.unwrap();
        let owner = accepted["session"]["access_token"].as_str().unwrap().to_owned();
        let get = |path: &'static str| app.get(path).header("X-Tenant-ID", "acme").bearer_auth(&owner).send();
        let quotas: Value = get("/api/v1/quotas").await.unwrap().json().await.unwrap();
        let quota = |r: &str| quotas["items"].as_array().unwrap().iter().find(|q| q["resource"] == r).cloned().unwrap();
        assert_eq!((quota("products")["limit"].clone(), quota("products")["overridden"].clone()), (json!(500), json!(true)), "{quotas}");
        assert_eq!(quota("members")["limit"], 50, "{quotas}");
        let subscription: Value = get("/api/v1/billing/subscription").await.unwrap().json().await.unwrap();
        assert_eq!(subscription["plan"], "professional");
        let roles: Value = get("/api/v1/roles").await.unwrap().json().await.unwrap();
        assert_eq!(roles["items"].as_array().unwrap().len(), 4);
        let trail: Value = get("/api/v1/audit-logs/verify").await.unwrap().json().await.unwrap();
        assert_eq!(trail["ok"], true, "{trail}");
    }

    async fn a_closed_tenant_s_invitations_wait_until_it_opens(app, sink) {
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let owner = a["session"]["access_token"].as_str().unwrap().to_owned();
        assert_eq!(invite(app, &owner, "bob@example.test", "member").await.status(), 201);
        assert_eq!(invite(app, &owner, "cy@example.test", "member").await.status(), 201);
        let mails = sink.wait_for(2).await;
        let bob_token = token_of(mails.iter().find(|m| m.to == ["bob@example.test"]).unwrap());
        let cy_token = token_of(mails.iter().find(|m| m.to == ["cy@example.test"]).unwrap());
        app.create_user("cy@example.test", PASSWORD).await;
        let cy_session = app.login("cy@example.test", PASSWORD).await;
        let cy_bearer = cy_session["access_token"].as_str().unwrap().to_owned();
        let lookup = |token: &str| app.get(&format!("/api/v1/invitations/lookup/{token}")).send();
        let sign_up = |token: &str| app.request(Method::POST, &format!("/api/v1/invitations/accept/{token}")).json(&json!({"display_name": "Bob", "password": PASSWORD})).send();
        let accept_as_cy = |token: &str| app.request(Method::POST, &format!("/api/v1/invitations/accept/{token}")).bearer_auth(&cy_bearer).send();

        for (path, closed) in [("suspend", (403, "tenant_inactive")), ("maintenance", (503, "tenant_maintenance"))] {
            let res = if path == "suspend" {
                app.operator(Method::POST, "/api/v1/platform/tenants/acme/suspend").send().await.unwrap()
            } else {
                app.operator(Method::POST, "/api/v1/platform/tenants/acme/resume").send().await.unwrap();
                app.operator(Method::PUT, "/api/v1/platform/tenants/acme/maintenance").json(&json!({"enabled": true})).send().await.unwrap()
            };
            assert!(res.status().is_success(), "{path}");
            let (status, code) = closed;
            let body = problem(lookup(&bob_token).await.unwrap(), status, code).await;
            assert!(!body.to_string().contains("acme Inc"), "the tenant is not named: {body}");
            problem(sign_up(&bob_token).await.unwrap(), status, code).await;
            problem(accept_as_cy(&cy_token).await.unwrap(), status, code).await;
            // Nothing was written: no account for Bob, no membership for Cy.
            let res = app.request(Method::POST, "/api/v1/auth/login").json(&json!({"email": "bob@example.test", "password": PASSWORD})).send().await.unwrap();
            problem(res, 401, "invalid_credentials").await;
            let mine: Value = app.get("/api/v1/auth/tenants").bearer_auth(&cy_bearer).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
            assert_eq!(mine.as_array().unwrap().len(), 0, "{path}: {mine}");
        }

        // Open again: both invitations still work.
        app.operator(Method::PUT, "/api/v1/platform/tenants/acme/maintenance").json(&json!({"enabled": false})).send().await.unwrap();
        assert_eq!(lookup(&bob_token).await.unwrap().status(), 200);
        assert_eq!(sign_up(&bob_token).await.unwrap().status(), 201);
        assert_eq!(accept_as_cy(&cy_token).await.unwrap().status(), 200);
    }

    async fn invite_lookup_and_sign_up(app, sink) {
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let owner = a["session"]["access_token"].as_str().unwrap().to_owned();
        let res = invite(app, &owner, "Bob@Example.test", "member").await;
        assert_eq!(res.status(), 201);
        let inv: Value = res.json().await.unwrap();
        // Answered before any mail goes out: the e-mail is a job.
        assert_eq!(inv["delivery"], "pending");

        let mails = sink.wait_for(1).await;
        assert_eq!(mails[0].to, ["Bob@example.test"]);
        // The job records the delivery once the server took the mail.
        let started = std::time::Instant::now();
        loop {
            let list = invitations(app, &owner).await;
            if list[0]["delivery"] == "sent" {
                assert_eq!(list[0]["id"], inv["id"]);
                break;
            }
            assert_eq!(list[0]["delivery"], "pending");
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "delivery not recorded");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(mails[0].data.contains("Subject: Owner invited you to acme Inc"), "{}", mails[0].data);
        let token = token_of(&mails[0]);
        assert_eq!(token.len(), 43, "256 bits, base64url");

        let preview: Value = app.get(&format!("/api/v1/invitations/lookup/{token}")).send().await.unwrap().json().await.unwrap();
        assert_eq!(preview, json!({
            "tenant_name": "acme Inc", "inviter_name": "Owner", "role": "member", "expires_at": inv["expires_at"],
        }));

        let pending = invitations(app, &owner).await;
        assert_eq!(pending.as_array().unwrap().len(), 1);

        // Signing up while accepting: a weak password is refused and nothing is spent.
        let accept = |body: Value| app.request(Method::POST, &format!("/api/v1/invitations/accept/{token}")).json(&body).send();
        let res = accept(json!({"display_name": "Bob", "password": "password123"})).await.unwrap();
        problem(res, 422, "validation_failed").await;
        let res = accept(json!({"display_name": "Bob", "password": PASSWORD})).await.unwrap();
        assert_eq!(res.status(), 201);
        let accepted: Value = res.json().await.unwrap();
        let bob = accepted["session"]["access_token"].as_str().unwrap().to_owned();

        // Bob is a member of acme only, with the member role.
        let mine: Value = app.get("/api/v1/auth/tenants").bearer_auth(&bob).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        assert_eq!(mine.as_array().unwrap().len(), 1);
        assert_eq!(mine[0]["slug"], "acme");
        assert_eq!(mine[0]["role"], "member");
        let members: Value = app.request(Method::GET, "/api/v1/members").header("X-Tenant-ID", "acme").bearer_auth(&bob).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        assert_eq!(members.as_array().unwrap().len(), 2);

        // The token is spent.
        problem(accept(json!({"display_name": "Eve", "password": PASSWORD})).await.unwrap(), 410, "invitation_gone").await;
        problem(app.get(&format!("/api/v1/invitations/lookup/{token}")).send().await.unwrap(), 410, "invitation_gone").await;
    }

    async fn signed_in_users_accept_with_their_own_e_mail(app, sink) {
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let owner = a["session"]["access_token"].as_str().unwrap().to_owned();
        app.onboard("beta", "bob@beta.test", PASSWORD).await;
        let eve = app.create_user("eve@evil.test", PASSWORD).await;
        let _ = eve;
        invite(app, &owner, "bob@beta.test", "viewer").await;
        let token = token_of(&sink.wait_for(1).await[0]);
        let accept = |bearer: String| app.request(Method::POST, &format!("/api/v1/invitations/accept/{token}")).bearer_auth(bearer).send();

        let eve_token = app.login("eve@evil.test", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
        problem(accept(eve_token).await.unwrap(), 403, "invitation_email_mismatch").await;
        problem(accept("garbage".into()).await.unwrap(), 401, "unauthorized").await;
        // Signing up with an e-mail that has an account is refused: sign in instead.
        let res = app.request(Method::POST, &format!("/api/v1/invitations/accept/{token}")).json(&json!({"display_name": "B", "password": PASSWORD})).send().await.unwrap();
        problem(res, 409, "email_taken").await;

        let bob = app.login("bob@beta.test", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
        let res = accept(bob.clone()).await.unwrap();
        assert_eq!(res.status(), 200);
        let mine: Value = app.get("/api/v1/auth/tenants").bearer_auth(&bob).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        let slugs: Vec<&str> = mine.as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect();
        assert_eq!(slugs, ["acme", "beta"]);

        // Invited again though already a member.
        invite(app, &owner, "bob@beta.test", "viewer").await;
        let token2 = token_of(&sink.wait_for(2).await[1]);
        let res = app.request(Method::POST, &format!("/api/v1/invitations/accept/{token2}")).bearer_auth(&bob).send().await.unwrap();
        problem(res, 409, "already_member").await;
    }

    async fn resend_and_revoke(app, sink) {
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let owner = a["session"]["access_token"].as_str().unwrap().to_owned();
        let inv: Value = invite(app, &owner, "cat@example.test", "viewer").await.json().await.unwrap();
        let first = token_of(&sink.wait_for(1).await[0]);
        let id = inv["id"].as_str().unwrap();
        let res = app.request(Method::POST, &format!("/api/v1/invitations/{id}/resend")).header("X-Tenant-ID", "acme").bearer_auth(&owner).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let second = token_of(&sink.wait_for(2).await[1]);
        assert_ne!(first, second);
        problem(app.get(&format!("/api/v1/invitations/lookup/{first}")).send().await.unwrap(), 410, "invitation_gone").await;
        assert_eq!(app.get(&format!("/api/v1/invitations/lookup/{second}")).send().await.unwrap().status(), 200);

        let res = app.request(Method::DELETE, &format!("/api/v1/invitations/{id}")).header("X-Tenant-ID", "acme").bearer_auth(&owner).send().await.unwrap();
        assert_eq!(res.status(), 204);
        problem(app.get(&format!("/api/v1/invitations/lookup/{second}")).send().await.unwrap(), 410, "invitation_gone").await;
        let res = app.request(Method::DELETE, &format!("/api/v1/invitations/{id}")).header("X-Tenant-ID", "acme").bearer_auth(&owner).send().await.unwrap();
        problem(res, 404, "invitation_not_found").await;

        // Unknown roles and e-mails are field errors; another tenant's invitation is 404.
        let res = invite(app, &owner, "dan@example.test", "superuser").await;
        assert_eq!(problem(res, 422, "validation_failed").await["errors"][0]["field"], "role");
        let res = invite(app, &owner, "not-an-email", "viewer").await;
        assert_eq!(problem(res, 422, "validation_failed").await["errors"][0]["field"], "email");
        let b = app.onboard("beta", "bob@beta.test", PASSWORD).await;
        let bob = b["session"]["access_token"].as_str().unwrap().to_owned();
        let inv: Value = invite(app, &owner, "eve@example.test", "viewer").await.json().await.unwrap();
        let res = app.request(Method::DELETE, &format!("/api/v1/invitations/{}", inv["id"].as_str().unwrap())).header("X-Tenant-ID", "beta").bearer_auth(&bob).send().await.unwrap();
        problem(res, 404, "invitation_not_found").await;
        problem(app.get("/api/v1/invitations/lookup/not-a-token").send().await.unwrap(), 410, "invitation_gone").await;
    }
}

mail_tests! {
    // The whole path a SaaS team's users take: sign up, log in, invite (the e-mail really
    // goes out), accept from the link, see only your tenant, use an API key, switch tenants.
    async fn full_flow(app, sink) {
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        app.onboard("beta", "bob@beta.test", PASSWORD).await;
        let ann = app.login("ann@acme.test", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
        assert_eq!(invite(app, &ann, "cyd@example.test", "member").await.status(), 201);
        let token = token_of(&sink.wait_for(1).await[0]);
        let res = app
            .request(Method::POST, &format!("/api/v1/invitations/accept/{token}"))
            .json(&json!({"display_name": "Cyd", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let cyd = app.login("cyd@example.test", PASSWORD).await["access_token"].as_str().unwrap().to_owned();

        // Cyd sees acme's members and nothing of beta.
        let members: Value = app.get_as_host("acme.localhost", "/api/v1/members").bearer_auth(&cyd).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        let emails: Vec<&str> = members.as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap()).collect();
        assert_eq!(emails, ["ann@acme.test", "cyd@example.test"]);
        problem(app.get_as_host("beta.localhost", "/api/v1/members").bearer_auth(&cyd).send().await.unwrap(), 403, "not_a_member").await;

        // Ann hands a machine an API key; it reads acme and nothing else.
        let key: Value = app
            .request(Method::POST, "/api/v1/api-keys")
            .header("X-Tenant-ID", "acme")
            .bearer_auth(&ann)
            .json(&json!({"name": "sync", "permissions": ["members:read"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let key = key["key"].as_str().unwrap();
        assert_eq!(app.get_as_host("acme.localhost", "/api/v1/members").header("X-API-Key", key).send().await.unwrap().status(), 200);
        problem(app.get_as_host("beta.localhost", "/api/v1/members").header("X-API-Key", key).send().await.unwrap(), 401, "unauthorized").await;

        // The switcher.
        let mine: Value = app.get("/api/v1/auth/tenants").bearer_auth(&cyd).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        assert_eq!(mine.as_array().unwrap().len(), 1);
        assert_eq!(mine[0]["id"], a["tenant"]["id"]);
        assert_eq!(mine[0]["role"], "member");
    }
}

/// The mail server is down when the invitation is made: the request is answered at once with
/// the delivery pending; when the server comes back on its address, exactly one e-mail
/// arrives and the invitation shows it sent.
async fn mail_server_down_then_back(db: tenantry_store::testing::TestDb) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = Options {
        smtp_url: Some(format!("smtp://127.0.0.1:{port}")),
        ..Options::default()
    };
    let app = TestApp::start(db, options).await;
    let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
    let owner = a["session"]["access_token"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    let res = invite(&app, &owner, "bob@example.test", "member").await;
    assert_eq!(res.status(), 201);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "answered without waiting for the mail server: {:?}",
        started.elapsed()
    );
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["delivery"], "pending");
    let delivery = || async {
        invitations(&app, &owner).await[0]["delivery"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // A few attempts fail meanwhile (the worker retries after 100 ms, doubling).
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(delivery().await, "pending", "still waiting for the server");

    let sink = SmtpSink::start_on(&format!("127.0.0.1:{port}")).await;
    let mails = sink.wait_for(1).await;
    assert_eq!(mails[0].to, ["bob@example.test"]);
    for _ in 0..100 {
        if delivery().await == "sent" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(delivery().await, "sent");
    // Long enough for any duplicate retry to have come through.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(sink.received().len(), 1, "exactly one e-mail");
    let token = token_of(&mails[0]);
    let res = app
        .get(&format!("/api/v1/invitations/lookup/{token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the link in the mail works");
}

mod mail_server_down {
    use super::*;

    #[tokio::test]
    async fn sqlite() {
        mail_server_down_then_back(tenantry_store::testing::TestDb::sqlite().await).await;
    }

    #[tokio::test]
    async fn postgres() {
        if let Some(db) = tenantry_store::testing::TestDb::postgres().await {
            mail_server_down_then_back(db).await;
        }
    }
}
